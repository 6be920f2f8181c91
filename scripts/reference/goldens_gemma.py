"""Writes the tiny random Gemma 2 and Gemma 3 models and their golden outputs.

    HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/goldens_gemma.py [OUT_DIR]

OUT_DIR defaults to models/testdata/golden. It writes gemma2/ and gemma3/, each a model folder (config.json +
model.safetensors, Hugging Face names) and a golden.safetensors with what Gemma2ForCausalLM and Gemma3ForCausalLM,
loaded from those folders in float64 with eager attention, give: logits, hidden states, attention probabilities, a
right-padded batch, past_key_values steps, a left-padded batch with generate()'s positions, and generate()'s greedy
ids (make_goldens.py's helpers, seeded on their own).

What the configs exercise, each where breaking it changes the outputs well beyond 1e-4:
- both: RMSNorm with (1 + w), the norms before and after attention and MLP, embeddings times sqrt(hidden),
  query_pre_attn_scalar (not head_dim) as the attention scale, head_dim unlike hidden/heads, a gelu-tanh gated MLP,
  sliding-window layers whose window (4) is shorter than the 9-token inputs beside global ones;
- Gemma 2: attention and final-logit soft-capping with caps small enough to bite, q/k/v/o biases, an untied head,
  sliding/global layers alternating by default (no layer_types in its config);
- Gemma 3: q/k RMSNorm, RoPE base rope_local_base_freq on sliding layers and rope_theta with a linear rope_scaling on
  global ones, one key/value head, a tied head, the layer types from sliding_window_pattern (3: two sliding, one
  global).
"""
import os
import sys

import torch
from transformers import Gemma2ForCausalLM, Gemma3ForCausalLM

sys.path.insert(0, os.path.dirname(__file__))
import make_goldens as mg  # noqa: E402

torch.manual_seed(20261208)
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "models", "testdata", "golden")
T, WINDOW, PREFIX = 9, 4, 4


def gemma_norm(n):
    """A Gemma RMSNorm weight: the network multiplies by 1 + w, so w is drawn around 0."""
    return mg.rnd(n, std=0.3)


def gemma_weights(V, D, H, KVH, d, I, L, tie, bias, qk_norm):
    sd = {"model.embed_tokens.weight": mg.rnd(V, D), "model.norm.weight": gemma_norm(D)}
    if not tie:
        sd["lm_head.weight"] = mg.rnd(V, D)
    for i in range(L):
        a = f"model.layers.{i}."
        for n in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"):
            sd[a + n + ".weight"] = gemma_norm(D)
        for n, rows in (("q_proj", H * d), ("k_proj", KVH * d), ("v_proj", KVH * d)):
            sd[a + "self_attn." + n + ".weight"] = mg.rnd(rows, D)
            if bias:
                sd[a + "self_attn." + n + ".bias"] = mg.rnd(rows, std=0.1)
        sd[a + "self_attn.o_proj.weight"] = mg.rnd(D, H * d)
        if bias:
            sd[a + "self_attn.o_proj.bias"] = mg.rnd(D, std=0.1)
        if qk_norm:
            sd[a + "self_attn.q_norm.weight"], sd[a + "self_attn.k_norm.weight"] = gemma_norm(d), gemma_norm(d)
        sd.update({a + "mlp.gate_proj.weight": mg.rnd(I, D), a + "mlp.up_proj.weight": mg.rnd(I, D),
                   a + "mlp.down_proj.weight": mg.rnd(D, I)})
    return sd


def cap_effects(model, ids):
    """How far the logits move when the attention soft cap is turned off, and the largest |logit| without the final
    cap: both show the caps of the golden config are small enough to matter."""
    c, attention = model.config, [layer.self_attn for layer in model.model.layers]
    cap, final = c.attn_logit_softcapping, c.final_logit_softcapping
    capped = model(ids).logits
    for a in attention:
        a.attn_logit_softcapping = None  # each attention keeps its own copy of the config's value
    moved = (model(ids).logits - capped).abs().max().item()
    for a in attention:
        a.attn_logit_softcapping = cap
    c.final_logit_softcapping = None
    largest = model(ids).logits.abs().max().item()
    c.final_logit_softcapping = final
    return moved, largest


