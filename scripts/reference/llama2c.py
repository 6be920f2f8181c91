"""llama2.c's forward pass (run.c), in PyTorch, on a llama2.c checkpoint.

    .deps/venv/bin/python scripts/reference/llama2c.py CHECKPOINT.bin OUT_DIR [STEPS]      (make venv builds it)

It follows run.c directly -- rotary embeddings over interleaved pairs
(x[2i], x[2i+1]), the checkpoint's own q/k row order, RMSNorm eps 1e-5 -- so
it is independent of the Hugging Face layout that the Go loader converts the
file into. It greedy-decodes STEPS tokens from BOS (1), stopping at BOS as
run.c does, and writes golden.safetensors with the ids and the logits at every
position.
"""
import os
import struct
import sys

import torch

from safetensors.torch import save_file


def read(path):
    with open(path, "rb") as f:
        dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack("<7i", f.read(28))
        data = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).double()
    shared = vocab > 0
    vocab = abs(vocab)
    hd = dim // heads
    pos = 0

    def take(*shape):
        nonlocal pos
        n = 1
        for s in shape:
            n *= s
        t = data[pos:pos + n].reshape(shape)
        pos += n
        return t

    w = {"emb": take(vocab, dim), "rms_att": take(layers, dim), "wq": take(layers, dim, dim),
         "wk": take(layers, kv_heads * hd, dim), "wv": take(layers, kv_heads * hd, dim), "wo": take(layers, dim, dim),
         "rms_ffn": take(layers, dim), "w1": take(layers, hidden, dim), "w2": take(layers, dim, hidden),
         "w3": take(layers, hidden, dim), "rms_final": take(dim)}
    take(seq, hd // 2)
    take(seq, hd // 2)
    w["cls"] = w["emb"] if shared else take(vocab, dim)
    return dict(dim=dim, layers=layers, heads=heads, kv_heads=kv_heads, vocab=vocab, hd=hd), w


def rmsnorm(x, weight):
    return weight * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-5))


def rope(v, pos, hd):
    """run.c: rotate each pair (v[i], v[i+1]) by pos * 10000^(-(i % hd)/hd)."""
    out = v.clone()
    for i in range(0, v.shape[-1], 2):
        freq = 1.0 / (10000.0 ** ((i % hd) / hd))
        c, s = torch.cos(torch.tensor(pos * freq, dtype=torch.float64)), torch.sin(torch.tensor(pos * freq, dtype=torch.float64))
        out[i] = v[i] * c - v[i + 1] * s
        out[i + 1] = v[i] * s + v[i + 1] * c
    return out


def forward_all(cfg, w, tokens):
    """Runs the tokens one at a time with a KV cache, as run.c does; returns logits [T, vocab]."""
    L, H, KVH, hd = cfg["layers"], cfg["heads"], cfg["kv_heads"], cfg["hd"]
    keys = [[] for _ in range(L)]
    vals = [[] for _ in range(L)]
    out = []
    for pos, tok in enumerate(tokens):
        x = w["emb"][tok].clone()
        for l in range(L):
            h = rmsnorm(x, w["rms_att"][l])
            q = rope(w["wq"][l] @ h, pos, hd)
            k = rope(w["wk"][l] @ h, pos, hd)
            v = w["wv"][l] @ h
            keys[l].append(k)
            vals[l].append(v)
            K = torch.stack(keys[l])  # [pos+1, kv_dim]
            V = torch.stack(vals[l])
            att_out = torch.zeros_like(x)
            for head in range(H):
                kvh = head // (H // KVH)
                qh = q[head * hd:(head + 1) * hd]
                kh = K[:, kvh * hd:(kvh + 1) * hd]
                vh = V[:, kvh * hd:(kvh + 1) * hd]
                a = torch.softmax(kh @ qh / (hd ** 0.5), dim=0)
                att_out[head * hd:(head + 1) * hd] = a @ vh
            x = x + w["wo"][l] @ att_out
            h = rmsnorm(x, w["rms_ffn"][l])
            g = w["w1"][l] @ h
            x = x + w["w2"][l] @ ((g * torch.sigmoid(g)) * (w["w3"][l] @ h))
        out.append(w["cls"] @ rmsnorm(x, w["rms_final"]))
    return torch.stack(out)


def main():
    path, out_dir = sys.argv[1], sys.argv[2]
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 24
    cfg, w = read(path)
    tokens = [1]
    for _ in range(steps):
        logits = forward_all(cfg, w, tokens)
        nxt = int(torch.argmax(logits[-1]))
        if nxt == 1:
            break
        tokens.append(nxt)
    logits = forward_all(cfg, w, tokens)
    os.makedirs(out_dir, exist_ok=True)
    save_file({"input_ids": torch.tensor([tokens]), "logits": logits.unsqueeze(0).float().contiguous()},
            os.path.join(out_dir, "golden.safetensors"),
            metadata={"format": "pt", "reference": "scripts/reference/llama2c.py (run.c semantics)", "checkpoint": os.path.basename(path)})
    print("greedy ids:", " ".join(map(str, tokens[1:])))


if __name__ == "__main__":
    main()
