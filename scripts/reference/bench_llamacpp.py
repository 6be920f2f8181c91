"""llama.cpp side of `make bench`: llama-cpp-python (llama.cpp built from source by `make venv`) on a GGUF that
`trustformers bench --gguf` exported from the same random GPT-2 124M the Go rows measure.

    .deps/venv/bin/python scripts/reference/bench_llamacpp.py --model gpt2-q8_0.gguf [--reps 5] [--threads 2]

Prints one JSON object per figure, as the Go side does: prefill 1x128 (ms), decode b1 (16-token prompt, 64 greedy
tokens, tok/s, with the tokens), first token (load the file to the first token, s) and peak rss (MB). The prompt ids
are the Go side's; greedy is the argmax of llama.cpp's logits.
"""
import argparse
import os
import resource
import statistics
import time

import numpy as np
from llama_cpp import Llama

from measure import emitter, prompt_ids, timeit


def prompt(n):
    return prompt_ids(1, n)[0]


def last_logits(llm):
    """The logits of the last token evaluated (llama-cpp-python keeps Llama.scores only with logits_all)."""
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))


def greedy(llm, ids, new):
    """new tokens after ids, each the argmax of llama.cpp's logits, through its KV cache."""
    llm.reset()
    llm.eval(ids)
    out = []
    for _ in range(new):
        out.append(int(np.argmax(last_logits(llm))))
        if len(out) < new:
            llm.eval([out[-1]])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    wants = lambda f: not a.only or f in [x.strip() for x in a.only.split(",")]
    typ = os.path.basename(a.model).rsplit("-", 1)[-1].removesuffix(".gguf")
    emit = emitter(f"llama.cpp {typ}")

    def load():
        return Llama(model_path=a.model, n_ctx=256, n_batch=128, n_threads=a.threads, n_threads_batch=a.threads,
                     verbose=False, seed=1)

    start = time.perf_counter()
    llm = load()
    greedy(llm, prompt(16), 1)
    if wants("first token"):
        emit("first token", time.perf_counter() - start, "s")
    if wants("prefill 1x128"):
        def prefill():
            llm.reset()
            llm.eval(prompt(128))
        s = [x * 1000 for x in timeit(a.reps, prefill)]
        emit("prefill 1x128", statistics.median(s), "ms", s)
    if wants("decode b1"):
        rates, last = [], []

        def run():
            t = time.perf_counter()
            last[:] = greedy(llm, prompt(16), 64)
            rates.append(64 / (time.perf_counter() - t))
        timeit(a.reps, run)
        emit("decode b1", statistics.median(rates[1:]), "tok/s", rates[1:], ids=last)
    emit("peak rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB")


if __name__ == "__main__":
    main()
