"""PyTorch's attention on the prefill docs/benchmarks.md measures for ours ("Memory-efficient attention").

    .deps/venv/bin/python scripts/reference/attention_bench.py [LENGTHS...]      (default 1024 4096 8192)

One layer of SmolLM2-135M's shape (hidden 576, 9 heads, 3 key/value heads of 64, MLP 1,536, vocabulary 2,048), random
weights, float32, 2 threads, as transformers' LlamaForCausalLM runs it with attn_implementation "sdpa"
(torch.nn.functional.scaled_dot_product_attention) and "eager" (the whole score matrix). Each case runs in a process
of its own: the first call's seconds, the best of the next three, and the process's peak resident memory (ru_maxrss),
with the resident memory before the first call.
"""
import json
import resource
import subprocess
import sys
import time


def case(impl, length):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.set_num_threads(2)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=2048, hidden_size=576, intermediate_size=1536, num_hidden_layers=1,
                      num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192)
    model = LlamaForCausalLM(cfg).eval()
    model.config._attn_implementation = impl
    ids = torch.randint(0, 2048, (1, length))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    with torch.no_grad():
        for _ in range(4):
            start = time.perf_counter()
            model(input_ids=ids, use_cache=False)
            times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"impl": impl, "tokens": length, "first_s": times[0], "best_s": min(times[1:]),
                      "peak_mb": peak, "before_mb": before}))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--case":
        case(sys.argv[2], int(sys.argv[3]))
        sys.exit(0)
    lengths = [int(a) for a in sys.argv[1:]] or [1024, 4096, 8192]
    print("| attention | tokens | first call s | best of 3 s | peak RSS MB | RSS before MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for impl in ("sdpa", "eager"):
        for n in lengths:
            out = subprocess.run([sys.executable, __file__, "--case", impl, str(n)], capture_output=True, text=True)
            if out.returncode != 0:
                print(f"| {impl} | {n} | failed: {out.stderr.strip().splitlines()[-1]} | | | |")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {impl} | {n} | {r['first_s']:.2f} | {r['best_s']:.3f} | {r['peak_mb']:.0f} | {r['before_mb']:.0f} |")
