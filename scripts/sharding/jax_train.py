"""The anchor of our sharded training: the same small GPT-2, the same initial
weights and batches, trained in JAX with jax.sharding.NamedSharding over N
host devices of XLA's CPU client, as JAX tests its own sharding.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 \
        .deps/venv-jax/bin/python scripts/sharding/jax_train.py EXCHANGE_DIR

EXCHANGE_DIR holds what `go run ./scripts/sharding` wrote: config.json (a
GPT-2 config), init.safetensors (the weights in Hugging Face's GPT2Model
layout: Conv1D weights [in, out]) and batches.safetensors (ids and targets
[steps, batch, context], the learning rate of every step). For every device
count (1, 2, 4) and strategy (data parallel, fully sharded) it trains
`steps` steps — forward, backward, global-norm clipping, AdamW as
torch.optim.AdamW with nanoGPT's decay rule — as one jitted function whose
inputs and outputs carry NamedShardings, and writes jax.json: the losses and
the median step time (after two warm-up steps, which include compiling).
"""

import json
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from safetensors.numpy import load_file

jax.config.update("jax_default_matmul_precision", "highest")

BETAS, EPS, WEIGHT_DECAY, CLIP = (0.9, 0.99), 1e-8, 0.1, 1.0


def gpt2_loss(params, ids, targets, cfg):
    """GPT2LMHeadModel's forward (tanh GELU, tied head) and the mean
    next-token cross-entropy."""
    n_layer, n_head, eps = cfg["n_layer"], cfg["n_head"], cfg.get("layer_norm_epsilon", 1e-5)
    b, t = ids.shape
    d = params["wte.weight"].shape[1]
    hd = d // n_head

    def ln(x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / jnp.sqrt(var + eps) * params[name + ".weight"] + params[name + ".bias"]

    def conv(x, name):
        return x @ params[name + ".weight"] + params[name + ".bias"]

    x = params["wte.weight"][ids] + params["wpe.weight"][jnp.arange(t)][None]
    causal = jnp.tril(jnp.ones((t, t), bool))
    for i in range(n_layer):
        h = ln(x, f"h.{i}.ln_1")
        q, k, v = jnp.split(conv(h, f"h.{i}.attn.c_attn"), 3, axis=-1)
        q, k, v = (z.reshape(b, t, n_head, hd).transpose(0, 2, 1, 3) for z in (q, k, v))
        scores = jnp.einsum("bhqd,bhkd->bhqk", q, k) / np.sqrt(hd)
        scores = jnp.where(causal, scores, -1e9)
        att = jnp.einsum("bhqk,bhkd->bhqd", jax.nn.softmax(scores, -1), v)
        x = x + conv(att.transpose(0, 2, 1, 3).reshape(b, t, d), f"h.{i}.attn.c_proj")
        h = ln(x, f"h.{i}.ln_2")
        x = x + conv(jax.nn.gelu(conv(h, f"h.{i}.mlp.c_fc"), approximate=True), f"h.{i}.mlp.c_proj")
    x = ln(x, "ln_f")
    logits = x @ params["wte.weight"].T
    logp = jax.nn.log_softmax(logits, -1)
    return -jnp.take_along_axis(logp, targets[..., None], -1).mean()


def train_step(params, m, v, step, lr, ids, targets, cfg):
    loss, grads = jax.value_and_grad(gpt2_loss)(params, ids, targets, cfg)
    norm = jnp.sqrt(sum(jnp.sum(g * g) for g in grads.values()))
    scale = jnp.minimum(1.0, CLIP / (norm + 1e-6))
    b1, b2 = BETAS
    bc1, bc2 = 1 - b1**step, 1 - b2**step
    new_p, new_m, new_v = {}, {}, {}
    for name, p in params.items():
        g = grads[name] * scale
        new_m[name] = b1 * m[name] + (1 - b1) * g
        new_v[name] = b2 * v[name] + (1 - b2) * g * g
        if p.ndim >= 2:  # nanoGPT's rule: decay weights of two or more dimensions
            p = p * (1 - lr * WEIGHT_DECAY)
        denom = jnp.sqrt(new_v[name]) / jnp.sqrt(bc2) + EPS
        new_p[name] = p - lr / bc1 * new_m[name] / denom
    return new_p, new_m, new_v, loss


def weight_spec(shape, strategy, n):
    """Fully sharded: the first axis the data axis divides, as our FullyShard."""
    if strategy == "fsdp":
        for axis, size in enumerate(shape):
            if size % n == 0:
                return P(*([None] * axis + ["data"]))
    return P()


def run(cfg, init, batches, devices, strategy):
    mesh = Mesh(np.array(jax.devices()[:devices]), ("data",))
    wspecs = {name: NamedSharding(mesh, weight_spec(w.shape, strategy, devices)) for name, w in init.items()}
    batch_spec = NamedSharding(mesh, P("data"))
    scalar = NamedSharding(mesh, P())
    params = {name: jax.device_put(jnp.asarray(w), wspecs[name]) for name, w in init.items()}
    m = {name: jax.device_put(jnp.zeros_like(w), wspecs[name]) for name, w in init.items()}
    v = {name: jax.device_put(jnp.zeros_like(w), wspecs[name]) for name, w in init.items()}
    step_fn = jax.jit(
        lambda p, m, v, s, lr, ids, tg: train_step(p, m, v, s, lr, ids, tg, cfg),
        in_shardings=(wspecs, wspecs, wspecs, scalar, scalar, batch_spec, batch_spec),
        out_shardings=(wspecs, wspecs, wspecs, scalar),
        donate_argnums=(0, 1, 2),
    )
    ids, targets, lrs = batches["ids"], batches["targets"], batches["lr"]
    losses, times = [], []
    for s in range(ids.shape[0]):
        start = time.perf_counter()
        params, m, v, loss = step_fn(params, m, v, jnp.float32(s + 1), jnp.float32(lrs[s]),
                                     jax.device_put(ids[s], batch_spec), jax.device_put(targets[s], batch_spec))
        losses.append(float(loss))  # waits for the step
        times.append(time.perf_counter() - start)
    return losses, statistics.median(times[2:]) if len(times) > 2 else times[-1]


def main():
    folder = sys.argv[1]
    cfg = json.load(open(os.path.join(folder, "config.json")))
    init = load_file(os.path.join(folder, "init.safetensors"))
    batches = load_file(os.path.join(folder, "batches.safetensors"))
    out = {"jax": jax.__version__, "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__") else "", "runs": []}
    for devices in (1, 2, 4):
        if devices > len(jax.devices()):
            continue
        for strategy in ("data", "fsdp"):
            losses, step = run(cfg, init, batches, devices, strategy)
            out["runs"].append({"devices": devices, "strategy": strategy, "losses": losses, "step_seconds": step})
            print(f"jax {strategy} on {devices} device(s): final loss {losses[-1]:.6f}, step {step * 1000:.1f} ms", file=sys.stderr)
    with open(os.path.join(folder, "jax.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
