"""Writes models/testdata/golden/losses.json: the training losses Hugging Face's classes compute from labels on the
tiny golden models, for the losses of package training to match.

    .deps/venv/bin/python scripts/reference/losses.py      (make reference runs it; make venv builds .deps/venv)

- causal LM: GPT2LMHeadModel and LlamaForCausalLM with labels = input_ids (the model shifts them), some labels -100;
- masked LM: BertForMaskedLM with labels -100 except at the masked positions;
- sequence classification: BertForSequenceClassification with one label per row (num_labels 3: cross-entropy).

Models are loaded in float64 and in eval mode (no dropout), as the Go side evaluates them.
"""
import json
import os

import torch
import transformers
from transformers import BertForMaskedLM, BertForSequenceClassification, GPT2LMHeadModel, LlamaForCausalLM

transformers.logging.set_verbosity_error()
torch.manual_seed(20261203)
GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "models", "testdata", "golden")


def load(cls, *path):
    return cls.from_pretrained(os.path.join(GOLDEN, *path), dtype=torch.float64, attn_implementation="eager").eval()


def main():
    out = {"transformers": transformers.__version__, "torch": torch.__version__, "cases": []}
    with torch.no_grad():
        for family, cls in (("gpt2", GPT2LMHeadModel), ("llama", LlamaForCausalLM)):
            model = load(cls, family, "model")
            ids = torch.randint(0, model.config.vocab_size, (3, 9))
            labels = ids.clone()
            labels[1, 4:] = -100  # a row whose tail is ignored
            loss = model(input_ids=ids, labels=labels).loss.item()
            out["cases"].append({"name": f"{family} causal LM", "kind": "causal-lm", "model": f"{family}/model",
                                 "input_ids": ids.tolist(), "labels": labels.tolist(), "loss": loss})

        mlm = load(BertForMaskedLM, "bert", "model")
        V = mlm.config.vocab_size
        ids = torch.randint(1, V, (2, 8))
        types = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 0, 0]])
        mask = torch.ones(2, 8, dtype=torch.int64)
        mask[1, 6:] = 0
        labels = torch.full((2, 8), -100)
        for row, col in ((0, 2), (0, 5), (1, 1), (1, 3), (1, 4)):
            labels[row, col] = ids[row, col]
            ids[row, col] = 3  # the [MASK]-like token the labels are hidden behind
        loss = mlm(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels).loss.item()
        out["cases"].append({"name": "bert masked LM", "kind": "masked-lm", "model": "bert/model", "input_ids": ids.tolist(),
                             "token_type_ids": types.tolist(), "attention_mask": mask.tolist(), "labels": labels.tolist(),
                             "loss": loss})

        cls = load(BertForSequenceClassification, "bert", "seqcls")
        labels = torch.tensor([2, 0])
        loss = cls(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels).loss.item()
        out["cases"].append({"name": "bert sequence classification", "kind": "sequence-classification",
                             "model": "bert/seqcls", "input_ids": ids.tolist(), "token_type_ids": types.tolist(),
                             "attention_mask": mask.tolist(), "labels": labels.tolist(), "loss": loss})
    path = os.path.join(GOLDEN, "losses.json")
    with open(path, "w") as f:  # one case per line
        head = {k: v for k, v in out.items() if k != "cases"}
        f.write(json.dumps(head)[:-1] + ', "cases": [\n' + ",\n".join(json.dumps(c) for c in out["cases"]) + "\n]}\n")
    print("losses written to", os.path.normpath(path))


if __name__ == "__main__":
    main()
