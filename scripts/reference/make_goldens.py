"""Writes the tiny random models and golden outputs that the Go tests compare against.

    .deps/venv/bin/python scripts/reference/make_goldens.py [OUT_DIR]     (make reference builds .deps/venv)

OUT_DIR defaults to models/testdata/golden. For each family it writes model
folders (config.json + model.safetensors, Hugging Face names and layouts) and a
golden.safetensors with inputs and expected outputs, computed by Hugging Face
Transformers' own classes (GPT2LMHeadModel, BertModel and its heads,
LlamaForCausalLM, MistralForCausalLM) loaded from those folders in float64 with
eager attention, and stored as float32. Every weight is random, LayerNorm and
RMSNorm weights and biases included: default ones (1 and 0) would hide bugs in
those paths.
"""
import json
import os
import struct
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import (BertForMaskedLM, BertForQuestionAnswering, BertForSequenceClassification,
                          BertForTokenClassification, BertModel, GPT2LMHeadModel, LlamaForCausalLM,
                          MistralForCausalLM)

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
torch.manual_seed(20261126)
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "models", "testdata", "golden")
NEW_TOKENS = 8  # greedy tokens generated per prompt


def rnd(*shape, std=0.2):
    return torch.randn(*shape, dtype=torch.float64) * std


def norm_w(n):
    return 1.0 + rnd(n, std=0.1)


def write_model(folder, cfg, sd, dtype=torch.float32):
    os.makedirs(folder, exist_ok=True)
    cfg = dict(cfg, torch_dtype={torch.float32: "float32", torch.bfloat16: "bfloat16"}[dtype])
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    save_file({k: v.to(dtype).contiguous() for k, v in sd.items()}, os.path.join(folder, "model.safetensors"),
              metadata={"format": "pt"})


def hf(cls, folder, attention="eager"):
    """The Hugging Face class cls loaded from folder in float64, by default with eager attention (which returns the
    probabilities)."""
    m = cls.from_pretrained(folder, dtype=torch.float64, attn_implementation=attention)
    return m.eval()


def put_outputs(g, prefix, out, logits=None):
    g[prefix + "logits"] = out.logits if logits is None else logits
    for i, h in enumerate(out.hidden_states or ()):
        g[f"{prefix}hidden.{i}"] = h
    for i, a in enumerate(out.attentions or ()):
        g[f"{prefix}attn.{i}"] = a


def save_golden(folder, g, meta):
    out = {}
    for k, v in g.items():
        v = v.detach()
        out[k] = v.to(torch.int64) if v.dtype in (torch.int64, torch.int32, torch.bool) else v.to(torch.float32)
        out[k] = out[k].contiguous()
    meta = {"format": "pt", "transformers": transformers.__version__, "torch": torch.__version__, **meta}
    save_file(out, os.path.join(folder, "golden.safetensors"), metadata={k: str(v) for k, v in meta.items()})


def kv_steps(model, ids, prefix_len):
    """Prefill ids[:, :prefix_len], then feed one token at a time through past_key_values: step logits [B, T-prefix, V]."""
    out = model(ids[:, :prefix_len], use_cache=True)
    past, steps = out.past_key_values, []
    for t in range(prefix_len, ids.shape[1]):
        out = model(ids[:, t:t + 1], past_key_values=past, use_cache=True)
        past = out.past_key_values
        steps.append(out.logits[:, 0])
    return torch.stack(steps, dim=1)


def left_padded(g, model, ids, pad, pad_id):
    """Row 1 of ids with its first `pad` tokens replaced by padding (attention mask 0), positions counted from the
    first real token as generate() counts them; then HF generate() greedy from the same two prompts.

    model must use SDPA attention (see llama_case)."""
    ids = ids.clone()
    mask = torch.ones_like(ids)
    ids[1, :pad], mask[1, :pad] = pad_id, 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    g["leftpad.input_ids"], g["leftpad.attention_mask"], g["leftpad.position_ids"] = ids, mask, positions
    out = model(ids, attention_mask=mask, position_ids=positions)
    g["leftpad.logits"] = out.logits.masked_fill(mask[..., None] == 0, 0)  # padding rows are not compared
    gen = model.generate(ids, attention_mask=mask, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=pad_id,
                         eos_token_id=None, return_dict_in_generate=True, output_scores=True)
    g["generate.ids"] = gen.sequences[:, ids.shape[1]:]
    # The smallest gap between the best and second-best logit: the float32 Go side picks the same token if it is wide.
    gap = min((s.topk(2).values[:, 0] - s.topk(2).values[:, 1]).min().item() for s in gen.scores)
    if gap < 1e-3:
        print(f"warning: a greedy step is decided by {gap:.2e}; float32 may pick another token", file=sys.stderr)
    return gap


