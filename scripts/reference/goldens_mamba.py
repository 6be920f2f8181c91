"""Writes the tiny random Mamba models and the golden outputs models/mamba's tests compare against.

    HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/goldens_mamba.py [OUT_DIR]

OUT_DIR defaults to models/testdata/golden. Two cases, each a model folder (config.json + model.safetensors in
Hugging Face's layout) and a golden.safetensors computed by transformers' own MambaForCausalLM, loaded in float64
(its slow, pure-PyTorch path: the CUDA kernels are not installed):

- mamba/: a tied head, conv1d bias, no in/out projection biases, time_step_rank "auto", conv_kernel 4;
- mamba/untied/: an untied head, in_proj/out_proj biases (use_bias), no conv1d bias, time_step_rank 5,
  conv_kernel 3, residual_in_fp32 false.

Every weight is random: the RMSNorm weights, A_log (so that A = -exp(A_log) differs per state), D and dt_proj's
bias included. The goldens: full-forward logits and output_hidden_states, a right-padded batch, the recurrent cache
(a prefill of 4 tokens, then one token at a time through cache_params), a left-padded batch (the attention mask
zeroes the padding's hidden states before in_proj and after the convolution, as the slow path does), generate()'s
greedy ids and a beam search (3 beams) from two prompts of different lengths, left padded.
"""
import os
import sys

import torch
from transformers import MambaForCausalLM

sys.path.insert(0, os.path.dirname(__file__))
import make_goldens as mg  # noqa: E402  (its helpers; it seeds torch on import, reseeded below)

torch.manual_seed(20261210)
NEW_TOKENS = 8
BEAM_TOKENS = 5


def mamba_weights(V, D, N, I, R, K, L, tie, bias, conv_bias):
    """MambaForCausalLM's state dict with random values everywhere (A_log is the log of values in (0.5, 4))."""
    sd = {"backbone.embeddings.weight": mg.rnd(V, D, std=0.5), "backbone.norm_f.weight": mg.norm_w(D)}
    if not tie:
        sd["lm_head.weight"] = mg.rnd(V, D, std=0.5)
    for i in range(L):
        a = f"backbone.layers.{i}."
        m = a + "mixer."
        sd.update({a + "norm.weight": mg.norm_w(D),
                   m + "in_proj.weight": mg.rnd(2 * I, D, std=0.2),
                   m + "conv1d.weight": mg.rnd(I, 1, K, std=0.4),
                   m + "x_proj.weight": mg.rnd(R + 2 * N, I, std=0.2),
                   m + "dt_proj.weight": mg.rnd(I, R, std=0.5),
                   m + "dt_proj.bias": mg.rnd(I, std=0.5) - 1.0,
                   m + "A_log": torch.log(0.5 + 3.5 * torch.rand(I, N, dtype=torch.float64)),
                   m + "D": 1.0 + mg.rnd(I, std=0.3),
                   m + "out_proj.weight": mg.rnd(D, I, std=0.1)})
        if conv_bias:
            sd[m + "conv1d.bias"] = mg.rnd(I, std=0.2)
        if bias:
            sd[m + "in_proj.bias"] = mg.rnd(2 * I, std=0.2)
            sd[m + "out_proj.bias"] = mg.rnd(D, std=0.2)
    return sd


def cache_steps(model, ids, prefix_len):
    """Prefill ids[:, :prefix_len] with use_cache, then feed one token at a time through cache_params: the step
    logits [B, T-prefix, V]."""
    out = model(ids[:, :prefix_len], use_cache=True)
    cache, steps = out.cache_params, []
    for t in range(prefix_len, ids.shape[1]):
        out = model(ids[:, t:t + 1], cache_params=cache, use_cache=True)
        cache = out.cache_params
        steps.append(out.logits[:, 0])
    return torch.stack(steps, dim=1)


