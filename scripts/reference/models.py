"""Plain-PyTorch reference implementations of GPT-2, BERT and LLaMA/Mistral.

Each follows Hugging Face Transformers' modeling code step for step, with its
weight names and layouts (GPT-2's Conv1D weights are [in, out]; nn.Linear
weights are [out, in]), so that a state dict written here loads into Hugging
Face's classes and the other way round. Debian's python3-torch 1.13 runs it;
`transformers` is not needed.
"""
import math

import torch
import torch.nn.functional as F

NEG = torch.finfo(torch.float32).min  # Hugging Face's additive mask value


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACT = {"gelu_new": gelu_new, "gelu": F.gelu, "relu": F.relu, "silu": F.silu, "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh")}


def additive_mask(allowed):
    """bool [B, 1, Q, K] (True = may attend) -> additive float mask."""
    return torch.where(allowed, torch.zeros((), dtype=torch.float32), torch.tensor(NEG))


def attend(q, k, v, mask, scale):
    """q [B,H,Q,d], k/v [B,H,K,d], additive mask [B,1,Q,K] -> (out [B,H,Q,d], probs)."""
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale + mask
    probs = torch.softmax(scores, dim=-1)
    return torch.matmul(probs, v), probs


# ---------------------------------------------------------------- GPT-2

def gpt2_forward(sd, cfg, input_ids, attention_mask=None, past=None, prefix=""):
    """GPT2LMHeadModel.forward: returns logits, hidden_states (L+1), attentions, presents.

    past is a list of (k, v) per layer, each [B, H, P, d]; positions continue after P.
    """
    p = lambda n: sd[prefix + n]
    B, T = input_ids.shape
    D, H, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    d = D // H
    P = 0 if past is None else past[0][0].shape[2]
    pos = torch.arange(P, P + T).unsqueeze(0)
    x = p("wte.weight")[input_ids] + p("wpe.weight")[pos]
    K = P + T
    causal = torch.ones(T, K, dtype=torch.bool).tril(diagonal=P)[None, None]
    allowed = causal
    if attention_mask is not None:
        allowed = allowed & attention_mask.bool()[:, None, None, :]
    mask = additive_mask(allowed)
    hidden, attns, presents = [], [], []
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    for i in range(L):
        hidden.append(x)
        h = F.layer_norm(x, (D,), p(f"h.{i}.ln_1.weight"), p(f"h.{i}.ln_1.bias"), eps)
        qkv = h @ p(f"h.{i}.attn.c_attn.weight") + p(f"h.{i}.attn.c_attn.bias")
        q, k, v = qkv.split(D, dim=2)
        q, k, v = [t.view(B, T, H, d).transpose(1, 2) for t in (q, k, v)]
        if past is not None:
            k = torch.cat([past[i][0], k], dim=2)
            v = torch.cat([past[i][1], v], dim=2)
        presents.append((k, v))
        o, probs = attend(q, k, v, mask, 1.0 / math.sqrt(d))
        attns.append(probs)
        o = o.transpose(1, 2).reshape(B, T, D)
        x = x + (o @ p(f"h.{i}.attn.c_proj.weight") + p(f"h.{i}.attn.c_proj.bias"))
        h = F.layer_norm(x, (D,), p(f"h.{i}.ln_2.weight"), p(f"h.{i}.ln_2.bias"), eps)
        h = ACT[cfg.get("activation_function", "gelu_new")](h @ p(f"h.{i}.mlp.c_fc.weight") + p(f"h.{i}.mlp.c_fc.bias"))
        x = x + (h @ p(f"h.{i}.mlp.c_proj.weight") + p(f"h.{i}.mlp.c_proj.bias"))
    x = F.layer_norm(x, (D,), p("ln_f.weight"), p("ln_f.bias"), eps)
    hidden.append(x)
    logits = x @ p("wte.weight").T
    return logits, hidden, attns, presents


# ---------------------------------------------------------------- BERT

def bert_encoder(sd, cfg, input_ids, token_type_ids=None, attention_mask=None, prefix="bert."):
    """BertModel.forward: returns sequence output, pooled output, hidden_states (L+1), attentions."""
    p = lambda n: sd[prefix + n]
    B, T = input_ids.shape
    D, H, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    d = D // H
    eps = cfg.get("layer_norm_eps", 1e-12)
    act = ACT[cfg.get("hidden_act", "gelu")]
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    pos = torch.arange(T).unsqueeze(0)
    x = (p("embeddings.word_embeddings.weight")[input_ids] + p("embeddings.token_type_embeddings.weight")[token_type_ids]
         + p("embeddings.position_embeddings.weight")[pos])
    x = F.layer_norm(x, (D,), p("embeddings.LayerNorm.weight"), p("embeddings.LayerNorm.bias"), eps)
    allowed = torch.ones(B, 1, T, T, dtype=torch.bool)
    if attention_mask is not None:
        allowed = allowed & attention_mask.bool()[:, None, None, :]
    mask = additive_mask(allowed)
    lin = lambda t, n: F.linear(t, p(n + ".weight"), p(n + ".bias"))
    hidden, attns = [x], []
    for i in range(L):
        a = f"encoder.layer.{i}."
        q, k, v = [lin(x, a + "attention.self." + n).view(B, T, H, d).transpose(1, 2) for n in ("query", "key", "value")]
        o, probs = attend(q, k, v, mask, 1.0 / math.sqrt(d))
        attns.append(probs)
        o = o.transpose(1, 2).reshape(B, T, D)
        x = F.layer_norm(lin(o, a + "attention.output.dense") + x, (D,), p(a + "attention.output.LayerNorm.weight"),
                         p(a + "attention.output.LayerNorm.bias"), eps)
        h = act(lin(x, a + "intermediate.dense"))
        x = F.layer_norm(lin(h, a + "output.dense") + x, (D,), p(a + "output.LayerNorm.weight"), p(a + "output.LayerNorm.bias"), eps)
        hidden.append(x)
    pooled = torch.tanh(lin(x[:, 0], "pooler.dense"))
    return x, pooled, hidden, attns