# ---------------------------------------------------------------- GPT-2

def gpt2():
    V, P, D, H, L = 96, 64, 32, 4, 2
    cfg = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": V, "n_positions": P, "n_embd": D,
           "n_layer": L, "n_head": H, "n_inner": None, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
           "bos_token_id": 0, "eos_token_id": 0, "tie_word_embeddings": True}
    sd = {"wte.weight": rnd(V, D), "wpe.weight": rnd(P, D), "ln_f.weight": norm_w(D), "ln_f.bias": rnd(D, std=0.1)}
    for i in range(L):
        a = f"h.{i}."
        sd.update({a + "ln_1.weight": norm_w(D), a + "ln_1.bias": rnd(D, std=0.1),
                   a + "attn.c_attn.weight": rnd(D, 3 * D), a + "attn.c_attn.bias": rnd(3 * D, std=0.1),
                   a + "attn.c_proj.weight": rnd(D, D), a + "attn.c_proj.bias": rnd(D, std=0.1),
                   a + "ln_2.weight": norm_w(D), a + "ln_2.bias": rnd(D, std=0.1),
                   a + "mlp.c_fc.weight": rnd(D, 4 * D), a + "mlp.c_fc.bias": rnd(4 * D, std=0.1),
                   a + "mlp.c_proj.weight": rnd(4 * D, D), a + "mlp.c_proj.bias": rnd(D, std=0.1)})
    root = os.path.join(OUT, "gpt2")
    # As GPT2LMHeadModel saves it: "transformer." prefix, with the causal-mask buffers of older versions.
    full = {"transformer." + k: v for k, v in sd.items()}
    for i in range(L):
        full[f"transformer.h.{i}.attn.bias"] = torch.ones(P, P).tril().view(1, 1, P, P)
        full[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    write_model(os.path.join(root, "model"), cfg, full)
    # As the original "gpt2" checkpoint: no prefix, no buffers.
    write_model(os.path.join(root, "model-noprefix"), cfg, sd)
    write_model(os.path.join(root, "model-bf16"), cfg, sd, torch.bfloat16)

    model = hf(GPT2LMHeadModel, os.path.join(root, "model-noprefix"))
    ids = torch.randint(0, V, (2, 9))
    g = {"input_ids": ids}
    with torch.no_grad():
        put_outputs(g, "", model(ids, output_hidden_states=True, output_attentions=True))
        mask = torch.ones(2, 9, dtype=torch.int64)
        mask[1, 6:] = 0  # right padding
        g["padded.attention_mask"] = mask
        g["padded.logits"] = model(ids, attention_mask=mask).logits.masked_fill(mask[..., None] == 0, 0)  # padding: not compared
        g["kv.prefix_len"] = torch.tensor([5])
        g["kv.step_logits"] = kv_steps(model, ids, 5)
        g["bf16.logits"] = hf(GPT2LMHeadModel, os.path.join(root, "model-bf16"))(ids).logits
        gap = left_padded(g, hf(GPT2LMHeadModel, os.path.join(root, "model-noprefix"), "sdpa"), ids, 3, cfg["eos_token_id"])
    save_golden(root, g, {"family": "gpt2", "reference": "transformers.GPT2LMHeadModel (eager)", "greedy_gap": gap})


# ---------------------------------------------------------------- BERT

def bert():
    V, P, D, H, L, I, TV = 100, 64, 32, 4, 2, 64, 2
    cfg = {"model_type": "bert", "vocab_size": V, "hidden_size": D, "num_hidden_layers": L, "num_attention_heads": H,
           "intermediate_size": I, "hidden_act": "gelu", "max_position_embeddings": P, "type_vocab_size": TV,
           "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute"}
    sd = {"bert.embeddings.word_embeddings.weight": rnd(V, D), "bert.embeddings.position_embeddings.weight": rnd(P, D),
          "bert.embeddings.token_type_embeddings.weight": rnd(TV, D),
          "bert.embeddings.LayerNorm.weight": norm_w(D), "bert.embeddings.LayerNorm.bias": rnd(D, std=0.1),
          "bert.pooler.dense.weight": rnd(D, D), "bert.pooler.dense.bias": rnd(D, std=0.1)}
    for i in range(L):
        a = f"bert.encoder.layer.{i}."
        for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            sd[a + n + ".weight"], sd[a + n + ".bias"] = rnd(D, D), rnd(D, std=0.1)
        sd[a + "intermediate.dense.weight"], sd[a + "intermediate.dense.bias"] = rnd(I, D), rnd(I, std=0.1)
        sd[a + "output.dense.weight"], sd[a + "output.dense.bias"] = rnd(D, I), rnd(D, std=0.1)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            sd[a + n + ".weight"], sd[a + n + ".bias"] = norm_w(D), rnd(D, std=0.1)
    mlm = {"cls.predictions.transform.dense.weight": rnd(D, D), "cls.predictions.transform.dense.bias": rnd(D, std=0.1),
           "cls.predictions.transform.LayerNorm.weight": norm_w(D), "cls.predictions.transform.LayerNorm.bias": rnd(D, std=0.1),
           "cls.predictions.bias": rnd(V, std=0.1)}
    heads = {"seqcls": (BertForSequenceClassification, {"classifier.weight": rnd(3, D), "classifier.bias": rnd(3, std=0.1)}, 3),
             "tokcls": (BertForTokenClassification, {"classifier.weight": rnd(5, D), "classifier.bias": rnd(5, std=0.1)}, 5),
             "qa": (BertForQuestionAnswering, {"qa_outputs.weight": rnd(2, D), "qa_outputs.bias": rnd(2, std=0.1)}, 2)}
    root = os.path.join(OUT, "bert")
    # BertForMaskedLM's checkpoints carry the pooler too (the original bert-base-uncased does).
    write_model(os.path.join(root, "model"), dict(cfg, architectures=["BertForMaskedLM"]), {**sd, **mlm})
    # The bare encoder, without the "bert." prefix, as BertModel saves it.
    write_model(os.path.join(root, "model-base"), dict(cfg, architectures=["BertModel"]), {k[5:]: v for k, v in sd.items()})
    for name, (cls, w, n) in heads.items():
        c = dict(cfg, architectures=[cls.__name__])
        if name != "qa":
            c["id2label"] = {str(i): f"LABEL_{i}" for i in range(n)}
            c["label2id"] = {f"LABEL_{i}": i for i in range(n)}
        write_model(os.path.join(root, name), c, {**sd, **w})

    ids = torch.randint(1, V, (2, 8))
    ids[:, 0] = 2  # a [CLS]-like first token
    types = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 0, 0]])
    mask = torch.ones(2, 8, dtype=torch.int64)
    mask[1, 6:] = 0
    ids[1, 6:] = 0
    g = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
    kw = dict(input_ids=ids, token_type_ids=types, attention_mask=mask)
    with torch.no_grad():
        out = hf(BertModel, os.path.join(root, "model-base"))(**kw, output_hidden_states=True, output_attentions=True)
        put_outputs(g, "", out, logits=out.last_hidden_state)
        g["pooled"] = out.pooler_output
        g["mlm.logits"] = hf(BertForMaskedLM, os.path.join(root, "model"))(**kw).logits
        g["seqcls.logits"] = hf(BertForSequenceClassification, os.path.join(root, "seqcls"))(**kw).logits
        g["tokcls.logits"] = hf(BertForTokenClassification, os.path.join(root, "tokcls"))(**kw).logits
        qa = hf(BertForQuestionAnswering, os.path.join(root, "qa"))(**kw)
        g["qa.start_logits"], g["qa.end_logits"] = qa.start_logits, qa.end_logits
    save_golden(root, g, {"family": "bert", "reference": "transformers.BertModel, BertFor{MaskedLM,SequenceClassification,TokenClassification,QuestionAnswering} (eager)"})


