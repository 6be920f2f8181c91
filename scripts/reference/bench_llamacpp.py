"""llama.cpp side of `make bench`: llama-cpp-python (llama.cpp built from source by `make venv`) on a GGUF: either
one that `trustformers bench --gguf` exported from the same random GPT-2 124M the Go rows measure, or a real
checkpoint's file that the Go side measures too (`trustformers bench --model FILE.gguf`).

    .deps/venv/bin/python scripts/reference/bench_llamacpp.py --model gpt2-q8_0.gguf [--reps 5] [--threads 2]
    .deps/venv/bin/python scripts/reference/bench_llamacpp.py --model smollm2.gguf --engine llama.cpp --prompts '[[1, 2, ...], ...]'

Prints one JSON object per figure, as the Go side does: prefill 1x128 (ms), decode b1 (16-token prompt, 64 greedy
tokens, tok/s, with the tokens), decode b8 (eight such prompts decoded together, one llama_decode per step), first
token (load the file to the first token, s) and peak rss (MB). The prompt ids are the Go side's: computed alike
(GPT-2's vocabulary), or given as --prompts (a JSON list of 8 rows, a real file's tokenizer's ids of 8 sentences);
greedy is the argmax of llama.cpp's logits.
"""
import argparse
import json
import os
import resource
import statistics
import time

import llama_cpp
import numpy as np
from llama_cpp import Llama

from measure import emitter, prompt_ids, timeit


PROMPTS = prompt_ids(8, 128)


def prompt(n):
    return PROMPTS[0][:n]


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


def greedy_batch(llm, prompts, new, threads):
    """new tokens after each row of prompts, decoded together: a context with one sequence per row, each step one
    llama_decode of a token per sequence; returns the rows' tokens."""
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = len(prompts) * 128 * ((len(prompts[0]) + new + 127) // 128)
    params.kv_unified = True
    params.n_batch = params.n_ubatch = len(prompts) * len(prompts[0])
    params.n_seq_max = len(prompts)
    params.n_threads = params.n_threads_batch = threads
    ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
    if not ctx:
        raise RuntimeError("llama.cpp: could not create a context for the batch")
    batch = llama_cpp.llama_batch_init(params.n_batch, 0, 1)
    try:
        def run(tokens):  # tokens: [(seq, pos, id, wants_logits)]
            batch.n_tokens = len(tokens)
            for i, (seq, pos, tok, logits) in enumerate(tokens):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = tok, pos, 1
                batch.seq_id[i][0], batch.logits[i] = seq, logits
            if llama_cpp.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama.cpp: llama_decode failed")
            rows = [i for i, t in enumerate(tokens) if t[3]]
            return [int(np.argmax(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, i),
                                                        shape=(llm.n_vocab(),)))) for i in rows]

        n = len(prompts[0])
        last = run([(s, p, t, p == n - 1) for s, row in enumerate(prompts) for p, t in enumerate(row)])
        out = [[t] for t in last]
        for step in range(1, new):
            last = run([(s, n + step - 1, t, True) for s, t in enumerate(last)])
            for row, t in zip(out, last):
                row.append(t)
        return out
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="")
    ap.add_argument("--engine", default="", help="the rows' engine name (default: llama.cpp and the file's type)")
    ap.add_argument("--prompts", default="", help="the prompts' ids as a JSON list of rows (default: GPT-2's bench ids)")
    a = ap.parse_args()
    global PROMPTS
    if a.prompts:
        PROMPTS = json.loads(a.prompts)
    wants = lambda f: not a.only or f in [x.strip() for x in a.only.split(",")]
    typ = os.path.basename(a.model).rsplit("-", 1)[-1].removesuffix(".gguf")
    emit = emitter(a.engine or f"llama.cpp {typ}")

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
    if wants("decode b8"):
        rates = []
        prompts = [row[:16] for row in PROMPTS[:8]]

        def run8():
            t = time.perf_counter()
            greedy_batch(llm, prompts, 64, a.threads)
            rates.append(8 * 64 / (time.perf_counter() - t))
        timeit(a.reps, run8)
        emit("decode b8", statistics.median(rates[1:]), "tok/s", rates[1:])
    emit("peak rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB")


if __name__ == "__main__":
    main()