def padded_model(cls, folder):
    """The model that runs the padded batches and generate(). With eager attention in float64, a query row whose keys
    are all masked (left padding) becomes NaN: the mask holds float64's lowest value, which the float32 softmax turns
    into -inf, and the next layer spreads the NaN to every position. Gemma 3 runs them with SDPA attention in float64
    (as make_goldens.py's LLaMA does); Gemma2ForCausalLM refuses SDPA (it cannot soft-cap), so Gemma 2 runs them
    eagerly in float32, whose mask value the softmax keeps finite."""
    if cls is Gemma2ForCausalLM:
        return cls.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    return mg.hf(cls, folder, "sdpa")


def gemma_case(name, cls, cfg, sd):
    root = os.path.join(OUT, name)
    mg.write_model(os.path.join(root, "model"), cfg, sd)
    model = mg.hf(cls, os.path.join(root, "model"))
    padded = padded_model(cls, os.path.join(root, "model"))
    ids = torch.randint(0, cfg["vocab_size"], (2, T))
    g = {"input_ids": ids}
    with torch.no_grad():
        mg.put_outputs(g, "", model(ids, output_hidden_states=True, output_attentions=True))
        mask = torch.ones(2, T, dtype=torch.int64)
        mask[1, T - 3:] = 0
        g["padded.attention_mask"] = mask
        g["padded.logits"] = padded(ids, attention_mask=mask).logits.masked_fill(mask[..., None] == 0, 0)  # padding: not compared
        g["kv.prefix_len"] = torch.tensor([PREFIX])
        g["kv.step_logits"] = mg.kv_steps(model, ids, PREFIX)
        gap = mg.left_padded(g, padded, ids, 3, 0)
    for k, v in g.items():
        if v.is_floating_point() and torch.isnan(v).any():
            raise SystemExit(f"{name}: {k} holds NaN")
    save_golden_meta = {"family": cfg["model_type"], "reference": f"transformers.{cls.__name__} (eager)", "greedy_gap": gap}
    mg.save_golden(root, g, save_golden_meta)
    return model, ids


def gemma2():
    V, D, H, KVH, d, I, L = 96, 32, 4, 2, 16, 48, 3
    cfg = {"model_type": "gemma2", "architectures": ["Gemma2ForCausalLM"], "vocab_size": V, "hidden_size": D,
           "num_attention_heads": H, "num_key_value_heads": KVH, "head_dim": d, "intermediate_size": I,
           "num_hidden_layers": L, "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
           "hidden_activation": "gelu_pytorch_tanh", "rope_theta": 10000.0, "query_pre_attn_scalar": 24,
           "sliding_window": WINDOW, "attn_logit_softcapping": 2.0, "final_logit_softcapping": 3.0,
           "attention_bias": True, "tie_word_embeddings": False, "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0}
    model, ids = gemma_case("gemma2", Gemma2ForCausalLM, cfg, gemma_weights(V, D, H, KVH, d, I, L, tie=False, bias=True, qk_norm=False))
    with torch.no_grad():
        moved, largest = cap_effects(model, ids)
    print(f"gemma2: layer types {model.config.layer_types}; without the attention cap the logits move by {moved:.3g}; "
          f"without the final cap the largest |logit| is {largest:.3g} (cap {cfg['final_logit_softcapping']})")


def gemma3():
    V, D, H, KVH, d, I, L = 96, 32, 4, 1, 16, 48, 4
    cfg = {"model_type": "gemma3_text", "architectures": ["Gemma3ForCausalLM"], "vocab_size": V, "hidden_size": D,
           "num_attention_heads": H, "num_key_value_heads": KVH, "head_dim": d, "intermediate_size": I,
           "num_hidden_layers": L, "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
           "hidden_activation": "gelu_pytorch_tanh", "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
           "rope_scaling": {"rope_type": "linear", "factor": 4.0}, "query_pre_attn_scalar": 24,
           "sliding_window": WINDOW, "sliding_window_pattern": 3, "final_logit_softcapping": None,
           "attn_logit_softcapping": None, "attention_bias": False, "tie_word_embeddings": True,
           "use_bidirectional_attention": False, "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0}
    model, _ = gemma_case("gemma3", Gemma3ForCausalLM, cfg, gemma_weights(V, D, H, KVH, d, I, L, tie=True, bias=False, qk_norm=True))
    print(f"gemma3: layer types {model.config.layer_types}; rope {model.config.rope_parameters}")


if __name__ == "__main__":
    gemma2()
    gemma3()
    print("gemma goldens written to", os.path.normpath(OUT))
