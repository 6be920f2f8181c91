"""PyTorch side of `make bench`: the same figures and shapes as `trustformers bench`, on PyTorch 2 with Hugging Face
Transformers' own classes: GPT2LMHeadModel.generate (KV cache, greedy) and BertModel.

    TORCH_THREADS=2 .deps/venv/bin/python scripts/reference/bench.py [--reps 5] [--only FIGS]      (make venv builds it)

Prints one JSON object per figure (the median of the repetitions after a warm-up), as the Go side does. Weights are
random (seeded), float32, default attention (SDPA). TORCH_THREADS sets torch.set_num_threads (intra-op threads).
"""
import argparse
import os
import resource
import statistics
import tempfile
import time

import torch
import transformers
from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

from measure import emitter, prompt_ids, timeit

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
torch.manual_seed(1)


def prompt(b, n, vocab=50257):
    return torch.tensor(prompt_ids(b, n, vocab))


def gpt2_small():
    """GPT-2 124M's shape, random weights; generate() greedy with no end-of-text stop, as the Go side runs."""
    model = GPT2LMHeadModel(GPT2Config()).eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model


def greedy(model, ids, new):
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, do_sample=False)
    return out[:, ids.shape[1]:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    wants = lambda f: not a.only or f in [x.strip() for x in a.only.split(",")]
    emit = emitter("pytorch-%dt" % torch.get_num_threads())

    with torch.inference_mode():
        if any(wants(f) for f in ("prefill 1x128", "decode b1", "decode b8", "first token")):
            model = gpt2_small()
            if wants("first token"):
                # From loading a checkpoint folder (written here, untimed) to the first generated token.
                with tempfile.TemporaryDirectory() as d:
                    model.save_pretrained(d)
                    del model
                    start = time.perf_counter()
                    model = GPT2LMHeadModel.from_pretrained(d).eval()
                    model.generation_config.eos_token_id, model.generation_config.pad_token_id = None, 0
                    greedy(model, prompt(1, 16), 1)
                    emit("first token", time.perf_counter() - start, "s")
            if wants("prefill 1x128"):
                s = [x * 1000 for x in timeit(a.reps, lambda: model(prompt(1, 128)))]
                emit("prefill 1x128", statistics.median(s), "ms", s)
            for b in (1, 8):
                if wants(f"decode b{b}"):
                    ids, rates, last = prompt(b, 16), [], []

                    def run():
                        t = time.perf_counter()
                        out = greedy(model, ids, 64)
                        rates.append(out.numel() / (time.perf_counter() - t))
                        last[:] = out[0].tolist()
                    timeit(a.reps, run)
                    emit(f"decode b{b}", statistics.median(rates[1:]), "tok/s", rates[1:], ids=last if b == 1 else None)
            del model
        if wants("bert 32x128"):
            model = BertModel(BertConfig()).eval()
            ids = prompt(32, 128, 30522)
            s = [x * 1000 for x in timeit(a.reps, lambda: model(ids))]
            emit("bert 32x128", statistics.median(s), "ms", s)
    emit("peak rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB")


if __name__ == "__main__":
    main()