# ---------------------------------------------------------------- LLaMA, Mistral, llama2.c

def llama_weights(V, D, H, KVH, I, L, tie):
    d = D // H
    sd = {"model.embed_tokens.weight": rnd(V, D), "model.norm.weight": norm_w(D)}
    if not tie:
        sd["lm_head.weight"] = rnd(V, D)
    for i in range(L):
        a = f"model.layers.{i}."
        sd.update({a + "input_layernorm.weight": norm_w(D), a + "post_attention_layernorm.weight": norm_w(D),
                   a + "self_attn.q_proj.weight": rnd(H * d, D), a + "self_attn.k_proj.weight": rnd(KVH * d, D),
                   a + "self_attn.v_proj.weight": rnd(KVH * d, D), a + "self_attn.o_proj.weight": rnd(D, H * d),
                   a + "mlp.gate_proj.weight": rnd(I, D), a + "mlp.up_proj.weight": rnd(I, D), a + "mlp.down_proj.weight": rnd(D, I)})
    return sd


def llama_case(name, cls, cfg, sd, T=9, bf16=False):
    root = os.path.join(OUT, name)
    write_model(os.path.join(root, "model"), cfg, sd)
    if bf16:
        write_model(os.path.join(root, "model-bf16"), cfg, sd, torch.bfloat16)
    model = hf(cls, os.path.join(root, "model"))
    # Padded batches go through SDPA attention: with eager attention (transformers 5.23) a query row whose keys are
    # all masked turns into NaN, and the next layer's probabilities-times-values spread it to every position.
    sdpa = hf(cls, os.path.join(root, "model"), "sdpa")
    ids = torch.randint(0, cfg["vocab_size"], (2, T))
    g = {"input_ids": ids}
    with torch.no_grad():
        put_outputs(g, "", model(ids, output_hidden_states=True, output_attentions=True))
        mask = torch.ones(2, T, dtype=torch.int64)
        mask[1, T - 3:] = 0
        g["padded.attention_mask"] = mask
        g["padded.logits"] = sdpa(ids, attention_mask=mask).logits.masked_fill(mask[..., None] == 0, 0)  # padding: not compared
        g["kv.prefix_len"] = torch.tensor([4])
        g["kv.step_logits"] = kv_steps(model, ids, 4)
        if bf16:
            g["bf16.logits"] = hf(cls, os.path.join(root, "model-bf16"))(ids).logits
        gap = left_padded(g, sdpa, ids, 3, 0)
    save_golden(root, g, {"family": cfg["model_type"], "reference": f"transformers.{cls.__name__} (eager)", "greedy_gap": gap})


