"""Writes the Phi-3 goldens: tiny random Phi3ForCausalLM models and what Hugging Face's own class computes on them.

    HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/goldens_phi3.py [OUT_DIR]

OUT_DIR defaults to models/testdata/golden/phi3. It writes

- base/: fused qkv_proj and gate_up_proj, grouped-query attention (2 key/value heads for 4), an untied head,
  sliding_window 4 (shorter than the 9-token input), rope_theta 10000 on the whole head, pad_token_id 95;
- longrope/: rope_scaling of type longrope (random short and long factors), original_max_position_embeddings 8
  with max_position_embeddings 64 (so the attention factor sqrt(1 + ln 8 / ln 8) scales cos and sin),
  partial_rotary_factor 0.75 (12 of 16 features rotate), one key/value head, a tied head;
- padgrad/: the gradient of sum(logits * r) on base/'s embedding from ids that hold pad_token_id (no gradient
  reaches the padding row from its lookups: nn.Embedding's padding_idx);
- rope_cases.json: the inverse frequencies (short and long) and attention factor that transformers'
  _compute_longrope_parameters gives for configs spelling longrope every way Phi3Config reads it.

Each golden.safetensors holds the model's logits, hidden states and attention probabilities (float64, eager
attention), a right-padded batch, past_key_values steps, a left-padded batch with generate()'s positions and
generate()'s greedy ids (those two with SDPA attention: see make_goldens.left_padded). longrope's also holds

- short.*: an 8-token input, whose largest position + 1 (8) does not pass original_max_position_embeddings, so
  the short factors rotate it (the 9-token input takes the long ones);
- kv.step_logits: prefill 4 tokens, then steps through past_key_values: positions 4..7 take the short factors and
  position 8 the long ones, the cached keys staying as they were (the model's forward does not recompute them);
- cross.*: generate() from 5- and 3-token prompts for 8 new tokens: once the sequence passes 8 tokens,
  Phi3ForCausalLM.prepare_inputs_for_generation drops the cache and runs the whole sequence again (long factors
  everywhere from then on); cross.logits are generate()'s raw logits at each step (output_logits).
"""
import copy
import json
import os
import sys

import torch
from transformers import Phi3Config, Phi3ForCausalLM
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

sys.path.insert(0, os.path.dirname(__file__))
import make_goldens as mg  # noqa: E402

torch.manual_seed(20261203)
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "models", "testdata",
                                                          "golden", "phi3")
V, I, L = 96, 48, 2
PAD = V - 1


def weights(D, H, KVH, tie, head_dim=None):
    """Phi3ForCausalLM's tensors: the fused qkv_proj rows are q (H heads), then k, then v (KVH heads each);
    gate_up_proj's rows are the gate, then the up projection."""
    d = head_dim or D // H
    sd = {"model.embed_tokens.weight": mg.rnd(V, D), "model.norm.weight": mg.norm_w(D)}
    if not tie:
        sd["lm_head.weight"] = mg.rnd(V, D)
    for i in range(L):
        a = f"model.layers.{i}."
        sd.update({a + "input_layernorm.weight": mg.norm_w(D), a + "post_attention_layernorm.weight": mg.norm_w(D),
                   a + "self_attn.qkv_proj.weight": mg.rnd((H + 2 * KVH) * d, D),
                   a + "self_attn.o_proj.weight": mg.rnd(D, H * d),
                   a + "mlp.gate_up_proj.weight": mg.rnd(2 * I, D), a + "mlp.down_proj.weight": mg.rnd(D, I)})
    return sd


