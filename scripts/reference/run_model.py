"""Generate from a run folder's model/ with transformers: the check that a trained character model speaks.

    HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/run_model.py RUN/model [PROMPT] [NEW_TOKENS]

lab/shakespeare_char writes its final weights as a Hugging Face folder with the character vocabulary as
tokenizer.json (models/tokenizer.SaveCharLevel). This loads that folder with AutoTokenizer and
AutoModelForCausalLM (float64), checks that the tokenizer gives one id per character and decodes back to the same
text, and prints the greedy continuation of PROMPT (default "ROMEO:") with the prompt, as
`trustformers generate --model RUN/model --prompt PROMPT --temperature 0` prints it. New tokens are capped at the
model's context (n_positions), where GPT-2's learned positions end. Nothing is written.
"""
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    folder = sys.argv[1]
    prompt = sys.argv[2] if len(sys.argv) > 2 else "ROMEO:"
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).double().eval()
    room = model.config.n_positions - len(prompt)
    new = min(int(sys.argv[3]) if len(sys.argv) > 3 else room, room)

    ids = tok(prompt, return_tensors="pt")["input_ids"]
    if ids.shape[1] != len(prompt) or tok.decode(ids[0]) != prompt:
        sys.exit(f"{folder}: the tokenizer does not give one id per character of {prompt!r}: {ids[0].tolist()}")
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, do_sample=False,
                             pad_token_id=model.config.bos_token_id)
    print(tok.decode(out[0], skip_special_tokens=True))


if __name__ == "__main__":
    main()
