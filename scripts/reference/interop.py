"""Interop goldens: what Hugging Face Transformers, PEFT, the gguf package and llama.cpp make of the files we write,
and files they write for us to read.

    HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/interop.py      (make reference builds .deps/venv)

1. Writes models/testdata/interop/llama-sp (a random LlamaForCausalLM, saved by transformers 5 itself, with the
   400-piece SentencePiece BPE of models/tokenizer/testdata/sp-bpe.model), peft-llama (a PEFT LoRA adapter on the golden
   LLaMA, random A and B) and gguf-package.gguf (the golden LLaMA written by the gguf package's GGUFWriter, in F32, F16
   and Q8_0).
2. Runs `go run ./scripts/interop OUT` (internal/interop.Write): our saved folders, LoRA adapters and GGUF files.
3. Loads ours in transformers (from_pretrained), PEFT (PeftModel.from_pretrained), gguf (GGUFReader) and llama.cpp
   (llama-cpp-python), and writes what they give to interop.json (with the sha256 of every file they read) and
   interop.safetensors, which internal/interop's tests assert.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import gguf
import numpy as np
import peft
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import save_file
from transformers import (AutoModelForCausalLM, BertForMaskedLM, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM,
                          MistralForCausalLM)

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "models", "testdata")
GOLDEN = os.path.join(DATA, "golden")
OUT = os.path.join(DATA, "interop")
CLASSES = {"gpt2": GPT2LMHeadModel, "bert": BertForMaskedLM, "llama": LlamaForCausalLM, "llama3": LlamaForCausalLM,
           "mistral": MistralForCausalLM}
PROMPTS = {"gpt2": "the other thin", "llama-sp": "First Citizen: Before we proceed any further"}
GREEDY = 8


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def golden_inputs(family):
    from safetensors import safe_open
    with safe_open(os.path.join(GOLDEN, family, "golden.safetensors"), "pt") as f:
        kw = {"input_ids": f.get_tensor("input_ids")}
        if family == "bert":
            kw["token_type_ids"], kw["attention_mask"] = f.get_tensor("token_type_ids"), f.get_tensor("attention_mask")
    return kw


def load(cls, folder, **kw):
    return cls.from_pretrained(folder, dtype=torch.float64, attn_implementation="eager", **kw).eval()


def make_llama_sp():
    """A random LLaMA whose vocabulary is sp-bpe.model's 400 pieces, saved by transformers itself."""
    torch.manual_seed(20261202)
    folder = os.path.join(OUT, "llama-sp")
    cfg = LlamaConfig(vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2,
                      tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(1 + 0.1 * torch.randn_like(p) if name.endswith("norm.weight") else 0.2 * torch.randn_like(p))
    model.save_pretrained(folder)
    shutil.copy(os.path.join(DATA, "..", "tokenizer", "testdata", "sp-bpe.model"), os.path.join(folder, "tokenizer.model"))


def make_peft_adapter(tensors):
    """PEFT's own LoRA adapter on the golden LLaMA (random A and B), and the logits it gives."""
    torch.manual_seed(7)
    base = load(LlamaForCausalLM, os.path.join(GOLDEN, "llama", "model"))
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    folder = os.path.join(OUT, "peft-llama")
    model.save_pretrained(folder)
    # PEFT writes target_modules from a set, in an order that changes from run to run: sort it.
    path = os.path.join(folder, "adapter_config.json")
    cfg = json.load(open(path))
    cfg["target_modules"] = sorted(cfg["target_modules"])
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    with torch.no_grad():
        tensors["peft.theirs.llama.logits"] = model(**golden_inputs("llama")).logits


def permute(w, heads):
    """convert_hf_to_gguf's LlamaModel.permute: Hugging Face's rotary halves to GGML's interleaved pairs."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def make_gguf_package_file(tensors):
    """The golden LLaMA written by the gguf package: F16 embedding, Q8_0 projections (those with rows of whole blocks),
    F32 the rest."""
    from safetensors.numpy import load_file
    folder = os.path.join(GOLDEN, "llama", "model")
    cfg = json.load(open(os.path.join(folder, "config.json")))
    sd = load_file(os.path.join(folder, "model.safetensors"))
    H, KVH, L = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_hidden_layers"]
    path = os.path.join(OUT, "gguf-package.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("golden-llama")
    w.add_vocab_size(cfg["vocab_size"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(L)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_rope_dimension_count(cfg["hidden_size"] // H)
    w.add_head_count(H)
    w.add_head_count_kv(KVH)
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_bos_token_id(cfg["bos_token_id"])
    w.add_eos_token_id(cfg["eos_token_id"])
    names = {"model.embed_tokens.weight": ("token_embd.weight", gguf.GGMLQuantizationType.F16),
             "model.norm.weight": ("output_norm.weight", gguf.GGMLQuantizationType.F32),
             "lm_head.weight": ("output.weight", gguf.GGMLQuantizationType.F32)}
    layer = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
             "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
             "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
             "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight"}
    for i in range(L):
        for hf_name, g in layer.items():
            typ = gguf.GGMLQuantizationType.F32 if "norm" in g else gguf.GGMLQuantizationType.Q8_0
            names[f"model.layers.{i}.{hf_name}"] = (f"blk.{i}.{g}", typ)
    for hf_name, (name, typ) in names.items():
        x = sd[hf_name].astype(np.float32)
        if ".q_proj." in hf_name:
            x = permute(x, H)
        elif ".k_proj." in hf_name:
            x = permute(x, KVH)
        if typ == gguf.GGMLQuantizationType.Q8_0 and x.shape[-1] % 32:
            typ = gguf.GGMLQuantizationType.F32  # rows of whole 32-value blocks only (the down projection's 48 are not)
        if typ == gguf.GGMLQuantizationType.F16:
            w.add_tensor(name, x.astype(np.float16))
        elif typ == gguf.GGMLQuantizationType.Q8_0:
            w.add_tensor(name, gguf.quants.quantize(x, typ), raw_dtype=typ)
        else:
            w.add_tensor(name, x)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    # What transformers makes of it (it dequantizes with the gguf package).
    model = AutoModelForCausalLM.from_pretrained(OUT, gguf_file="gguf-package.gguf", dtype=torch.float32).double().eval()
    with torch.no_grad():
        tensors["gguf_package.logits"] = model(**golden_inputs("llama")).logits


def describe_gguf(path):
    """What the gguf package reads in a GGUF file: metadata and every tensor's name, type, shape and value sums."""
    r = gguf.GGUFReader(path)
    meta = {}
    for f in r.fields.values():
        if f.name.startswith("GGUF."):
            continue
        v = f.contents()
        if isinstance(v, list) and len(v) > 16:
            v = {"length": len(v), "first": v[:8], "last": v[-8:]}
        meta[f.name] = v
    out = []
    for t in r.tensors:
        x = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64)
        out.append({"name": t.name, "type": t.tensor_type.name, "shape": [int(d) for d in reversed(t.shape)],
                    "sum": float(x.sum()), "abs_sum": float(np.abs(x).sum())})
    return {"metadata": meta, "tensors": out}


