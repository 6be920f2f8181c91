"""TRL's own data pipeline for supervised fine-tuning: what training's chat datasets are checked against.

    HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/sft_data.py     (make reference builds .deps/venv)

Writes into models/testdata/sft/ a dozen chat examples (chat.jsonl: `messages`), prompt-completion pairs
(prompt_completion.jsonl: plain strings) and conversational prompt-completion pairs
(conversational_prompt_completion.jsonl: message lists), of varied lengths (multi-turn, a system turn, non-ASCII
text, one longer than the maximum length, one whose prompt alone fills it), SmolLM2-135M-Instruct's chat template
with `{% generation %}` blocks around the assistant's turns (smollm2_training.jinja: the same text as the model's
own template), and sft.golden.json: for each case, TRL 1.16's `SFTTrainer` dataset preparation run on that data
(its `__init__`, over a tiny random LlamaForCausalLM; the tokenizer is the real SmolLM2's, transformers reading the
GGUF in .deps/models) —

- `examples`: every example tokenized, with its labels (-100 outside the assistant's or the completion's tokens),
  before truncation (max_length None);
- `truncated`: the dataset SFTTrainer trains on without packing (keep_start truncation to max_length, fully masked
  examples dropped), and `padded`: its data collator on all of those rows at once (input ids, labels, attention
  mask, right-padded to the longest);
- `packed`: with packing=True (best-fit decreasing to max_length): each row's input ids, labels and seq_lengths, and
  its data collator (padding-free, the one packing uses) on that row: position ids restarting at 0 at each example,
  labels with -100 at each example's first token, cu_seq_lens (the attention boundaries).

And `errors`: what SFTTrainer says for assistant_only_loss=True with SmolLM2's own template (no generation blocks,
none of TRL's training templates), which training's chat dataset refuses the same way.
"""
import json
import os
import tempfile

import transformers
import trl
from datasets import Dataset
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
from trl import SFTConfig, SFTTrainer

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "models", "testdata", "sft")
MODELS = os.environ.get("TRUSTFORMERS_MODELS", os.path.join(ROOT, ".deps", "models"))
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHAT_LENGTH, PAIR_LENGTH = 96, 24  # max_length: chats and conversational pairs, plain pairs

# SmolLM2-135M-Instruct's template with the assistant's content and <|im_end|> inside {% generation %}: it renders
# the same text as the model's own, and trains the token that ends a turn.
TRAINING_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def turn(role, content):
    return {"role": role, "content": content}


CHAT = [
    [turn("user", "What is 2 + 3?"), turn("assistant", "5")],
    [turn("system", "You answer in one word."), turn("user", "Capital of France?"), turn("assistant", "Paris.")],
    [turn("user", "Reverse the string 'hello'."), turn("assistant", "olleh"),
     turn("user", "And 'world'?"), turn("assistant", "dlrow")],
    [turn("user", "Convert 3 km to metres."), turn("assistant", "3 km is 3000 metres.")],
    [turn("user", "Say hi in French."), turn("assistant", "Salut ! Ça va ? 🙂")],
    [turn("user", "Name a prime number."), turn("assistant", " 7 is prime.")],
    [turn("user", "Tell me a long story about a cat who learns to read, with many details about each book she "
                  "finds in the old library, and the friends she makes along the way."),
     turn("assistant", "Once upon a time a small grey cat named Mira found a library. She read atlases, cookbooks "
                       "and poems, and a mouse named Pim turned the pages for her.")],
    [turn("user", "Spell 'cat' backwards."), turn("assistant", "tac")],
    [turn("system", "Be brief."), turn("user", "2 * 21?"), turn("assistant", "42"),
     turn("user", "Half of that?"), turn("assistant", "21"), turn("user", "Thanks"), turn("assistant", "You're welcome.")],
    [turn("user", "How many legs does a spider have?"), turn("assistant", "Eight.")],
    [turn("user", "Repeat after me: " + "la " * 80), turn("assistant", "la la la")],
    [turn("user", "Which is heavier, a kilo of iron or a kilo of feathers?"), turn("assistant", "Neither: both weigh a kilo.")],
]

PROMPT_COMPLETION = [
    ("Q: 7 + 8 =", " 15"),
    ("Translate to Spanish: cat ->", " gato"),
    ("The opposite of hot is", " cold"),
    ("Reverse 'abc':", " cba"),
    ("Write a haiku about rain:", " Soft rain on the roof,\nthe garden drinks in silence,\nmorning smells of earth."),
    ("12 km in miles is about", " 7.46 miles"),
    ("Complete: to be or not to", " be"),
    ("List three colours:", " red, green, blue"),
    ("Count from one to twenty in words: ", "one two three four five six seven eight nine ten eleven twelve "
                                            "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"),
    ("Café au lait is", " coffee with milk ☕"),
    ("The capital of Italy is", " Rome"),
    ("Sum of 1, 2 and 3:", " 6"),
]


