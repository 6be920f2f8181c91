"""PyTorch side of docs/training.md's Shakespeare speed table: nanoGPT's character-level Shakespeare run with its CPU
settings, on Hugging Face's GPT2LMHeadModel and torch.optim.AdamW — what a researcher would run instead of
`go run ./lab/shakespeare_char`, with the same settings:

    TORCH_THREADS=2 .deps/venv/bin/python scripts/reference/shakespeare_torch.py [--data FILE] [--iters 2000]

4 layers, 4 heads, 128 wide, context 64, batch 12; learning rate 1e-3, 100 warm-up iterations, cosine decay to 1e-4;
AdamW betas (0.9, 0.99), weight decay 0.1 on the weights of two or more dimensions (nanoGPT's configure_optimizers);
gradient clipping at 1; no dropout; the loss estimated over 20 batches of each split every 250 iterations; the first
90% of the characters train, the rest validate. Seeded, float32, eager mode (nanoGPT's CPU settings do not compile).
Prints the training time (from the first iteration to the last estimate, as lab/shakespeare_char reports it) and
"final val_loss=X".
"""
import argparse
import math
import os
import time

import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

transformers.logging.set_verbosity_error()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(os.environ.get("TRUSTFORMERS_DATA", "../shared/data"),
                                                   "tinyshakespeare", "input.txt"))
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--eval-interval", type=int, default=250)
    ap.add_argument("--eval-iters", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1337)
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    torch.manual_seed(a.seed)

    text = open(a.data, encoding="utf-8").read()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    cut = int(0.9 * len(ids))
    splits = {"train": ids[:cut], "val": ids[cut:]}
    batch, block = 12, 64

    def get_batch(split):
        data = splits[split]
        starts = torch.randint(len(data) - block, (batch,))
        x = torch.stack([data[s:s + block] for s in starts])
        y = torch.stack([data[s + 1:s + 1 + block] for s in starts])
        return x, y

    cfg = GPT2Config(vocab_size=len(chars), n_positions=block, n_embd=128, n_layer=4, n_head=4,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(cfg)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))

    def lr_at(it, peak=1e-3, floor=1e-4, warmup=100):
        if it < warmup:
            return peak * (it + 1) / (warmup + 1)
        if it > a.iters:
            return floor
        ratio = (it - warmup) / (a.iters - warmup)
        return floor + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (peak - floor)

    def next_token_loss(x, y):
        # y is x shifted by one already (nanoGPT's get_batch); labels= would shift it again.
        logits = model(x).logits
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))

    @torch.no_grad()
    def estimate():
        model.eval()
        out = {}
        for split in ("train", "val"):
            total = 0.0
            for _ in range(a.eval_iters):
                x, y = get_batch(split)
                total += next_token_loss(x, y).item()
            out[split] = total / a.eval_iters
        model.train()
        return out

    model.train()
    start = time.perf_counter()
    for it in range(a.iters + 1):
        if it % a.eval_interval == 0 or it == a.iters:
            losses = estimate()
            print(f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}", flush=True)
        if it == a.iters:
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(it)
        x, y = get_batch("train")
        loss = next_token_loss(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    elapsed = time.perf_counter() - start
    print(f"trained {a.iters} iterations in {elapsed:.1f}s on pytorch {torch.__version__} "
          f"({torch.get_num_threads()} threads)")
    print(f"final val_loss={losses['val']:.4f}")


if __name__ == "__main__":
    main()