def left_padded(g, model, ids, pad, pad_id):
    """Row 1 of ids with its first `pad` tokens replaced by padding (mask 0); its logits, and generate()'s greedy
    ids and a beam search from the same two prompts. Mamba has no positions: none are passed."""
    ids = ids.clone()
    mask = torch.ones_like(ids)
    ids[1, :pad], mask[1, :pad] = pad_id, 0
    g["leftpad.input_ids"], g["leftpad.attention_mask"] = ids, mask
    g["leftpad.logits"] = model(ids, attention_mask=mask).logits.masked_fill(mask[..., None] == 0, 0)
    gen = model.generate(ids, attention_mask=mask, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=pad_id,
                         eos_token_id=None, return_dict_in_generate=True, output_scores=True)
    g["generate.ids"] = gen.sequences[:, ids.shape[1]:]
    gap = min((s.topk(2).values[:, 0] - s.topk(2).values[:, 1]).min().item() for s in gen.scores)
    if gap < 1e-3:
        print(f"warning: a greedy step is decided by {gap:.2e}; float32 may pick another token", file=sys.stderr)
    beam = model.generate(ids, attention_mask=mask, max_new_tokens=BEAM_TOKENS, num_beams=3, do_sample=False,
                          pad_token_id=pad_id, eos_token_id=None, early_stopping=False, length_penalty=1.0,
                          return_dict_in_generate=True, output_scores=True)
    g["beam.ids"] = beam.sequences[:, ids.shape[1]:]
    g["beam.scores"] = beam.sequences_scores
    return gap


def case(name, cfg, sd, T=12):
    root = os.path.join(mg.OUT, name)
    mg.write_model(os.path.join(root, "model"), cfg, sd)
    model = MambaForCausalLM.from_pretrained(os.path.join(root, "model"), dtype=torch.float64).eval()
    ids = torch.randint(1, cfg["vocab_size"], (2, T))
    g = {"input_ids": ids}
    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
        g["logits"] = out.logits
        for i, h in enumerate(out.hidden_states):  # each layer's output, then norm_f's
            g[f"hidden.{i}"] = h
        mask = torch.ones(2, T, dtype=torch.int64)
        mask[1, T - 3:] = 0
        g["padded.attention_mask"] = mask
        g["padded.logits"] = model(ids, attention_mask=mask).logits.masked_fill(mask[..., None] == 0, 0)
        g["cache.prefix_len"] = torch.tensor([4])
        g["cache.step_logits"] = cache_steps(model, ids, 4)
        gap = left_padded(g, model, ids, 3, cfg["pad_token_id"])
    mg.save_golden(root, g, {"family": "mamba", "reference": "transformers.MambaForCausalLM (slow path, float64)",
                             "greedy_gap": gap})


def main():
    V, D, N, L = 96, 32, 8, 2
    I = 2 * D
    base = {"model_type": "mamba", "architectures": ["MambaForCausalLM"], "vocab_size": V, "hidden_size": D,
            "state_size": N, "num_hidden_layers": L, "expand": 2, "hidden_act": "silu", "pad_token_id": 0,
            "bos_token_id": 0, "eos_token_id": 0}
    tied = dict(base, conv_kernel=4, use_bias=False, use_conv_bias=True, time_step_rank="auto",
                layer_norm_epsilon=1e-5, residual_in_fp32=True, tie_word_embeddings=True)
    case("mamba", tied, mamba_weights(V, D, N, I, 2, 4, L, tie=True, bias=False, conv_bias=True))
    untied = dict(base, conv_kernel=3, use_bias=True, use_conv_bias=False, time_step_rank=5,
                  layer_norm_epsilon=1e-4, residual_in_fp32=False, tie_word_embeddings=False)
    case(os.path.join("mamba", "untied"), untied,
         mamba_weights(V, D, N, I, 5, 3, L, tie=False, bias=True, conv_bias=False))
    print("mamba goldens written to", os.path.normpath(os.path.join(mg.OUT, "mamba")))


if __name__ == "__main__":
    main()
