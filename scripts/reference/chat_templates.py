"""Writes models/tokenizer/testdata/chat_templates.golden.json: Hugging Face's apply_chat_template(tokenize=False) on
a few conversations, with SmolLM2-135M-Instruct's own template (read by transformers from the GGUF file make setup
places in .deps/models) and with templates written here to use what chat templates use (loops and loop variables,
slicing, namespace(), raise_exception, filters, tests, the special tokens' text); for SmolLM2's template also the
ids apply_chat_template(tokenize=True) gives.

    HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/chat_templates.py     (make reference runs it)
"""
import json
import os
import sys

import transformers
from transformers import AutoTokenizer

transformers.logging.set_verbosity_error()
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
MODELS = os.path.join(ROOT, ".deps", "models")
OUT = os.path.join(ROOT, "models", "tokenizer", "testdata", "chat_templates.golden.json")

# Written for this test: each exercises a different part of Jinja.
TEMPLATES = {
    # A system turn folded into the first user turn, turns that must alternate, and the BOS/EOS text.
    "folded-system": (
        "{%- if messages[0]['role'] == 'system' -%}"
        "{%- set system = messages[0]['content'] | trim -%}{%- set turns = messages[1:] -%}"
        "{%- else -%}{%- set system = '' -%}{%- set turns = messages -%}{%- endif -%}"
        "{%- for m in turns -%}"
        "{%- if (m['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
        "{{ raise_exception('roles must alternate user/assistant') }}{%- endif -%}"
        "{%- if m['role'] == 'user' -%}"
        "{{ bos_token }}[Q] {% if loop.first and system %}<<{{ system }}>> {% endif %}{{ m['content'] | trim }} [/Q]"
        "{%- else -%} {{ m['content'] | trim }}{{ eos_token }}{%- endif -%}"
        "{%- endfor -%}"
    ),
    # namespace() carried across the loop, loop.last, length, upper, default, `is defined` and `in`.
    "namespace": (
        "{%- set ns = namespace(users=0, seen='') -%}"
        "{%- for m in messages -%}"
        "{%- if m.role == 'user' -%}{%- set ns.users = ns.users + 1 -%}{%- endif -%}"
        "{%- if m.role not in ns.seen -%}{%- set ns.seen = ns.seen + m.role + ',' -%}{%- endif -%}"
        "<{{ m.role | upper }} n={{ loop.index }}/{{ messages | length }}>{{ m.content }}"
        "{%- if not loop.last %}\n{% endif -%}"
        "{%- endfor -%}"
        "\n[{{ ns.users }} user turns; roles {{ ns.seen }}; pad={{ pad_token | default('none') }};"
        " tools {{ 'given' if tools is defined and tools else 'none' }}]"
        "{%- if add_generation_prompt %}\n<ASSISTANT>{% endif -%}"
    ),
    # Reversed iteration, slicing with a step, replace, title, join and tojson.
    "filters": (
        "{{ messages | map(attribute='role') | join(' > ') }}\n"
        "{%- for m in messages[::-1] %}\n{{ loop.revindex }}. {{ m.role | title }}: "
        "{{ m.content | replace('\n', ' / ') | tojson }}{% endfor %}\n"
        "{%- if add_generation_prompt %}\nnext: assistant{% endif %}"
    ),
}

CONVERSATIONS = [
    [{"role": "user", "content": "What is 12 + 30?"}],
    [{"role": "system", "content": "  You answer in one word.  "}, {"role": "user", "content": "Capital of France?"},
     {"role": "assistant", "content": "Paris"}, {"role": "user", "content": "And of Italy?\nOne word."}],
    [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi! \"Quoted\" and ünïcode."},
     {"role": "user", "content": "Bye"}],
    [{"role": "user", "content": "One"}, {"role": "user", "content": "Two"}],  # folded-system refuses it
]


def main():
    tok = AutoTokenizer.from_pretrained(MODELS, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    cases = []
    for name, template in [("smollm2", None)] + list(TEMPLATES.items()):
        for conv in CONVERSATIONS:
            for gen in (False, True):
                try:
                    text = tok.apply_chat_template(conv, chat_template=template, tokenize=False,
                                                   add_generation_prompt=gen)
                    err = None
                except Exception as e:  # raise_exception: the Go side must fail too
                    text, err = None, str(e)
                case = {"template": name, "messages": conv, "add_generation_prompt": gen, "text": text, "error": err}
                if name == "smollm2":  # apply_chat_template(tokenize=True): the text encoded without special tokens
                    case["ids"] = list(tok.apply_chat_template(conv, tokenize=True, add_generation_prompt=gen,
                                                               return_dict=False))
                cases.append(case)
    out = {"transformers": transformers.__version__, "templates": TEMPLATES, "cases": cases,
           "special_tokens": {k: v for k, v in tok.special_tokens_map.items() if isinstance(v, str)}}
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases, {sum(c['error'] is not None for c in cases)} expected errors")


if __name__ == "__main__":
    sys.exit(main())