def run_llama_cpp(path, prompt, add_bos):
    """llama.cpp (llama-cpp-python) on a GGUF: its tokens for prompt and GREEDY argmax tokens after them."""
    from llama_cpp import Llama
    llm = Llama(model_path=path, n_ctx=64, n_threads=2, verbose=False, seed=1)
    from bench_llamacpp import greedy
    tokens = llm.tokenize(prompt.encode(), add_bos=add_bos, special=False)
    new = greedy(llm, tokens, GREEDY)
    return {"prompt": prompt, "tokens": [int(t) for t in tokens], "greedy": new,
            "text": llm.detokenize(new).decode("utf-8", errors="replace")}


def main():
    os.makedirs(OUT, exist_ok=True)
    tensors = {}
    make_llama_sp()
    make_peft_adapter(tensors)
    make_gguf_package_file(tensors)
    work = tempfile.mkdtemp()
    subprocess.run(["go", "run", "./scripts/interop", work], cwd=ROOT, check=True)
    files = {}
    for base, _, names in os.walk(work):
        for n in names:
            p = os.path.join(base, n)
            files[os.path.relpath(p, work)] = sha256(p)
    report = {"versions": {"transformers": transformers.__version__, "torch": torch.__version__, "peft": peft.__version__,
                           "gguf": getattr(gguf, "__version__", "0.19.0")},
              "files": dict(sorted(files.items())), "from_pretrained": {}, "peft": {}, "gguf": {}, "llama_cpp": {}}
    with torch.no_grad():
        for family, cls in CLASSES.items():
            model = load(cls, os.path.join(work, "saved", family))
            tensors[f"hf.{family}.logits"] = model(**golden_inputs(family)).logits
            report["from_pretrained"][family] = cls.__name__
        for family in ("gpt2", "llama"):
            base = load(CLASSES[family], os.path.join(GOLDEN, family, "model"))
            model = PeftModel.from_pretrained(base, os.path.join(work, "lora", family)).eval()
            tensors[f"peft.ours.{family}.logits"] = model(**golden_inputs(family)).logits
            report["peft"][family] = sorted(n for n, _ in model.named_parameters() if "lora_" in n)[:4]
    for name in sorted(os.listdir(os.path.join(work, "gguf"))):
        path = os.path.join(work, "gguf", name)
        report["gguf"][name] = describe_gguf(path)
        model = name.rsplit("-", 1)[0]
        try:
            report["llama_cpp"][name] = run_llama_cpp(path, PROMPTS[model], add_bos=model != "gpt2")
        except ImportError:
            sys.exit("llama-cpp-python is missing: make reference installs it (see scripts/reference/README.md)")
    report["gguf"]["gguf-package.gguf"] = describe_gguf(os.path.join(OUT, "gguf-package.gguf"))
    save_file({k: v.float().contiguous() for k, v in tensors.items()}, os.path.join(OUT, "interop.safetensors"),
              metadata={"format": "pt"})
    with open(os.path.join(OUT, "interop.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    shutil.rmtree(work)
    print("interop goldens written to", os.path.relpath(OUT, ROOT))


if __name__ == "__main__":
    main()