def base_config(**kw):
    cfg = {"model_type": "phi3", "architectures": ["Phi3ForCausalLM"], "vocab_size": V, "intermediate_size": I,
           "num_hidden_layers": L, "max_position_embeddings": 64, "original_max_position_embeddings": 64,
           "rms_norm_eps": 1e-5, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": PAD,
           "rope_theta": 10000.0, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attention_dropout": 0.0}
    cfg.update(kw)
    return cfg


def base():
    cfg = base_config(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
                      sliding_window=4)
    mg.OUT = OUT
    mg.llama_case("base", Phi3ForCausalLM, cfg, weights(32, 4, 2, tie=False))


def padding_gradient():
    """The gradient of sum(logits * R) with respect to the base model's embedding, from ids holding pad_token_id:
    nn.Embedding(padding_idx=pad_token_id) gives the padding row no gradient from its lookups."""
    model = mg.hf(Phi3ForCausalLM, os.path.join(OUT, "base", "model"))
    ids = torch.randint(0, V - 1, (2, 6))
    ids[0, 1], ids[1, 4] = PAD, PAD
    r = mg.rnd(2, 6, V, std=0.1)
    (model(ids).logits * r).sum().backward()
    g = {"input_ids": ids, "r": r, "grad.embed_tokens": model.model.embed_tokens.weight.grad}
    os.makedirs(os.path.join(OUT, "padgrad"), exist_ok=True)
    mg.save_golden(os.path.join(OUT, "padgrad"), g, {"family": "phi3", "reference": "transformers.Phi3ForCausalLM (eager)"})


def longrope_config():
    short = [round(1 + 0.5 * torch.rand(()).item(), 4) for _ in range(6)]
    long = [round(1 + 19 * torch.rand(()).item(), 4) for _ in range(6)]
    long.sort()
    return base_config(hidden_size=64, num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=True,
                       original_max_position_embeddings=8, partial_rotary_factor=0.75,
                       rope_scaling={"type": "longrope", "short_factor": short, "long_factor": long})


def crossing(g, model, ids):
    """generate() from two left-padded prompts whose sequence passes original_max_position_embeddings on the way."""
    ids = ids[:, :5].clone()
    mask = torch.ones_like(ids)
    ids[1, :2], mask[1, :2] = PAD, 0
    g["cross.input_ids"], g["cross.attention_mask"] = ids, mask
    gen = model.generate(ids, attention_mask=mask, max_new_tokens=mg.NEW_TOKENS, do_sample=False, pad_token_id=PAD,
                         eos_token_id=None, return_dict_in_generate=True, output_logits=True)
    g["cross.generate.ids"] = gen.sequences[:, ids.shape[1]:]
    g["cross.logits"] = torch.stack(gen.logits, dim=1)
    return min((s.topk(2).values[:, 0] - s.topk(2).values[:, 1]).min().item() for s in gen.logits)


def longrope():
    cfg = longrope_config()
    root = os.path.join(OUT, "longrope")
    folder = os.path.join(root, "model")
    mg.write_model(folder, cfg, weights(64, 4, 1, tie=True))
    model, sdpa = mg.hf(Phi3ForCausalLM, folder), mg.hf(Phi3ForCausalLM, folder, "sdpa")
    assert model.model.rotary_emb.rope_type == "longrope"
    T = 9
    ids = torch.randint(0, V, (2, T))
    g = {"input_ids": ids}
    with torch.no_grad():
        mg.put_outputs(g, "", model(ids, output_hidden_states=True, output_attentions=True))
        g["short.input_ids"] = ids[:, :8]
        g["short.logits"] = model(ids[:, :8]).logits
        mask = torch.ones(2, T, dtype=torch.int64)
        mask[1, T - 3:] = 0
        g["padded.attention_mask"] = mask
        g["padded.logits"] = sdpa(ids, attention_mask=mask).logits.masked_fill(mask[..., None] == 0, 0)
        g["kv.prefix_len"] = torch.tensor([4])
        g["kv.step_logits"] = mg.kv_steps(model, ids, 4)
        gap = mg.left_padded(g, sdpa, ids, 3, PAD)
        gap = min(gap, crossing(g, sdpa, ids))
    if gap < 1e-3:
        print(f"warning: a greedy step is decided by {gap:.2e}", file=sys.stderr)
    mg.save_golden(root, g, {"family": "phi3", "reference": "transformers.Phi3ForCausalLM (eager)", "greedy_gap": gap})


def rope_cases():
    """HF's longrope numbers for configs that spell it in each way Phi3Config accepts."""
    factors = {"short_factor": [1.0, 1.25, 1.5, 2.0], "long_factor": [1.5, 3.0, 7.5, 16.0]}
    small = dict(vocab_size=V, hidden_size=32, intermediate_size=I, num_hidden_layers=1, num_attention_heads=4)
    cases = [
        ("factor from max_position_embeddings / original", dict(small, max_position_embeddings=4096,
         original_max_position_embeddings=256, rope_scaling={"type": "longrope", **factors})),
        ("su is longrope", dict(small, max_position_embeddings=4096, original_max_position_embeddings=256,
                                rope_theta=500.0, rope_scaling={"type": "su", "original_max_position_embeddings": 64, **factors})),
        ("explicit factor", dict(small, max_position_embeddings=4096, original_max_position_embeddings=256,
                                 rope_scaling={"rope_type": "longrope", "factor": 3.0, **factors})),
        ("explicit attention_factor", dict(small, max_position_embeddings=4096, original_max_position_embeddings=256,
                                           rope_scaling={"type": "longrope", "attention_factor": 0.75, **factors})),
        ("factor 1: no attention scaling", dict(small, max_position_embeddings=256, original_max_position_embeddings=256,
                                                rope_scaling={"type": "longrope", **factors})),
        ("rope_parameters, partial rotary", dict(small, hidden_size=64, max_position_embeddings=4096,
         original_max_position_embeddings=1024, rope_parameters={"rope_type": "longrope", "rope_theta": 250.0,
                                                                 "partial_rotary_factor": 0.5, **factors})),
        ("top-level original_max_position_embeddings wins", dict(small, max_position_embeddings=4096,
         original_max_position_embeddings=512, rope_scaling={"type": "longrope", "original_max_position_embeddings": 64,
                                                             **factors})),
    ]
    out = []
    for name, kw in cases:
        cfg = Phi3Config(**copy.deepcopy(kw))  # Phi3Config fills the dicts it is given
        fn = ROPE_INIT_FUNCTIONS["longrope"]
        short, scale = fn(cfg)
        long, _ = fn(cfg, seq_len=cfg.rope_parameters["original_max_position_embeddings"] + 1)
        out.append({"name": name, "config": dict(kw, model_type="phi3"), "short_inv_freq": short.tolist(),
                    "long_inv_freq": long.tolist(), "attention_factor": scale,
                    "original_max_position_embeddings": cfg.rope_parameters["original_max_position_embeddings"]})
    with open(os.path.join(OUT, "rope_cases.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    base()
    longrope()
    rope_cases()
    padding_gradient()
    print("phi3 goldens written to", os.path.normpath(OUT))