def conversational_pairs():
    return [{"prompt": [turn("user", p.strip())], "completion": [turn("assistant", c.strip())]}
            for p, c in PROMPT_COMPLETION]


def write_jsonl(name, rows):
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def tiny_model(tok):
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256)
    return LlamaForCausalLM(cfg)


def prepare(tok, rows, **config):
    """The train dataset SFTTrainer prepares from rows, and its data collator."""
    with tempfile.TemporaryDirectory() as tmp:
        args = SFTConfig(output_dir=tmp, report_to="none", use_cpu=True, bf16=False, **config)
        trainer = SFTTrainer(model=tiny_model(tok), args=args, train_dataset=Dataset.from_list(rows),
                             processing_class=tok)
        return trainer.train_dataset, trainer.data_collator


def lists(t):
    return t.tolist() if hasattr(t, "tolist") else t


def run_case(tok, rows, max_length, **config):
    examples, _ = prepare(tok, rows, max_length=None, **config)
    truncated, collate = prepare(tok, rows, max_length=max_length, **config)
    padded = collate([truncated[i] for i in range(len(truncated))])
    packed, pack_collate = prepare(tok, rows, max_length=max_length, packing=True, **config)
    out = {
        "max_length": max_length,
        "examples": [{"input_ids": e["input_ids"], "labels": e["labels"]} for e in examples],
        "truncated": [{"input_ids": e["input_ids"], "labels": e["labels"]} for e in truncated],
        "padded": {k: lists(padded[k]) for k in ("input_ids", "labels", "attention_mask")},
        "packed": [],
    }
    for row in packed:
        c = pack_collate([row])
        out["packed"].append({
            "input_ids": row["input_ids"], "labels": row["labels"], "seq_lengths": row["seq_lengths"],
            "collated_input_ids": lists(c["input_ids"][0]), "position_ids": lists(c["position_ids"][0]),
            "collated_labels": lists(c["labels"][0]), "cu_seq_lens": lists(c["cu_seq_lens_q"]),
        })
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    write_jsonl("chat.jsonl", [{"messages": m} for m in CHAT])
    write_jsonl("prompt_completion.jsonl", [{"prompt": p, "completion": c} for p, c in PROMPT_COMPLETION])
    write_jsonl("conversational_prompt_completion.jsonl", conversational_pairs())
    with open(os.path.join(OUT, "smollm2_training.jinja"), "w", encoding="utf-8") as f:
        f.write(TRAINING_TEMPLATE)

    tok = AutoTokenizer.from_pretrained(MODELS, gguf_file=GGUF)
    own = tok.chat_template
    chat = [{"messages": m} for m in CHAT]
    golden = {"trl": trl.__version__, "transformers": transformers.__version__,
              "pad_token_id": tok.pad_token_id, "eos_token_id": tok.eos_token_id, "cases": {}, "errors": {}}

    # The model's own template: no generation blocks, so assistant_only_loss is refused.
    try:
        prepare(tok, chat, max_length=CHAT_LENGTH, assistant_only_loss=True)
        golden["errors"]["assistant_only_own_template"] = None
    except ValueError as e:
        golden["errors"]["assistant_only_own_template"] = str(e)
    golden["cases"]["chat_full"] = run_case(tok, chat, CHAT_LENGTH)

    tok.chat_template = TRAINING_TEMPLATE
    # The rendered text is the same as the model's own template's.
    for m in CHAT:
        assert tok.apply_chat_template(m, tokenize=False) == tok.apply_chat_template(m, tokenize=False, chat_template=own)
    golden["cases"]["chat_assistant_only"] = run_case(tok, chat, CHAT_LENGTH, assistant_only_loss=True)
    pairs = [{"prompt": p, "completion": c} for p, c in PROMPT_COMPLETION]
    golden["cases"]["prompt_completion"] = run_case(tok, pairs, PAIR_LENGTH)
    golden["cases"]["prompt_completion_full"] = run_case(tok, pairs, PAIR_LENGTH, completion_only_loss=False)
    golden["cases"]["conversational_prompt_completion"] = run_case(tok, conversational_pairs(), CHAT_LENGTH)
    golden["cases"]["conversational_prompt_completion_assistant_only"] = run_case(
        tok, conversational_pairs(), CHAT_LENGTH, assistant_only_loss=True)

    with open(os.path.join(OUT, "sft.golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False)
    for name, case in golden["cases"].items():
        print(f"{name}: {len(case['examples'])} examples, lengths {[len(e['input_ids']) for e in case['examples']]}, "
              f"{len(case['truncated'])} after truncation, {len(case['packed'])} packed rows "
              f"{[r['seq_lengths'] for r in case['packed']]}")
    print("assistant_only with the own template:", golden["errors"]["assistant_only_own_template"])


if __name__ == "__main__":
    main()
