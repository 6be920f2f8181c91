"""PyTorch forward hooks on transformers' own classes: the activations and interventions models/modeling's hooks
are checked against.

    HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/hooks.py     (make reference builds .deps/venv)

For the golden models of make_goldens.py (GPT2LMHeadModel, LlamaForCausalLM, BertModel; float64, eager attention),
on their golden input_ids (row 0 is prompt A, row 1 prompt B), into models/testdata/golden/hooks/<family>.safetensors:

- lens.<i>: the logit lens, layer i's input (hidden_states[i]) through the final norm and the head (decoders);
- cache.<hook>: prompt A's activations at every hook point, taken with register_forward_pre_hook on each block
  (resid_pre; block 0's is also "embed"), register_forward_hook on each block (resid_post), its attention module
  (attn_out: output[0], after the output projection; BERT's BertAttention, after its add and LayerNorm), its MLP
  (mlp_out) and the final norm (final_norm), and output_attentions (attn_pattern);
- patch.logits: A's logits with block 1's output at position 3 replaced by B's (activation patching);
- ablate.logits: A's logits with layer 0's attention output set to 0 at positions 2 and 5;
- steer.vector, steer.logits: A's logits with a vector added to block 0's output at every position; for the decoders
  also steer.generate: generate()'s 6 greedy ids from A's first 5 tokens with that hook on (it adds the vector at
  every step, to the new position).

And for the real SmolLM2-135M-Instruct (the GGUF in .deps/models, dequantized, float64), models/testdata/hooks/
smollm2_patching.safetensors: a factual-recall pair (clean: the Eiffel Tower's city, corrupted: the Colosseum's, the
same number of tokens), and for every layer and position the logit difference logit(" Paris") - logit(" Rome") at
the last position of the corrupted prompt with that layer's input (resid_pre) at that position patched from the
clean prompt: the activation-patching map.
"""
import os
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, BertModel, GPT2LMHeadModel, LlamaForCausalLM

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
GOLDEN = os.path.join(ROOT, "models", "testdata", "golden")
MODELS = os.environ.get("TRUSTFORMERS_MODELS", os.path.join(ROOT, ".deps", "models"))


def first(out):
    return out[0] if isinstance(out, tuple) else out


def parts(family, model):
    """The blocks, each block's attention and MLP modules, and the final norm of model."""
    if family == "gpt2":
        blocks = model.transformer.h
        return blocks, [b.attn for b in blocks], [b.mlp for b in blocks], model.transformer.ln_f
    if family == "llama":
        blocks = model.model.layers
        return blocks, [b.self_attn for b in blocks], [b.mlp for b in blocks], model.model.norm
    blocks = model.encoder.layer
    return blocks, [b.attention for b in blocks], [], None


def run(model, family, ids, edits=(), cache=None):
    """Runs model on ids with edits (a list of (module, kind, fn): kind "pre" or "post", fn(activation) -> new) and,
    when cache is a dict, records every hook point's activation into it. Returns the output."""
    blocks, attns, mlps, norm = parts(family, model)
    handles = []

    def keep(name, x):
        if cache is not None:
            cache[name] = x.detach().clone()

    def pre(i):
        def hook(module, args, kwargs):
            x = args[0] if args else kwargs["hidden_states"]
            if i == 0:
                keep("embed", x)
            keep(f"blocks.{i}.resid_pre", x)
        return hook

    def post(name):
        def hook(module, args, out):
            keep(name, first(out))
        return hook

    for module, kind, fn in edits:
        if kind == "pre":
            handles.append(module.register_forward_pre_hook(fn, with_kwargs=True))
        else:
            handles.append(module.register_forward_hook(fn))
    for i, b in enumerate(blocks):
        handles.append(b.register_forward_pre_hook(pre(i), with_kwargs=True))
        handles.append(b.register_forward_hook(post(f"blocks.{i}.resid_post")))
        handles.append(attns[i].register_forward_hook(post(f"blocks.{i}.attn_out")))
    for i, m in enumerate(mlps):
        handles.append(m.register_forward_hook(post(f"blocks.{i}.mlp_out")))
    if norm is not None:
        handles.append(norm.register_forward_hook(post("final_norm")))
    try:
        with torch.no_grad():
            out = model(input_ids=ids, output_attentions=True)
    finally:
        for h in handles:
            h.remove()
    if cache is not None:
        for i, a in enumerate(out.attentions):
            cache[f"blocks.{i}.attn_pattern"] = a
    return out


def replace_output(fn):
    """A forward hook that replaces a module's (first) output by fn(output)."""
    def hook(module, args, out):
        if isinstance(out, tuple):
            return (fn(out[0]),) + tuple(out[1:])
        return fn(out)
    return hook


