"""Writes the tiny Qwen2, Qwen3 and Phi-3 golden models as llama.cpp GGUF files and checks that transformers reads them.

    HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/gguf_families.py [GOLDEN_DIR]

GOLDEN_DIR defaults to models/testdata/golden. For each case <case>/model (config.json + model.safetensors, written
by goldens_qwen.py and goldens_phi3.py) it writes <case>/model.gguf with the gguf package as llama.cpp's
convert_hf_to_gguf.py writes that architecture (--outtype f32):

- names: gguf.get_tensor_name_map(arch, layers), the converter's map_tensor_name, ".weight"/".bias" kept; no tensor
  is changed (the converter permutes query and key rows only for the "llama" architecture; Phi-3's fused qkv_proj and
  gate_up_proj are stored fused, as attn_qkv and ffn_up, gate rows first);
- qwen2 / qwen3 (Qwen2Model, Qwen3Model: TextModel's keys): block_count, context_length, embedding_length,
  feed_forward_length, attention.head_count, attention.head_count_kv, rope.freq_base,
  attention.layer_norm_rms_epsilon, and attention.key_length / value_length when config.json has head_dim;
- phi3 (Phi3MiniModel): context_length, rope.scaling.original_context_length, embedding_length, feed_forward_length,
  block_count, attention.head_count, attention.head_count_kv, attention.layer_norm_rms_epsilon, rope.dimension_count
  (head size x partial_rotary_factor), rope.freq_base, attention.sliding_window (0 for none); with longrope also
  rope.scaling.attn_factor (sqrt(1 + ln(max/orig) / ln(orig))) and the tensors rope_factors_long.weight and
  rope_factors_short.weight;
- a tokenizer of the kind the family ships, small enough for the 96-token models: qwen a byte-level BPE
  (tokenizer.ggml.model "gpt2", pre "qwen2", 3 control tokens, 72 byte-level symbols, 21 merges), phi3 a
  SentencePiece vocabulary ("llama": <unk>, <s>, </s>, pieces with scores and types, <|endoftext|> as padding).

Then transformers loads each file (AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)): its weights must equal
the folder's and its logits on the golden input ids the golden logits (1e-4). transformers' GGUF config mapping
drops some of these keys: the script checks the fields it maps against config.json, supplies the ones it drops (SUPPLIED)
from config.json, and prints them.
Each file's tokenizer, as AutoTokenizer builds it from the GGUF, encodes a few strings into <case>/gguf_tokens.json
for the Go tokenizer to match.

qwen3_tied has sliding layers (layer_types) and attention biases, which llama.cpp's qwen3 architecture has no keys or
tensors for: its file keeps the biases (the converter writes what the name map knows) and loses the windows, so it is
compared with the folder model with the windows off.
"""
import json
import math
import os
import sys

import gguf
import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "models", "testdata", "golden")
CASES = [("qwen2", "qwen2"), ("qwen3", "qwen3"), ("qwen3_tied", "qwen3"), ("phi3/base", "phi3"), ("phi3/longrope", "phi3")]
STRINGS = ["the cat sat on the mat", "Hello, World! 123", "in the end: were they there?"]


def qwen_tokenizer(w):
    """A byte-level BPE as Qwen's converter writes one (control tokens first, as the golden configs' ids 1 and 2)."""
    symbols = ["Ġ", "Ċ"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    symbols += [str(d) for d in range(10)] + list(".,!?'-:;")
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġ", "s"), ("r", "e"),
              ("a", "t"), ("e", "n"), ("Ġ", "w"), ("o", "u"), ("Ġ", "o"), ("i", "s"), ("Ġ", "b"), ("e", "s"), ("a", "n"),
              ("Ġ", "c"), ("Ġ", "f"), ("o", "r")]
    tokens = ["<|pad|>", "<|im_start|>", "<|endoftext|>"] + symbols + [a + b for a, b in merges]
    assert len(tokens) == 96 and len(set(tokens)) == 96
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL] * 3 + [gguf.TokenType.NORMAL] * 93)
    w.add_token_merges([f"{a} {b}" for a, b in merges])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_pad_token_id(0)
    w.add_add_bos_token(False)


