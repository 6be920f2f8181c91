"""TRL's SFTTrainer + PEFT LoRA on the batches of a lab/sft run: the side-by-side of docs/training.md.

    go run ./lab/sft -runs runs                         (writes runs/sft/<id>/ with reference_batches.safetensors)
    HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/sft_trl.py runs/sft/<id> [--golden FILE] [--answers N]

From the run folder it reads config.json, train.jsonl, heldout.jsonl, answers.jsonl, metrics.jsonl, adapter_init/
(our LoRA adapters at step 0, PEFT's layout) and reference_batches.safetensors (our first steps' packed batches:
ids, targets = labels shifted with -100 where ignored, positions, and the learning rate of each step). It builds
TRL 1.16's SFTTrainer as the run is configured (packing, assistant_only_loss with SmolLM2's template in
{% generation %} blocks, AdamW with the run's betas, epsilon, weight decay and max_grad_norm, float32 on the CPU)
over SmolLM2-135M-Instruct (transformers reading the GGUF in .deps/models, dequantized to float32) with PEFT
loading adapter_init/ as trainable, then trains on exactly our batches in our order: each step's loss is
SFTTrainer.compute_loss on {input_ids, position_ids, labels} (labels un-shifted from our targets, so the model's
own shift gives our targets back; position ids restarting at each packed example make transformers mask attention
across examples), then clip_grad_norm_ and torch.optim.AdamW.step at our step's learning rate.

It prints TRL's losses beside ours (metrics.jsonl) and the largest difference, the median wall-clock of a step on
each side (ours: the run's step time, from its tokens/s) and their ratio; when the file holds every step of the run,
TRL's held-out exact match after training (greedy, the same grading as lab/sft's Extract); and it loads the run's
merged/ folder with AutoTokenizer and AutoModelForCausalLM and answers the first N held-out questions greedily,
beside our answers after training (answers.jsonl). Everything goes to RUN/trl.json; --golden FILE also writes the
losses and the run's settings there (lab/sft/sft/testdata/trl_losses.json, which TestLossesMatchTRL reads).
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import torch
import transformers
from datasets import load_dataset
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.environ.get("TRUSTFORMERS_MODELS", os.path.join(ROOT, ".deps", "models"))
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TEMPLATE = os.path.join(ROOT, "lab", "sft", "sft", "smollm2_training.jinja")


def extract(kind, reply):
    """lab/sft's Extract: the first line, without quotes, a final period or thousands commas."""
    line = reply.strip().split("\n", 1)[0].strip().strip("\"'`.")
    if kind == "reverse":
        return line.lower()
    n = line.replace(",", "")
    if n.lstrip("-").isdigit():
        return n
    return line


def replies(model, tok, questions, max_new):
    out = []
    for q in questions:
        msgs = [{"role": "system", "content": "Answer with the result only."}, {"role": "user", "content": q}]
        ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
        with torch.no_grad():
            gen = model.generate(ids, max_new_tokens=max_new, do_sample=False, eos_token_id=tok.eos_token_id,
                                 pad_token_id=tok.eos_token_id)
        out.append(tok.decode(gen[0, ids.shape[1]:], skip_special_tokens=True).strip())
    return out


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def our_losses(run):
    losses, tok_s = {}, {}
    for m in read_jsonl(os.path.join(run, "metrics.jsonl")):
        if m.get("split") == "train":
            losses[m["step"]] = m["loss"]
            if m.get("tokens_per_sec"):
                tok_s[m["step"]] = m["tokens_per_sec"]
    return losses, tok_s


def trainer_for(run, cfg, model, tok):
    args = SFTConfig(output_dir=tempfile.mkdtemp(), max_length=cfg["max_length"], packing=True, assistant_only_loss=True,
                     per_device_train_batch_size=cfg["batch_size"], learning_rate=cfg["learning_rate"],
                     weight_decay=cfg["weight_decay"], max_grad_norm=cfg["max_grad_norm"], adam_beta1=0.9, adam_beta2=0.999,
                     adam_epsilon=1e-8, lr_scheduler_type="constant", warmup_steps=0, use_cpu=True, bf16=False, fp16=False,
                     report_to=[], seed=cfg["seed"], dataset_num_proc=None)
    data = load_dataset("json", data_files=os.path.join(run, "train.jsonl"), split="train").remove_columns(["kind"])
    return SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok)