def bert_mlm_logits(sd, cfg, seq):
    """BertForMaskedLM's head (decoder tied to the word embeddings)."""
    D = cfg["hidden_size"]
    h = F.linear(seq, sd["cls.predictions.transform.dense.weight"], sd["cls.predictions.transform.dense.bias"])
    h = ACT[cfg.get("hidden_act", "gelu")](h)
    h = F.layer_norm(h, (D,), sd["cls.predictions.transform.LayerNorm.weight"], sd["cls.predictions.transform.LayerNorm.bias"],
                     cfg.get("layer_norm_eps", 1e-12))
    return h @ sd["bert.embeddings.word_embeddings.weight"].T + sd["cls.predictions.bias"]


# ---------------------------------------------------------------- LLaMA / Mistral

def rope_inv_freq(cfg, d):
    theta = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        lo_wl, hi_wl = old / lo, old / hi
        wl = 2 * math.pi / inv
        inv_l = torch.where(wl > lo_wl, inv / factor, inv)
        smooth = (old / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        medium = ~(wl < hi_wl) * ~(wl > lo_wl)
        inv = torch.where(medium, smoothed, inv_l)
    elif rs and rs.get("rope_type", rs.get("type")) == "linear":
        inv = inv / rs["factor"]
    return inv


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rms_norm(x, w, eps):
    v = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(v + eps))


def llama_forward(sd, cfg, input_ids, attention_mask=None, past=None):
    """LlamaForCausalLM / MistralForCausalLM forward: logits, hidden_states (L+1), attentions, presents."""
    p = lambda n: sd[n]
    B, T = input_ids.shape
    D, H, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    KVH = cfg.get("num_key_value_heads") or H
    d = cfg.get("head_dim") or D // H
    eps = cfg.get("rms_norm_eps", 1e-6)
    P = 0 if past is None else past[0][0].shape[2]
    K = P + T
    qpos = torch.arange(P, P + T)
    kpos = torch.arange(K)
    allowed = kpos[None, :] <= qpos[:, None]
    if cfg.get("sliding_window"):
        # Hugging Face (masking_utils.sliding_window_overlay): key kv may be seen from query q iff kv > q - window.
        allowed = allowed & (kpos[None, :] > qpos[:, None] - cfg["sliding_window"])
    allowed = allowed[None, None]
    if attention_mask is not None:
        allowed = allowed & attention_mask.bool()[:, None, None, :]
    mask = additive_mask(allowed)
    inv = rope_inv_freq(cfg, d)
    freqs = qpos.float()[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[None, None], emb.sin()[None, None]
    bias = cfg.get("attention_bias", False)
    lin = lambda t, n, b=False: F.linear(t, p(n + ".weight"), p(n + ".bias") if b else None)
    x = p("model.embed_tokens.weight")[input_ids]
    hidden, attns, presents = [], [], []
    for i in range(L):
        a = f"model.layers.{i}."
        hidden.append(x)
        h = rms_norm(x, p(a + "input_layernorm.weight"), eps)
        q = lin(h, a + "self_attn.q_proj", bias).view(B, T, H, d).transpose(1, 2)
        k = lin(h, a + "self_attn.k_proj", bias).view(B, T, KVH, d).transpose(1, 2)
        v = lin(h, a + "self_attn.v_proj", bias).view(B, T, KVH, d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past is not None:
            k = torch.cat([past[i][0], k], dim=2)
            v = torch.cat([past[i][1], v], dim=2)
        presents.append((k, v))
        rep = H // KVH
        kr = k[:, :, None].expand(B, KVH, rep, K, d).reshape(B, H, K, d)
        vr = v[:, :, None].expand(B, KVH, rep, K, d).reshape(B, H, K, d)
        o, probs = attend(q, kr, vr, mask, 1.0 / math.sqrt(d))
        attns.append(probs)
        o = o.transpose(1, 2).reshape(B, T, H * d)
        x = x + lin(o, a + "self_attn.o_proj", bias)
        h = rms_norm(x, p(a + "post_attention_layernorm.weight"), eps)
        mb = cfg.get("mlp_bias", False)
        h = lin(F.silu(lin(h, a + "mlp.gate_proj", mb)) * lin(h, a + "mlp.up_proj", mb), a + "mlp.down_proj", mb)
        x = x + h
    x = rms_norm(x, p("model.norm.weight"), eps)
    hidden.append(x)
    head = sd["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else sd["lm_head.weight"]
    return x @ head.T, hidden, attns, presents