def phi3_tokenizer(w):
    """A SentencePiece vocabulary as Phi3MiniModel.set_vocab writes one (ids as the golden config: bos 1, eos 2, pad 95)."""
    merged = ["▁t", "he", "▁the", "in", "er", "▁a", "on", "re", "at", "en", "▁s", "▁w", "ou", "is", "an", "or", "es",
              "▁o", "▁b", "▁c", "▁f", "ing", "▁in", "ed"]
    singles = ["▁"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    singles += [str(d) for d in range(10)] + list(".,!?'")
    tokens = ["<unk>", "<s>", "</s>"] + merged + singles + ["<|endoftext|>"]
    scores = [0.0, 0.0, 0.0] + [-float(i) for i in range(len(merged))] + [-100.0 - i for i in range(len(singles))] + [0.0]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.NORMAL] * (len(merged) + len(singles))
    types.append(gguf.TokenType.CONTROL)
    assert len(tokens) == 96 and len(set(tokens)) == 96
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_pad_token_id(95)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)


def rope_theta(cfg):
    return cfg.get("rope_theta") or cfg.get("rope_parameters", {}).get("rope_theta", 10000.0)


def qwen_metadata(w, cfg):
    """TextModel.set_gguf_parameters for Qwen2Model and Qwen3Model."""
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_rope_freq_base(rope_theta(cfg))
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    if "head_dim" in cfg:
        w.add_key_length(cfg["head_dim"])
        w.add_value_length(cfg["head_dim"])
    qwen_tokenizer(w)


def phi3_metadata(w, cfg):
    """Phi3MiniModel.set_gguf_parameters and generate_extra_tensors; returns the extra tensors."""
    n_embd, n_head = cfg["hidden_size"], cfg["num_attention_heads"]
    max_pos, orig = cfg["max_position_embeddings"], cfg["original_max_position_embeddings"]
    rope_dims = int(cfg.get("partial_rotary_factor", 1.0) * n_embd) // n_head
    w.add_context_length(max_pos)
    w.add_rope_scaling_orig_ctx_len(orig)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_head_count(n_head)
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_dimension_count(rope_dims)
    w.add_rope_freq_base(rope_theta(cfg))
    w.add_sliding_window(cfg.get("sliding_window") or 0)
    phi3_tokenizer(w)
    scaling = cfg.get("rope_scaling") or {}
    if not scaling.get("long_factor"):
        return {}
    scale = max_pos / orig
    w.add_rope_scaling_attn_factors(math.sqrt(1 + math.log(scale) / math.log(orig)) if scale > 1.0 else 1.0)
    assert len(scaling["long_factor"]) == len(scaling["short_factor"]) == rope_dims // 2
    return {"rope_factors_long.weight": np.array(scaling["long_factor"], dtype=np.float32),
            "rope_factors_short.weight": np.array(scaling["short_factor"], dtype=np.float32)}


def write_gguf(case, arch_name, model_dir, path):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    sd = load_file(os.path.join(model_dir, "model.safetensors"))
    arch = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch_name)
    names = gguf.get_tensor_name_map(arch, cfg["num_hidden_layers"])
    w = gguf.GGUFWriter(path, arch_name)
    w.add_name(case.replace("/", "-"))
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    extra = phi3_metadata(w, cfg) if arch_name == "phi3" else qwen_metadata(w, cfg) or {}
    for name, t in extra.items():  # generate_extra_tensors come first
        w.add_tensor(name, t)
    for name, t in sd.items():
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise ValueError(f"{case}: {name} has no {arch_name} GGUF name")
        w.add_tensor(new, t.float().numpy())
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return cfg


