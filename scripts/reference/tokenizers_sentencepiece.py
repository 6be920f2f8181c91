#!/usr/bin/python3
"""tokenizers_sentencepiece.py writes the SentencePiece goldens of
models/tokenizer/testdata with Google's sentencepiece (Debian's
python3-sentencepiece, the C++ library's own Python binding).

Models:
  llama2        ../shared/data/llama2/tokenizer.model (BPE, byte fallback,
                add_dummy_prefix, no whitespace folding)
  sp-unigram    testdata/sp-unigram.model: a 400-piece Unigram model trained
                here on Tiny Shakespeare (identity normalization, whitespace
                folding, no byte fallback: unknown characters become <unk>)
  sp-bpe        testdata/sp-bpe.model: a 400-piece BPE model trained here
                (identity normalization, whitespace folding, byte fallback,
                user-defined symbols "<sep>" and "[X]")
  sp-nfkc       testdata/sp-nfkc.model: a 400-piece Unigram model with
                SentencePiece's default nmt_nfkc normalization

The three small models are committed; --train retrains them (training is not
bit-for-bit reproducible, so retraining changes the goldens too).

Each golden records, per input, sp.encode(text) (no BOS/EOS: the Go test adds
BOS itself, as Hugging Face's LlamaTokenizer does) and sp.decode(ids).

Usage: /usr/bin/python3 tokenizers_sentencepiece.py REPO_ROOT DATA_DIR [--train]
"""
import hashlib
import json
import os
import sys
import tempfile

import sentencepiece as spm

SMALL_MODELS = {
    "sp-unigram": dict(model_type="unigram", normalization_rule_name="identity"),
    "sp-bpe": dict(model_type="bpe", normalization_rule_name="identity", byte_fallback=True,
                   user_defined_symbols=["<sep>", "[X]"]),
    "sp-nfkc": dict(model_type="unigram"),
}


def load_inputs(repo, data):
    """Returns (cases, corpus header) like tokenizers_node.mjs's loadInputs."""
    raw = open(os.path.join(data, "tinyshakespeare", "input.txt"), "rb").read()
    lines = raw.decode("utf-8").split("\n")[:2000]
    cases = [(text, {"line": i}) for i, text in enumerate(lines)]
    cases.append(("\n".join(lines), {"lines": [0, len(lines)]}))
    hard = json.load(open(os.path.join(repo, "scripts", "reference", "tokenizers_hard_strings.json"), encoding="utf-8"))["strings"]
    cases += [(text, {"text": text}) for text in hard]
    corpus = {
        "file": "tinyshakespeare/input.txt",
        "sha256": hashlib.sha256(raw).hexdigest(),
        "lines": len(lines),
        "note": "cases with line N encode line N (0-based, split on \\n, no newline); the case with lines [A, B] encodes lines A..B-1 joined with \\n",
    }
    return cases, corpus, lines


def train(out_dir, lines):
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(l for l in lines if l.strip()) + "\n")
        for name, opts in SMALL_MODELS.items():
            spm.SentencePieceTrainer.train(input=corpus, model_prefix=os.path.join(tmp, name), vocab_size=400,
                                           num_threads=1, minloglevel=2, **opts)
            os.replace(os.path.join(tmp, name + ".model"), os.path.join(out_dir, name + ".model"))
            print("trained", os.path.join(out_dir, name + ".model"))


def write(path, header, cases):
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n" + ",\n".join(json.dumps(k) + ": " + json.dumps(v, ensure_ascii=False) for k, v in header.items()))
        f.write(',\n"cases": [\n' + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]\n}\n")
    print("wrote %s (%d cases, %d bytes)" % (path, len(cases), os.path.getsize(path)))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        sys.exit(__doc__)
    repo, data = args
    out_dir = os.path.join(repo, "models", "tokenizer", "testdata")
    cases, corpus, lines = load_inputs(repo, data)
    if "--train" in sys.argv:
        train(out_dir, lines)
    models = {"llama2": (os.path.join(data, "llama2", "tokenizer.model"), "llama2/tokenizer.model")}
    for name in SMALL_MODELS:
        models[name] = (os.path.join(out_dir, name + ".model"), "models/tokenizer/testdata/%s.model" % name)
    for name, (path, label) in models.items():
        sp = spm.SentencePieceProcessor(model_file=path)
        out = []
        for text, ref in cases:
            ids = sp.encode(text)
            out.append(dict(ref, ids=ids, decoded=sp.decode(ids)))
        header = {
            "reference": "sentencepiece %s (Debian python3-sentencepiece), SentencePieceProcessor.encode(text) and decode(ids)" % spm.__version__,
            "tokenizer": label,
            "special_tokens": "ids are sp.encode(text) without BOS/EOS; Hugging Face's LlamaTokenizer (add_bos_token) puts BOS id %d before them" % sp.bos_id(),
            "vocab_size": sp.vocab_size(),
            "bos_id": sp.bos_id(), "eos_id": sp.eos_id(), "unk_id": sp.unk_id(), "pad_id": sp.pad_id(),
            "corpus": corpus,
        }
        write(os.path.join(out_dir, name + ".golden.json"), header, out)


if __name__ == "__main__":
    main()
