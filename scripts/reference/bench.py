"""PyTorch side of `make bench`: the same figures, shapes and random weights
as `trustformers bench`, on Debian's PyTorch 1.13.

    OPENBLAS_NUM_THREADS=2 TORCH_THREADS=1 /usr/bin/python3 scripts/reference/bench.py [--reps 5] [--only FIGS]

Prints one JSON object per figure (the median of the repetitions after a
warm-up), as the Go side does. GPT-2 runs through models.py's plain-PyTorch
forward with its KV cache (Hugging Face's computation); BERT through
bert_encoder. Threads: TORCH_THREADS sets torch.set_num_threads; OpenBLAS,
which does the matrix products, reads OPENBLAS_NUM_THREADS at start.
"""
import argparse
import json
import os
import resource
import statistics
import tempfile
import time

import torch

import models

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
torch.manual_seed(1)


def gpt2_small():
    V, P, D, H, L = 50257, 1024, 768, 12, 12
    cfg = {"n_embd": D, "n_head": H, "n_layer": L, "layer_norm_epsilon": 1e-5}
    n = lambda *s: torch.randn(*s) * 0.02
    sd = {"wte.weight": n(V, D), "wpe.weight": n(P, D), "ln_f.weight": torch.ones(D), "ln_f.bias": torch.zeros(D)}
    for i in range(L):
        a = f"h.{i}."
        sd.update({a + "ln_1.weight": torch.ones(D), a + "ln_1.bias": torch.zeros(D),
                   a + "attn.c_attn.weight": n(D, 3 * D), a + "attn.c_attn.bias": torch.zeros(3 * D),
                   a + "attn.c_proj.weight": n(D, D), a + "attn.c_proj.bias": torch.zeros(D),
                   a + "ln_2.weight": torch.ones(D), a + "ln_2.bias": torch.zeros(D),
                   a + "mlp.c_fc.weight": n(D, 4 * D), a + "mlp.c_fc.bias": torch.zeros(4 * D),
                   a + "mlp.c_proj.weight": n(4 * D, D), a + "mlp.c_proj.bias": torch.zeros(D)})
    return cfg, sd


def bert_base():
    V, P, D, H, L, I = 30522, 512, 768, 12, 12, 3072
    cfg = {"hidden_size": D, "num_attention_heads": H, "num_hidden_layers": L, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}
    n = lambda *s: torch.randn(*s) * 0.02
    sd = {"embeddings.word_embeddings.weight": n(V, D), "embeddings.position_embeddings.weight": n(P, D),
          "embeddings.token_type_embeddings.weight": n(2, D), "embeddings.LayerNorm.weight": torch.ones(D),
          "embeddings.LayerNorm.bias": torch.zeros(D), "pooler.dense.weight": n(D, D), "pooler.dense.bias": torch.zeros(D)}
    for i in range(L):
        a = f"encoder.layer.{i}."
        for m in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            sd[a + m + ".weight"], sd[a + m + ".bias"] = n(D, D), torch.zeros(D)
        sd[a + "intermediate.dense.weight"], sd[a + "intermediate.dense.bias"] = n(I, D), torch.zeros(I)
        sd[a + "output.dense.weight"], sd[a + "output.dense.bias"] = n(D, I), torch.zeros(D)
        for m in ("attention.output.LayerNorm", "output.LayerNorm"):
            sd[a + m + ".weight"], sd[a + m + ".bias"] = torch.ones(D), torch.zeros(D)
    return cfg, sd


def prompt(b, n, vocab=50257):
    return torch.tensor([[(i * 977 + j * 31 + 7) % vocab for j in range(n)] for i in range(b)])


def timeit(reps, fn):
    fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def greedy(cfg, sd, ids, new):
    logits, _, _, past = models.gpt2_forward(sd, cfg, ids)
    for _ in range(new - 1):
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        logits, _, _, past = models.gpt2_forward(sd, cfg, nxt, past=past)
    return ids.shape[0] * new


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    wants = lambda f: not a.only or f in [x.strip() for x in a.only.split(",")]
    engine = "pytorch-%dt-blas%s" % (torch.get_num_threads(), os.environ.get("OPENBLAS_NUM_THREADS", "?"))
    emit = lambda name, value, unit, samples=(): print(json.dumps({"figure": name, "engine": engine, "value": value, "unit": unit, "samples": list(samples)}), flush=True)
    with torch.no_grad():
        if any(wants(f) for f in ("prefill 1x128", "decode b1", "decode b8", "first token")):
            cfg, sd = gpt2_small()
            if wants("first token"):
                # From loading a checkpoint (written here, untimed) to the first token's logits.
                with tempfile.TemporaryDirectory() as d:
                    path = os.path.join(d, "model.pt")
                    torch.save(sd, path)
                    del sd
                    start = time.perf_counter()
                    sd = torch.load(path)
                    models.gpt2_forward(sd, cfg, prompt(1, 16))
                    emit("first token", time.perf_counter() - start, "s")
            if wants("prefill 1x128"):
                s = [x * 1000 for x in timeit(a.reps, lambda: models.gpt2_forward(sd, cfg, prompt(1, 128)))]
                emit("prefill 1x128", statistics.median(s), "ms", s)
            for b in (1, 8):
                if wants(f"decode b{b}"):
                    ids = prompt(b, 16)
                    rates = []

                    def run():
                        t = time.perf_counter()
                        n = greedy(cfg, sd, ids, 64)
                        rates.append(n / (time.perf_counter() - t))
                    timeit(a.reps, run)
                    emit(f"decode b{b}", statistics.median(rates[1:]), "tok/s", rates[1:])
            del sd
        if wants("bert 32x128"):
            cfg, sd = bert_base()
            ids = prompt(32, 128, 30522)
            s = [x * 1000 for x in timeit(a.reps, lambda: models.bert_encoder(sd, cfg, ids, prefix=""))]
            emit("bert 32x128", statistics.median(s), "ms", s)
    emit("peak rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB")


if __name__ == "__main__":
    main()