# The config fields transformers 5.23's GGUF mapping leaves out of these files, taken from the folder's config.
SUPPLIED = {
    "qwen2": [],
    "qwen3": ["head_dim"],  # qwen3.attention.key_length is mapped only for qwen3_moe
    "qwen3_tied": ["head_dim", "attention_bias"],  # no key says there are biases; the file has the tensors
    # phi3.rope.dimension_count (partial_rotary_factor), .rope.scaling.*, .attention.sliding_window and the rope
    # factor tensors are not mapped, nor the padding id.
    "phi3/base": ["rope_parameters", "original_max_position_embeddings", "sliding_window", "pad_token_id"],
    "phi3/longrope": ["rope_parameters", "original_max_position_embeddings", "sliding_window", "pad_token_id"],
}
# The fields the files' metadata must give transformers as the folder's config has them.
MAPPED = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
          "num_key_value_heads", "rms_norm_eps", "max_position_embeddings", "tie_word_embeddings", "bos_token_id",
          "eos_token_id"]


def gguf_config(case, d, ref):
    """transformers' config of the file, checked against the folder's, with the fields it leaves out supplied."""
    cfg = AutoConfig.from_pretrained(d, gguf_file="model.gguf")
    same = lambda a, b: math.isclose(a, b, rel_tol=1e-6) if isinstance(b, float) else a == b  # keys hold float32
    for k in MAPPED:
        assert same(getattr(cfg, k), getattr(ref, k)), (case, k, getattr(cfg, k), getattr(ref, k))
    theta = lambda c: c.rope_parameters["rope_theta"]
    assert same(theta(cfg), theta(ref)), (case, theta(cfg), theta(ref))
    supplied = [k for k in SUPPLIED[case] if getattr(cfg, k, None) != getattr(ref, k)]
    for k in supplied:
        setattr(cfg, k, getattr(ref, k))
    return cfg, supplied


def check(case, arch_name):
    d = os.path.join(OUT, case)
    model_dir = os.path.join(d, "model")
    path = os.path.join(d, "model.gguf")
    cfg = write_gguf(case, arch_name, model_dir, path)
    folder_kwargs = {"use_sliding_window": False, "layer_types": ["full_attention"] * cfg["num_hidden_layers"]} if case == "qwen3_tied" else {}
    ref = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager", **folder_kwargs)
    gcfg, supplied = gguf_config(case, d, ref.config)
    got = AutoModelForCausalLM.from_pretrained(d, gguf_file="model.gguf", config=gcfg, dtype=torch.float32, attn_implementation="eager")
    assert type(got) is type(ref), (case, type(got), type(ref))
    rs, gs = ref.state_dict(), got.state_dict()
    assert rs.keys() == gs.keys(), (case, set(rs) ^ set(gs))
    for k in rs:
        assert torch.equal(rs[k], gs[k]), (case, k)
    golden = load_file(os.path.join(d, "golden.safetensors"))
    ids = golden["input_ids"]
    with torch.no_grad():
        want = ref(ids).logits if case == "qwen3_tied" else golden["logits"]
        diff = (got(ids).logits - want).abs().max().item()
    assert diff < 1e-4, (case, diff)
    tok = AutoTokenizer.from_pretrained(d, gguf_file="model.gguf")
    tokens = {s: tok(s)["input_ids"] for s in STRINGS}
    json.dump({"comment": "ids of transformers' tokenizer built from model.gguf (scripts/reference/gguf_families.py)",
               "ids": tokens}, open(os.path.join(d, "gguf_tokens.json"), "w"), indent=1)
    print(f"{case}: {os.path.getsize(path)} bytes, {type(got).__name__}, weights equal, logits within {diff:.2e}; "
          f"config fields supplied: {supplied}; tokens {tokens[STRINGS[0]]}")


def main():
    torch.manual_seed(0)
    for case, arch_name in CASES:
        check(case, arch_name)


if __name__ == "__main__":
    main()
