"""Writes the tiny random Qwen2 and Qwen3 models and the golden outputs of Hugging Face's own classes.

    HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/goldens_qwen.py [OUT_DIR]

OUT_DIR defaults to models/testdata/golden. Four cases, each a folder <case>/ with model/ (config.json +
model.safetensors) and golden.safetensors, computed as make_goldens.py computes LLaMA's (its helpers, float64,
eager attention; padded batches through SDPA):

- qwen2: Qwen2ForCausalLM: q/k/v projections with biases, o_proj without, untied head, grouped-query attention,
  rope_theta written at the top level (as Qwen2.5's own config.json files have it).
- qwen2_sliding: Qwen2 with use_sliding_window, sliding_window 3 and max_window_layers 1: layer 0 attends to every
  earlier token, layers 1 and 2 to the last 3 only (shorter than the 9-token input).
- qwen3: Qwen3ForCausalLM: per-head q/k RMSNorm (random weights) before the rotary embedding, head_dim 16 where
  hidden_size / num_attention_heads is 8, no biases, untied head, rope_parameters as transformers 5 writes it.
- qwen3_tied: Qwen3 with a tied head, attention_bias (all four projections), one key/value head, and layer_types
  given explicitly (sliding, full, sliding) with sliding_window 4, which take precedence over max_window_layers.
"""
import os
import sys

import torch
from transformers import Qwen2ForCausalLM, Qwen3ForCausalLM

import make_goldens as mg

torch.manual_seed(20270301)
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "models", "testdata", "golden")
mg.OUT = OUT
rnd, norm_w = mg.rnd, mg.norm_w


def qwen_weights(V, D, H, KVH, d, I, L, tie, qkv_bias, o_bias, qk_norm):
    sd = {"model.embed_tokens.weight": rnd(V, D), "model.norm.weight": norm_w(D)}
    if not tie:
        sd["lm_head.weight"] = rnd(V, D)
    for i in range(L):
        a = f"model.layers.{i}."
        sd.update({a + "input_layernorm.weight": norm_w(D), a + "post_attention_layernorm.weight": norm_w(D),
                   a + "self_attn.q_proj.weight": rnd(H * d, D), a + "self_attn.k_proj.weight": rnd(KVH * d, D),
                   a + "self_attn.v_proj.weight": rnd(KVH * d, D), a + "self_attn.o_proj.weight": rnd(D, H * d),
                   a + "mlp.gate_proj.weight": rnd(I, D), a + "mlp.up_proj.weight": rnd(I, D), a + "mlp.down_proj.weight": rnd(D, I)})
        if qkv_bias:
            sd.update({a + "self_attn.q_proj.bias": rnd(H * d, std=0.1), a + "self_attn.k_proj.bias": rnd(KVH * d, std=0.1),
                       a + "self_attn.v_proj.bias": rnd(KVH * d, std=0.1)})
        if o_bias:
            sd[a + "self_attn.o_proj.bias"] = rnd(D, std=0.1)
        if qk_norm:
            sd[a + "self_attn.q_norm.weight"], sd[a + "self_attn.k_norm.weight"] = norm_w(d), norm_w(d)
    return sd


def main():
    V, D, H, I = 96, 32, 4, 48
    base = {"vocab_size": V, "hidden_size": D, "num_attention_heads": H, "intermediate_size": I,
            "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2}
    qwen2 = dict(base, model_type="qwen2", architectures=["Qwen2ForCausalLM"], num_key_value_heads=2, num_hidden_layers=2,
                 rope_theta=1000000.0, tie_word_embeddings=False, use_sliding_window=False, sliding_window=32768,
                 max_window_layers=28)
    mg.llama_case("qwen2", Qwen2ForCausalLM, qwen2, qwen_weights(V, D, H, 2, 8, I, 2, False, True, False, False))

    sliding = dict(qwen2, num_hidden_layers=3, use_sliding_window=True, sliding_window=3, max_window_layers=1)
    mg.llama_case("qwen2_sliding", Qwen2ForCausalLM, sliding, qwen_weights(V, D, H, 2, 8, I, 3, False, True, False, False))

    qwen3 = dict(base, model_type="qwen3", architectures=["Qwen3ForCausalLM"], num_key_value_heads=2, num_hidden_layers=2,
                 head_dim=16, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, attention_bias=False,
                 tie_word_embeddings=False, use_sliding_window=False, sliding_window=None, max_window_layers=28)
    mg.llama_case("qwen3", Qwen3ForCausalLM, qwen3, qwen_weights(V, D, H, 2, 16, I, 2, False, False, False, True))

    tied = dict(qwen3, num_key_value_heads=1, num_hidden_layers=3, head_dim=8, attention_bias=True,
                tie_word_embeddings=True, use_sliding_window=True, sliding_window=4,
                layer_types=["sliding_attention", "full_attention", "sliding_attention"])
    mg.llama_case("qwen3_tied", Qwen3ForCausalLM, tied, qwen_weights(V, D, H, 1, 8, I, 3, True, True, True, True))
    print("qwen goldens written to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
