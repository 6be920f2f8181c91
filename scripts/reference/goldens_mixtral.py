"""Writes the tiny random Mixtral models and the golden outputs models/mixtral's tests compare against.

    HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/goldens_mixtral.py [OUT_DIR]

OUT_DIR defaults to models/testdata/golden; the files go into OUT_DIR/mixtral:

- model/: config.json + model.safetensors as MixtralForCausalLM.save_pretrained writes them in transformers 5.23 for
  a model built from its config, converting its fused experts back to the per-expert layout of published checkpoints
  (block_sparse_moe.experts.N.w1/w2/w3.weight, block_sparse_moe.gate.weight);
- model-fused/: the same weights in the layout transformers 5 keeps in memory (mlp.gate.weight,
  mlp.experts.gate_up_proj [E, 2I, D], mlp.experts.down_proj [E, D, I]), as its state_dict() gives them;
- golden.safetensors: what MixtralForCausalLM (float64, eager attention for the unpadded forward) gives: logits,
  hidden states, attentions, router logits per layer (output_router_logits) with the router's chosen experts and
  their weights, a right-padded batch, KV-cache steps,
  a left-padded batch with generate()'s positions and generate()'s greedy ids, the router's load-balancing loss
  (load_balancing_loss_func, with and without an attention mask), and the training loss with labels and
  output_router_logits=True (cross-entropy + router_aux_loss_coef * aux_loss).

Every weight is random, RMSNorm weights included. The sliding window (4) is shorter than the 9-token inputs, and
there are 8 experts with 2 per token (8: the expert-parallel test splits them over 4 devices): a decoding step of the batch of 2 routes 4 token-expert pairs, fewer than
the experts, which models/mixtral computes by gathering the chosen experts rather than running all of them.
"""
import os
import sys

import torch
from transformers import MixtralConfig, MixtralForCausalLM

sys.path.insert(0, os.path.dirname(__file__))
import make_goldens as mg  # noqa: E402  (the shared helpers; importing it runs nothing)

torch.manual_seed(20261208)
OUT = os.path.join(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "models",
                                                                      "testdata", "golden"), "mixtral")
V, D, H, KVH, I, L, E, K, T = 96, 32, 4, 2, 24, 2, 8, 2, 9


def config():
    return {"model_type": "mixtral", "architectures": ["MixtralForCausalLM"], "vocab_size": V, "hidden_size": D,
            "num_attention_heads": H, "num_key_value_heads": KVH, "intermediate_size": I, "num_hidden_layers": L,
            "num_local_experts": E, "num_experts_per_tok": K, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "hidden_act": "silu", "sliding_window": 4, "tie_word_embeddings": False,
            "router_aux_loss_coef": 0.05, "output_router_logits": False, "bos_token_id": 1, "eos_token_id": 2}


def fused_weights():
    """The weights under transformers 5's in-memory names: experts stacked, gate and up fused."""
    sd = {"model.embed_tokens.weight": mg.rnd(V, D), "model.norm.weight": mg.norm_w(D), "lm_head.weight": mg.rnd(V, D)}
    for i in range(L):
        a = f"model.layers.{i}."
        sd.update({a + "input_layernorm.weight": mg.norm_w(D), a + "post_attention_layernorm.weight": mg.norm_w(D),
                   a + "self_attn.q_proj.weight": mg.rnd(D, D), a + "self_attn.k_proj.weight": mg.rnd(KVH * D // H, D),
                   a + "self_attn.v_proj.weight": mg.rnd(KVH * D // H, D), a + "self_attn.o_proj.weight": mg.rnd(D, D),
                   a + "mlp.gate.weight": mg.rnd(E, D, std=0.5),  # wide router logits: clear top-2 choices
                   a + "mlp.experts.gate_up_proj": mg.rnd(E, 2 * I, D), a + "mlp.experts.down_proj": mg.rnd(E, D, I)})
    return sd


def write_folders(cfg, sd):
    fused = os.path.join(OUT, "model-fused")
    mg.write_model(fused, cfg, sd)
    # The per-expert layout of published checkpoints, and transformers 5's config.json (rope_parameters). A model
    # from_pretrained saves the layout it was read in, so this one is built from the config and given the weights.
    model = MixtralForCausalLM(MixtralConfig.from_pretrained(fused))
    model.load_state_dict({k: v.float() for k, v in sd.items()})
    model.save_pretrained(os.path.join(OUT, "model"))


def losses(g, sdpa, ids):
    """The router's load-balancing loss and the training loss with labels, as MixtralForCausalLM computes them."""
    g["aux.loss"] = sdpa(ids, output_router_logits=True).aux_loss
    mask = torch.ones_like(ids)
    mask[1, T - 2:] = 0  # right padding: left out of the load-balancing loss
    labels = ids.clone()
    labels[0, 6:] = -100
    labels[1, T - 2:] = -100
    out = sdpa(ids, attention_mask=mask, labels=labels, output_router_logits=True)
    g["loss.attention_mask"], g["loss.labels"] = mask, labels
    g["loss.value"], g["loss.aux"] = out.loss, out.aux_loss
    g["loss.without_aux"] = sdpa(ids, attention_mask=mask, labels=labels).loss


def hf(folder, attention="eager"):
    """MixtralForCausalLM from folder in float64, its experts run by the eager loop of modeling_mixtral.py (the
    default grouped_mm kernel takes no float64)."""
    m = MixtralForCausalLM.from_pretrained(folder, dtype=torch.float64, attn_implementation=attention,
                                           experts_implementation="eager")
    return m.eval()


def main():
    cfg = config()
    write_folders(cfg, fused_weights())
    model = hf(os.path.join(OUT, "model"))
    sdpa = hf(os.path.join(OUT, "model"), "sdpa")
    ids = torch.randint(0, V, (2, T))
    g = {"input_ids": ids}
    with torch.no_grad():
        routed = []  # each layer's MixtralTopKRouter outputs: logits, renormalized weights, chosen experts
        hooks = [layer.mlp.gate.register_forward_hook(lambda _m, _in, res: routed.append(res)) for layer in model.model.layers]
        out = model(ids, output_hidden_states=True, output_attentions=True, output_router_logits=True)
        for h in hooks:
            h.remove()
        mg.put_outputs(g, "", out)
        g["router.logits"] = torch.stack([r.view(2, T, E) for r in out.router_logits])  # [layers, B, T, E]
        for i, (_, weights, experts) in enumerate(routed):
            g[f"router.weights.{i}"], g[f"router.experts.{i}"] = weights.view(2, T, K), experts.view(2, T, K)
        mask = torch.ones(2, T, dtype=torch.int64)
        mask[1, T - 3:] = 0
        g["padded.attention_mask"] = mask
        g["padded.logits"] = sdpa(ids, attention_mask=mask).logits.masked_fill(mask[..., None] == 0, 0)
        g["kv.prefix_len"] = torch.tensor([4])
        g["kv.step_logits"] = mg.kv_steps(model, ids, 4)
        gap = mg.left_padded(g, sdpa, ids, 3, 0)
        losses(g, sdpa, ids)
    mg.save_golden(OUT, g, {"family": "mixtral", "reference": "transformers.MixtralForCausalLM (eager; sdpa padded)",
                            "greedy_gap": gap})
    print("mixtral goldens written to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