def write_llama2c(path, cfg, sd):
    """llama2.c's export (version 0): header of 7 int32, then float32 tensors, q/k rows in interleaved-pair order."""
    D, H, L, V = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"], cfg["vocab_size"]
    KVH, I = cfg["num_key_value_heads"], cfg["intermediate_size"]
    d = D // H
    shared = cfg.get("tie_word_embeddings", False)

    def unpermute(w, heads):  # Hugging Face halves order -> llama2.c interleaved pairs
        return w.view(heads, 2, d // 2, D).transpose(1, 2).reshape(heads * d, D)

    layers = lambda n: [sd[f"model.layers.{i}.{n}"] for i in range(L)]
    parts = [sd["model.embed_tokens.weight"]] + layers("input_layernorm.weight")
    parts += [unpermute(w, H) for w in layers("self_attn.q_proj.weight")]
    parts += [unpermute(w, KVH) for w in layers("self_attn.k_proj.weight")]
    parts += layers("self_attn.v_proj.weight") + layers("self_attn.o_proj.weight") + layers("post_attention_layernorm.weight")
    parts += layers("mlp.gate_proj.weight") + layers("mlp.down_proj.weight") + layers("mlp.up_proj.weight")
    parts += [sd["model.norm.weight"]]
    seq = cfg["max_position_embeddings"]
    freqs = 1.0 / (10000.0 ** (torch.arange(0, d, 2)[: d // 2].double() / d))
    angles = torch.outer(torch.arange(seq).double(), freqs)
    parts += [angles.cos(), angles.sin()]
    if not shared:
        parts.append(sd["lm_head.weight"])
    with open(path, "wb") as f:
        f.write(struct.pack("<7i", D, I, L, H, KVH, V if shared else -V, seq))
        for t in parts:
            f.write(t.to(torch.float32).contiguous().numpy().tobytes())


def llama():
    V, D, H, KVH, I, L = 96, 32, 4, 2, 48, 2
    base = {"vocab_size": V, "hidden_size": D, "num_attention_heads": H, "num_key_value_heads": KVH,
            "intermediate_size": I, "num_hidden_layers": L, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
            "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2}
    cfg = dict(base, model_type="llama", architectures=["LlamaForCausalLM"], rope_theta=10000.0, tie_word_embeddings=False)
    sd = llama_weights(V, D, H, KVH, I, L, tie=False)
    llama_case("llama", LlamaForCausalLM, cfg, sd, bf16=True)
    write_llama2c(os.path.join(OUT, "llama", "model.bin"), cfg, sd)

    cfg3 = dict(base, model_type="llama", architectures=["LlamaForCausalLM"], rope_theta=500000.0, tie_word_embeddings=True,
                rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 16}, num_key_value_heads=1)
    llama_case("llama3", LlamaForCausalLM, cfg3, llama_weights(V, D, H, 1, I, L, tie=True))

    cfgm = dict(base, model_type="mistral", architectures=["MistralForCausalLM"], rope_theta=10000.0,
                tie_word_embeddings=False, sliding_window=3)
    llama_case("mistral", MistralForCausalLM, cfgm, llama_weights(V, D, H, KVH, I, L, tie=False))


# ---------------------------------------------------------------- pipeline fixtures

BERT_WORDS = ("the a of and to in is was he she it that for on with as his her at by from they we you i "
              "paris france capital city river seine london england king queen castle knight horse sword "
              "good bad happy sad love hate day night sun moon star sea ship sail storm rain wind fire "
              "water earth stone gold silver red blue green white black old young small great long short "
              "who what where when why how . , ? ! ' -").split()


def write_bert_vocab(folder, size):
    """A WordPiece vocab.txt for the tiny BERT: special tokens, words, then ## pieces, `size` lines."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + BERT_WORDS
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab += [c for c in letters if c not in vocab] + ["##" + c for c in letters]
    vocab = vocab[:size]
    assert len(vocab) == size, len(vocab)
    with open(os.path.join(folder, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": 64, "tokenizer_class": "BertTokenizer"}, f, indent=2)
        f.write("\n")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def gpt2_pipeline():
    """A tiny random GPT-2 with its own byte-level BPE (256 bytes, a few merges, <|endoftext|>)."""
    enc = bytes_to_unicode()
    vocab = {enc[b]: b for b in range(256)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("Ġ", "a"), ("i", "n"), ("o", "u"), ("Ġ", "s"), ("e", "r")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    V, P, D, H, L = len(vocab), 64, 32, 4, 2
    folder = os.path.join(OUT, "gpt2", "pipeline")
    cfg = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": V, "n_positions": P, "n_embd": D,
           "n_layer": L, "n_head": H, "n_inner": None, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
           "bos_token_id": V - 1, "eos_token_id": V - 1}
    sd = {"wte.weight": rnd(V, D, std=0.5), "wpe.weight": rnd(P, D), "ln_f.weight": norm_w(D), "ln_f.bias": rnd(D, std=0.1)}
    for i in range(L):
        a = f"h.{i}."
        sd.update({a + "ln_1.weight": norm_w(D), a + "ln_1.bias": rnd(D, std=0.1),
                   a + "attn.c_attn.weight": rnd(D, 3 * D), a + "attn.c_attn.bias": rnd(3 * D, std=0.1),
                   a + "attn.c_proj.weight": rnd(D, D), a + "attn.c_proj.bias": rnd(D, std=0.1),
                   a + "ln_2.weight": norm_w(D), a + "ln_2.bias": rnd(D, std=0.1),
                   a + "mlp.c_fc.weight": rnd(D, 4 * D), a + "mlp.c_fc.bias": rnd(4 * D, std=0.1),
                   a + "mlp.c_proj.weight": rnd(4 * D, D), a + "mlp.c_proj.bias": rnd(D, std=0.1)})
    write_model(folder, cfg, sd)
    with open(os.path.join(folder, "vocab.json"), "w") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))


if __name__ == "__main__":
    gpt2()
    bert()
    llama()
    for name in ("model", "model-base", "seqcls", "tokcls", "qa"):
        write_bert_vocab(os.path.join(OUT, "bert", name), 100)
    gpt2_pipeline()
    print("goldens written to", os.path.normpath(OUT))
