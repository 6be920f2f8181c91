"""Writes models/testdata/golden/generation.json: what Hugging Face's generate() does with beam search and with
logits processors on the tiny golden models, and what its sampling warpers keep of random logits.

    .deps/venv/bin/python scripts/reference/generation.py      (make reference runs it; make venv builds .deps/venv)

The models are the golden folders make_goldens.py writes (gpt2, llama, mistral), loaded by their Hugging Face
classes in float64. Each prompt is generated alone; the Go test runs them as one batch, so it also checks that
batching changes nothing. For every beam case the file keeps the returned sequences (generated tokens, the stop
token included) and sequences_scores.
"""
import json
import os
import sys

import torch
import transformers
from transformers import (GPT2LMHeadModel, LlamaForCausalLM, LogitsProcessorList, MinPLogitsWarper,
                          MistralForCausalLM, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper,
                          TypicalLogitsWarper)

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
torch.manual_seed(20261202)
GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "models", "testdata", "golden")
FAMILIES = {"gpt2": GPT2LMHeadModel, "llama": LlamaForCausalLM, "mistral": MistralForCausalLM}


def load(family):
    folder = os.path.join(GOLDEN, family, "model")
    return FAMILIES[family].from_pretrained(folder, dtype=torch.float64, attn_implementation="eager").eval()


def generated(out, prompt_len, i, eos):
    """The generated tokens of returned sequence i: up to and including the first stop token, else all."""
    seq = out.sequences[i, prompt_len:].tolist()
    if eos is not None and eos in seq:
        seq = seq[:seq.index(eos) + 1]
    return seq


def run(model, prompt, opts):
    ids = torch.tensor([prompt])
    kwargs = dict(opts)
    eos = kwargs.pop("eos_token_id", None)
    out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, eos_token_id=eos,
                         pad_token_id=eos if eos is not None else 0, return_dict_in_generate=True, output_scores=True,
                         **kwargs)
    n = opts.get("num_return_sequences", 1)
    case = {"sequences": [generated(out, len(prompt), i, eos) for i in range(n)]}
    if getattr(out, "sequences_scores", None) is not None:
        case["scores"] = out.sequences_scores.tolist()
    return case


def main():
    out = {"transformers": transformers.__version__, "torch": torch.__version__, "beam": [], "greedy": [],
           "warpers": []}
    for family in FAMILIES:
        model = load(family)
        vocab = model.config.vocab_size
        prompts = [[5, 17, 3, 40], [11, 2], [60, 61, 62, 63, 64, 7]]
        # A stop token the beams actually meet: the commonest token of a plain 4-beam search.
        plain = [run(model, p, {"num_beams": 4, "max_new_tokens": 10, "num_return_sequences": 4}) for p in prompts]
        counts = torch.bincount(torch.tensor([t for c in plain for s in c["sequences"] for t in s[1:]]),
                                minlength=vocab)
        eos = int(counts.argmax())
        cases = [
            {"num_beams": 4, "max_new_tokens": 10},
            {"num_beams": 3, "max_new_tokens": 12, "eos_token_id": eos, "num_return_sequences": 3},
            {"num_beams": 3, "max_new_tokens": 12, "eos_token_id": eos, "early_stopping": True, "length_penalty": 2.0},
            {"num_beams": 4, "max_new_tokens": 12, "eos_token_id": eos, "early_stopping": "never",
             "length_penalty": 0.5, "num_return_sequences": 2},
            {"num_beams": 4, "max_new_tokens": 12, "eos_token_id": eos, "length_penalty": -0.5},
            {"num_beams": 4, "max_new_tokens": 10, "eos_token_id": eos, "no_repeat_ngram_size": 2,
             "repetition_penalty": 1.3},
        ]
        for opts in cases:
            out["beam"].append({"family": family, "prompts": prompts, "options": opts,
                                "outputs": [run(model, p, opts) for p in prompts]})
        greedy = [
            {"max_new_tokens": 12, "no_repeat_ngram_size": 2},
            {"max_new_tokens": 12, "suppress_tokens": [eos, 1, 2, 3]},
            {"max_new_tokens": 12, "eos_token_id": eos, "min_new_tokens": 6},
            {"max_new_tokens": 12, "repetition_penalty": 1.5, "no_repeat_ngram_size": 3},
        ]
        for opts in greedy:
            out["greedy"].append({"family": family, "prompts": prompts, "options": opts,
                                  "outputs": [run(model, p, opts) for p in prompts]})
    for opts in [{"min_p": 0.1}, {"min_p": 0.3, "temperature": 0.5}, {"typical_p": 0.5}, {"typical_p": 0.9},
                 {"temperature": 0.7, "top_k": 20, "top_p": 0.9, "min_p": 0.05, "typical_p": 0.9}]:
        logits = torch.randn(6, 64, dtype=torch.float32) * 3
        chain = LogitsProcessorList()
        if "temperature" in opts:
            chain.append(TemperatureLogitsWarper(opts["temperature"]))
        if "top_k" in opts:
            chain.append(TopKLogitsWarper(opts["top_k"]))
        if "top_p" in opts:
            chain.append(TopPLogitsWarper(opts["top_p"]))
        if "min_p" in opts:
            chain.append(MinPLogitsWarper(opts["min_p"]))
        if "typical_p" in opts:
            chain.append(TypicalLogitsWarper(opts["typical_p"]))
        kept = chain(torch.zeros(6, 1, dtype=torch.long), logits.clone())
        out["warpers"].append({"options": opts, "logits": logits.tolist(),
                               "kept": [torch.isfinite(r).nonzero().flatten().tolist() for r in kept]})
    path = os.path.join(GOLDEN, "generation.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(out['beam'])} beam cases, {len(out['greedy'])} greedy, {len(out['warpers'])} warpers")


if __name__ == "__main__":
    sys.exit(main())