def family(name, cls):
    folder = os.path.join(GOLDEN, name, "model")
    model = cls.from_pretrained(folder, dtype=torch.float64, attn_implementation="eager").eval()
    ids = load_file(os.path.join(GOLDEN, name, "golden.safetensors"))["input_ids"].to(torch.int64)
    a, b = ids[0:1], ids[1:2]
    blocks, attns, _, _ = parts(name, model)
    g = {"input_ids": ids}
    cache_a, cache_b = {}, {}
    out = run(model, name, a, cache=cache_a)
    run(model, name, b, cache=cache_b)
    for k, v in cache_a.items():
        g["cache." + k] = v
    head = out.logits if name != "bert" else out.last_hidden_state
    g["logits"] = head
    if name != "bert":
        # The logit lens: each layer's input through the final norm and the head.
        _, _, _, norm = parts(name, model)
        with torch.no_grad():
            hidden = model(input_ids=a, output_hidden_states=True).hidden_states
            for i in range(len(blocks)):
                g[f"lens.{i}"] = model.lm_head(norm(hidden[i]))

    def patched(x):
        x = x.clone()
        x[:, 3] = cache_b["blocks.1.resid_post"][:, 3]
        return x
    o = run(model, name, a, edits=[(blocks[1], "post", replace_output(patched))])
    g["patch.logits"] = o.logits if name != "bert" else o.last_hidden_state

    def ablated(x):
        x = x.clone()
        x[:, [2, 5]] = 0
        return x
    o = run(model, name, a, edits=[(attns[0], "post", replace_output(ablated))])
    g["ablate.logits"] = o.logits if name != "bert" else o.last_hidden_state

    torch.manual_seed(7)
    vector = torch.randn(head.shape[-1] if name == "bert" else model.config.hidden_size, dtype=torch.float64)
    g["steer.vector"] = vector
    steer = replace_output(lambda x: x + vector)
    o = run(model, name, a, edits=[(blocks[0], "post", steer)])
    g["steer.logits"] = o.logits if name != "bert" else o.last_hidden_state
    if name != "bert":
        h = blocks[0].register_forward_hook(steer)
        try:
            with torch.no_grad():
                gen = model.generate(a[:, :5], max_new_tokens=6, do_sample=False, pad_token_id=0)
        finally:
            h.remove()
        g["steer.generate"] = gen[:, 5:]
    os.makedirs(os.path.join(GOLDEN, "hooks"), exist_ok=True)
    save(g, os.path.join(GOLDEN, "hooks", name + ".safetensors"))


def save(g, path):
    out = {}
    for k, v in g.items():
        v = v.detach()
        out[k] = (v.to(torch.int64) if v.dtype in (torch.int64, torch.int32) else v.to(torch.float32)).contiguous()
    meta = {"format": "pt", "transformers": transformers.__version__, "torch": torch.__version__}
    save_file(out, path, metadata=meta)
    print(path, len(out), "tensors")


def smollm2():
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    tok = AutoTokenizer.from_pretrained(MODELS, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(MODELS, gguf_file=name, dtype=torch.float32).double().eval()
    clean_text = "The Eiffel Tower is in the city of"
    corrupt_text = "The Colosseum is in the city of"
    clean = tok(clean_text, return_tensors="pt").input_ids
    corrupt = tok(corrupt_text, return_tensors="pt").input_ids
    if clean.shape != corrupt.shape:
        sys.exit(f"the prompts have {clean.shape[1]} and {corrupt.shape[1]} tokens: choose a pair of equal length")
    paris, rome = tok(" Paris").input_ids, tok(" Rome").input_ids
    assert len(paris) == 1 and len(rome) == 1, (paris, rome)
    blocks = model.model.layers
    cache = {}
    run(model, "llama", clean, cache=cache)

    def diff(logits):
        return logits[0, -1, paris[0]] - logits[0, -1, rome[0]]
    base = run(model, "llama", corrupt).logits
    T, L = clean.shape[1], len(blocks)
    grid = torch.zeros(L, T, dtype=torch.float64)
    for layer in range(L):
        for pos in range(T):
            def patch(module, args, kwargs, layer=layer, pos=pos):
                x = (args[0] if args else kwargs["hidden_states"]).clone()
                x[:, pos] = cache[f"blocks.{layer}.resid_pre"][:, pos]
                if args:
                    return (x,) + tuple(args[1:]), kwargs
                return args, dict(kwargs, hidden_states=x)
            out = run(model, "llama", corrupt, edits=[(blocks[layer], "pre", patch)])
            grid[layer, pos] = diff(out.logits)
    print("clean", float(diff(run(model, "llama", clean).logits)), "corrupt", float(diff(base)))
    os.makedirs(os.path.join(ROOT, "models", "testdata", "hooks"), exist_ok=True)
    save({"clean_ids": clean, "corrupt_ids": corrupt, "targets": torch.tensor([[paris[0], rome[0]]]),
          "clean_diff": diff(run(model, "llama", clean).logits).reshape(1), "corrupt_diff": diff(base).reshape(1),
          "patching": grid}, os.path.join(ROOT, "models", "testdata", "hooks", "smollm2_patching.safetensors"))


if __name__ == "__main__":
    family("gpt2", GPT2LMHeadModel)
    family("llama", LlamaForCausalLM)
    family("bert", BertModel)
    smollm2()