def train(run, cfg, trainer, model, batches):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg["learning_rate"], betas=(0.9, 0.999), eps=1e-8, weight_decay=cfg["weight_decay"])
    model.train()
    losses, times = [], []
    for s in range(batches["ids"].shape[0]):
        targets = batches["targets"][s].long()
        labels = torch.full_like(targets, -100)
        labels[:, 1:] = targets[:, :-1]
        inputs = {"input_ids": batches["ids"][s].long(), "position_ids": batches["positions"][s].long(), "labels": labels}
        for g in opt.param_groups:
            g["lr"] = float(batches["lr"][s])
        t0 = time.perf_counter()
        loss = trainer.compute_loss(model, inputs)
        loss.backward()
        if cfg["max_grad_norm"] > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg["max_grad_norm"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
        losses.append(loss.item())
        print(f"step {s}: TRL loss {losses[-1]:.5f}", file=sys.stderr, flush=True)
    return losses, times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--golden", help="also write the losses and settings here (lab/sft/sft/testdata/trl_losses.json)")
    ap.add_argument("--answers", type=int, default=8, help="held-out questions the merged folder answers")
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    cfg = json.load(open(os.path.join(a.run, "config.json")))
    tok = AutoTokenizer.from_pretrained(MODELS, gguf_file=GGUF)
    tok.chat_template = open(TEMPLATE).read()
    base = AutoModelForCausalLM.from_pretrained(MODELS, gguf_file=GGUF, dtype=torch.float32)
    # transformers dequantizes the GGUF's weights to float32 tensors but still marks the model as quantized, which the
    # Trainer refuses to train: the marks go, the weights are plain float32.
    base.hf_quantizer, base.is_quantized = None, False
    base.config.quantization_config = None
    model = PeftModel.from_pretrained(base, os.path.join(a.run, "adapter_init"), is_trainable=True)
    trainer = trainer_for(a.run, cfg, model, tok)
    batches = load_file(os.path.join(a.run, "reference_batches.safetensors"))
    losses, times = train(a.run, cfg, trainer, model, batches)
    ours, tok_s = our_losses(a.run)
    diffs = [abs(l - ours[i]) for i, l in enumerate(losses)]
    tokens = batches["ids"].shape[1] * batches["ids"].shape[2]
    our_step = statistics.median(tokens / tok_s[i] for i in range(1, len(losses)) if i in tok_s)
    trl_step = statistics.median(times[1:])
    out = {"trl_losses": losses, "our_losses": [ours[i] for i in range(len(losses))], "max_abs_diff": max(diffs),
           "trl_step_s": trl_step, "our_step_s": our_step, "ratio_ours_over_trl": our_step / trl_step,
           "torch_threads": torch.get_num_threads()}
    for i, l in enumerate(losses):
        print(f"step {i:3d}  TRL {l:.5f}  ours {ours[i]:.5f}  diff {diffs[i]:.1e}")
    print(f"largest difference {max(diffs):.2e}; median step: TRL {trl_step:.3f} s, ours {our_step:.3f} s (ours/TRL {our_step / trl_step:.2f})")
    held = read_jsonl(os.path.join(a.run, "heldout.jsonl"))
    questions = [h["messages"][1]["content"] for h in held]
    answers = [h["messages"][2]["content"] for h in held]
    if len(losses) == cfg["max_steps"]:
        model.eval()
        trl = replies(model, tok, questions, cfg["max_new_tokens"])
        out["trl_exact_match_after"] = sum(extract(h["kind"], r) == ans for h, r, ans in zip(held, trl, answers)) / len(held)
        print(f"TRL exact match after {len(losses)} steps: {out['trl_exact_match_after']:.3f}")
    merged = os.path.join(a.run, "merged")
    if os.path.isdir(merged) and a.answers > 0:
        out["merged"] = check_merged(merged, a.run, questions[:a.answers], cfg["max_new_tokens"])
    with open(os.path.join(a.run, "trl.json"), "w") as f:
        json.dump(out, f, indent=1)
    if a.golden:
        keep = ["train_examples", "held_out_examples", "max_length", "batch_size", "max_steps", "learning_rate",
                "weight_decay", "max_grad_norm", "lora_r", "lora_alpha", "target_modules", "seed", "reference_steps"]
        with open(a.golden, "w") as f:
            json.dump({"config": {k: cfg[k] for k in keep}, "trl_losses": losses}, f, indent=1)
            f.write("\n")


def check_merged(merged, run, questions, max_new):
    tok = AutoTokenizer.from_pretrained(merged)
    model = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval()
    got = replies(model, tok, questions, max_new)
    ours = [a["after"] for a in read_jsonl(os.path.join(run, "answers.jsonl"))][:len(questions)]
    same = sum(g == o for g, o in zip(got, ours))
    for q, g, o in zip(questions, got, ours):
        print(f"merged folder in transformers: {q!r} -> {g!r}  (ours after training: {o!r})")
    print(f"merged folder: {same} of {len(questions)} greedy answers equal ours")
    return {"questions": questions, "transformers": got, "ours": ours, "equal": same}


if __name__ == "__main__":
    main()
