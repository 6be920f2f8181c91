"""Writes models/tokenizer/testdata/jinja_cases.golden.json: what Python's jinja2 renders for each case of the table
below, configured as transformers' apply_chat_template configures it (an ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks, the loopcontrols extension, the {% generation %} block of its AssistantTracker, and its
raise_exception, strftime_now, tojson, dict and namespace). models/tokenizer/jinja's TestMatchesJinja2 renders every
case with our engine and compares: the text byte for byte (and the byte ranges of {% generation %} blocks), or the
class of the error jinja2 raised.

Hostile cases run under a memory limit and a time limit; their expected error is what jinja2 ends with
(RecursionError, OverflowError, MemoryError) or "Timeout" when it does not end within TIME_LIMIT seconds.

    .deps/venv/bin/python scripts/reference/jinja_cases.py      (make reference runs it)

It needs jinja2 3.1.6 or later, as transformers does (Debian's 3.1.2 lets list.pop through its sandbox); nothing
else, not even transformers.

The environment below follows transformers 5.23's src/transformers/utils/chat_template_utils.py
(_cached_compile_jinja_template); it is rebuilt here so that the script needs jinja2 alone.
"""
import json
import os
import resource
import signal
import sys
from datetime import datetime

import jinja2
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "models", "tokenizer", "testdata", "jinja_cases.golden.json")
TIME_LIMIT = 5  # seconds per case
MEMORY_LIMIT = 3 << 30  # bytes of address space for the whole script


class Timeout(Exception):
    pass


class GenerationTracker(Extension):
    """transformers' AssistantTracker: {% generation %}...{% endgeneration %} renders its body and records where."""

    tags = {"generation"}

    def __init__(self, environment):
        super().__init__(environment)
        environment.extend(activate_tracker=self.activate)
        self.blocks = None
        self.spans = None

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _support(self, context, caller):
        rv = caller()
        if self.blocks is not None:
            start = len("".join(self.blocks))
            self.spans.append((start, start + len(rv)))
        return rv

    def activate(self, blocks, spans):
        self.blocks, self.spans = blocks, spans


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    class TemplateDict:
        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

    class TemplateNamespace(jinja2.utils.Namespace):
        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check_name(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError("underscore-prefixed namespace attribute")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    env.globals["dict"] = TemplateDict()
    env.globals["namespace"] = TemplateNamespace
    return env


MESSAGES = [
    {"role": "system", "content": "  You are terse.  "},
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello! \u00fcn\u00efcode \"dq\" 'sq' <b>&"},
    {"role": "user", "content": "Bye\nnow"},
]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather \u00e0 la carte",
                                           "parameters": {"type": "object", "properties": {
                                               "city": {"type": "string", "description": "City"},
                                               "days": {"type": "integer", "enum": [1, 2, 3]}},
                                               "required": ["city"]}}}]
TOOL_MESSAGES = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "<think>\nuser wants weather\n</think>\n\nChecking.",
     "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
    {"role": "tool", "content": "{\"temp\": 21.5}"},
    {"role": "tool", "content": "sunny"},
    {"role": "assistant", "content": "<think>easy</think>It is 21.5\u00b0C and sunny."},
    {"role": "user", "content": "Thanks"},
]
BASE = {"messages": MESSAGES, "add_generation_prompt": True, "bos_token": "<s>", "eos_token": "</s>",
        "tools": None, "documents": None}

# Templates written for this table in the style of real ones (Llama 3, Qwen, Gemma, Mistral, DeepSeek, Phi).
LLAMA3_STYLE = """{{- bos_token }}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{{- "Today Date: " + date_string|default("26 Jul 2024") + "\\n\\n" }}
{%- if tools is not none %}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable and message.content is not string %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

QWEN_STYLE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\\n\\n' }}
    {%- endif %}
    {{- "# Tools\\n\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = '' %}
    {%- endif %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
            {%- endif %}
        {%- endif %}
        {{- '<|im_start|>' + message.role + '\\n' }}
        {%- generation %}
        {%- if loop.index0 > ns.last_query_index and (loop.last or reasoning_content) %}
            {{- '<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}
        {%- else %}
            {{- content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>' }}
        {%- endgeneration %}
        {{- '\\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}
"""

GEMMA_STYLE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""

MISTRAL_STYLE = """{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token}}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
"""

DEEPSEEK_STYLE = """{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<\uff5cUser\uff5c>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is not none %}{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<\uff5cAssistant\uff5c>' + content + '<\uff5cend\u2581of\u2581sentence\uff5c>'}}{%- endif %}{%- endfor -%}{% if add_generation_prompt and not ns.is_tool %}{{'<\uff5cAssistant\uff5c><think>\\n'}}{% endif %}"""

PHI_STYLE = """{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"""

# A macro that renders a JSON schema recursively, as tool-calling templates do.
SCHEMA_MACRO = """{%- macro render(schema, depth) -%}
{%- if schema is mapping -%}
{%- for key, value in schema | dictsort -%}
{{ '  ' * depth }}{{ key }}:{% if value is mapping or (value is iterable and value is not string) %}
{{ render(value, depth + 1) }}{% else %} {{ value }}
{% endif %}
{%- endfor -%}
{%- elif schema is iterable and schema is not string -%}
{%- for item in schema %}{{ '  ' * depth }}- {{ item }}
{% endfor -%}
{%- endif -%}
{%- endmacro -%}
{{ render(tools[0], 0) }}"""

CASES = [
    # Text, whitespace control, trim_blocks / lstrip_blocks, comments, raw.
    ("text", "plain text\nwith lines\n"),
    ("trailing newline kept once", "a\n\n"),
    ("crlf newlines", "a\r\nb\rc{% if true %}\r\nd{% endif %}"),
    ("trim and lstrip", "{% if true %}\n  x\n{% endif %}\n  {%- if true %}y{% endif %}\n   {# c #}\nz"),
    ("lstrip after text on the line", "ab  {% if true %}c{% endif %}\n  {% if true %}d{% endif %}  \n"),
    ("lstrip not for variables", "  {{ 'v' }}\n  {% if true %}w{% endif %}"),
    ("plus disables lstrip", "x\n    {%+ if true %}y{% endif %}\n"),
    ("plus disables trim", "{% if true +%}\nx{% endif %}"),
    ("minus strips around", "a   \n\n  {%- if true -%}  \n\n b {{- ' c ' -}}  d\n{#- comment -#}\n e {%- endif %}"),
    ("comment trims newline", "a{# c #}\nb\n  {# d #}\nc"),
    ("raw block", "{% raw %}{{ not evaluated }}{% if %}{% endraw %}\nafter"),
    ("raw with minus", "a  {%- raw -%}  {{ x }}  {%- endraw -%}  b"),
    ("tabs lstrip", "\t\t{% if true %}x{% endif %}\n"),
    ("string escapes", "{{ 'a\\nb\\t\\'c\\' \\\\ \\u00e9 \\x41' }}|{{ \"d\\\"q\" }}|{{ 'x' 'y' }}"),
    ("literal braces in strings", "{{ '{{' }} {{ '%}' }} {{ \"}}\" }}"),
    # Expressions and operators.
    ("arithmetic", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2**3**2 }} {{ -2**2 }}"),
    ("float formatting", "{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.5e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 3 * 1.5 }} {{ 1/3 }} {{ 2.0 ** 0.5 }} {{ -0.0 }} {{ 1_000 }} {{ 1e300 * 1e10 }}"),
    ("integers", "{{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 10 - 3 - 2 }} {{ 9007199254740993 }} {{ 123456789 * 987654321 }}"),
    ("string concat and repeat", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 3 * 'x' }} {{ 'ab' * 0 }} {{ 'ab' * -2 }}|{{ 'a' ~ 1 ~ none ~ true ~ 1.5 }}"),
    ("list operators", "{{ [1, 2] + [3] }} {{ [0] * 3 }} {{ (1, 2) + (3,) }} {{ [] }} {{ () }} {{ (1,) }}"),
    ("comparisons", "{{ 1 == 1.0 }} {{ 1 != 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 2 > 1 >= 1 }} {{ 1 < 2 < 1 }} {{ none == none }} {{ 'a' == 1 }} {{ true == 1 }} {{ (1, 2) == [1, 2] }} {{ {'a': 1} == {'a': 1.0} }}"),
    ("in and not in", "{{ 'a' in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ 'x' not in 'xyz' }} {{ 1 in (1.0,) }}"),
    ("and or not", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }}|{{ none or [] }} {{ not 0 }} {{ not 'a' }} {{ not 1 == 2 }}"),
    ("ternary", "{{ 'y' if 1 else 'n' }} {{ 'y' if 0 else 'n' }} {{ 'y' if 0 }}|{{ 'a' if false else 'b' if false else 'c' }}"),
    ("undefined ternary else", "{{ ('y' if false) ~ 'z' }}"),
    ("unary minus and filters", "{{ -1 | abs }} {{ -(3) }} {{ +4 }} {{ - - 5 }} {{ -2.5 }}"),
    ("negated undefined", "{{ -x | default(2) }}"),
    ("precedence of filters", "{{ 1 + 2 | string }}"),
    ("precedence of tilde", "{{ 1 + 2 ~ 3 * 2 }}"),
    ("dict literal", "{{ {'a': 1, 'b': [1, 2], 3: none, true: 'x'} }} {{ {} }} {{ {'a': 1}['a'] }}"),
    ("dict repr of strings", "{{ {'q': \"it's\", 'd': 'say \"hi\"', 'both': 'a\\'b\"c', 'nl': 'x\\ny', 'u': '\u00e9\u4e2d'} }}"),
    ("list repr of floats", "{{ [1.0, 2.5, 1e-7, 1e22, -3.0] }}"),
    ("subscripts and slices", "{{ 'hello'[1] }} {{ 'hello'[-1] }} {{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ 'hello'[::2] }} {{ [1,2,3,4][1:] }} {{ [1,2,3,4][:-1] }} {{ [1,2,3,4][::-2] }} {{ 'h\u00e9llo'[1] }} {{ 'h\u00e9llo'[:2] }} {{ 'abc'[5:] }}|{{ [1,2][5] }}|"),
    ("attribute of dict", "{{ messages[1].role }} {{ messages[1]['content'] }} {{ messages[-1].content }} {{ messages.0.role }}"),
    ("missing key renders empty", "[{{ messages[0].nope }}][{{ messages[100] }}][{{ {'a': 1}.b }}][{{ foo }}]"),
    ("dict method shadows key", "{{ {'items': 1}.items is callable }} {{ {'items': 1}['items'] }}"),
    ("tuple unpacking", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c, d = [3, 4] %}{{ c }}{{ d }}"),
    ("unpack wrong count", "{% set a, b = [1, 2, 3] %}"),
    ("names true false none", "{{ true }} {{ True }} {{ false }} {{ none }} {{ None }}"),
    ("print statement", "{% print 'a', 1 %}"),
    # Control structures.
    ("if elif else", "{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %},{% endfor %}"),
    ("for loop variables", "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('x', 'y') }}{{ loop.depth }};{% endfor %}"),
    ("for filtered", "{% for x in [1, 2, 3, 4] if x is even %}{{ loop.index }}:{{ x }}/{{ loop.length }}{{ loop.last }} {% endfor %}"),
    ("for else", "{% for x in [] %}a{% else %}empty{% endfor %}{% for x in [1] if false %}b{% else %}none{% endfor %}"),
    ("for over dict and items", "{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %} {% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %}"),
    ("for over string", "{% for c in 'h\u00e9y' %}[{{ c }}]{% endfor %}"),
    ("for over undefined", "{% for x in nothing %}a{% else %}b{% endfor %}"),
    ("for over none", "{% for x in none %}a{% endfor %}"),
    ("for over int", "{% for x in 3 %}a{% endfor %}"),
    ("break and continue", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
    ("nested loops", "{% for i in range(3) %}{% for j in range(i) %}{{ loop.index }}{{ i }}{{ j }} {% endfor %}|{{ loop.index }}{% endfor %}"),
    ("loop scope", "{% set x = 0 %}{% for i in range(3) %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}"),
    ("if does not scope", "{% if true %}{% set y = 5 %}{% endif %}{{ y }}"),
    ("namespace across loop", "{% set ns = namespace(total=0, names=[]) %}{% for m in messages %}{% set ns.total = ns.total + m.content|length %}{% set ns.names = ns.names + [m.role] %}{% endfor %}{{ ns.total }} {{ ns.names|join(',') }}"),
    ("namespace repr", "{% set ns = namespace(a=1, b='x') %}{{ ns }}"),
    ("namespace from dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns.c }}|"),
    ("set attribute on non-namespace", "{% set x = {} %}{% set x.a = 1 %}"),
    ("namespace underscore", "{% set ns = namespace(_a=1) %}"),
    ("block set", "{% set body %}  inner {{ 1 + 1 }}  {% endset %}[{{ body }}]"),
    ("block set with filter", "{% set body | trim | upper %}  inner  {% endset %}[{{ body }}]"),
    ("with block", "{% set a = 1 %}{% with a = 2, b = 3 %}{{ a }}{{ b }}{% endwith %}{{ a }}"),
    ("filter block", "{% filter upper %}abc {{ 'd' }}{% endfilter %}"),
    ("block tag renders", "{% block b %}in block{% endblock %}"),
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }}"),
    ("macro varargs kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k=4) }}"),
    ("macro missing arg", "{% macro m(a, b) %}[{{ a }}][{{ b }}]{% endmacro %}{{ m(1) }}"),
    ("macro too many args", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}"),
    ("macro unknown kwarg", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, z=2) }}"),
    ("macro scope", "{% set x = 5 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 6 %}{{ m() }}{% for y in [1] %}{% macro n() %}{{ y }}{% endmacro %}{{ n() }}{% endfor %}"),
    ("macro recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(10) }}"),
    ("call block with caller", "{% macro box(title) %}[{{ title }}: {{ caller() }}]{% endmacro %}{% call box('T') %}body {{ 1 }}{% endcall %}"),
    ("call block with args", "{% macro each(xs) %}{% for x in xs %}{{ caller(x, loop.index) }}{% endfor %}{% endmacro %}{% call(item, i) each(['a', 'b']) %}{{ i }}={{ item }};{% endcall %}"),
    ("schema macro", SCHEMA_MACRO, {"tools": TOOLS}),
    ("macro returns string", "{% macro m() %}5{% endmacro %}{{ m() + '1' }} {{ m() | int + 1 }}"),
    # Filters.
    ("trim", "[{{ '  a b \\n' | trim }}][{{ 'xxaxx' | trim('x') }}][{{ '\u3000a\u3000' | trim }}]"),
    ("case filters", "{{ 'hello wORLD' | upper }} {{ 'HeLLo' | lower }} {{ 'hello wORLD-foo (bar' | title }} {{ 'hELLO world' | capitalize }} {{ 'stra\u00dfe' | upper }} {{ '\u0130' | lower | length }}"),
    ("replace", "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'abc' | replace('', '-') }}"),
    ("length and count", "{{ 'h\u00e9llo' | length }} {{ [1, 2] | count }} {{ {'a': 1} | length }} {{ nothing | length }} {{ messages | length }}"),
    ("join", "{{ [1, 2, 3] | join }} {{ ['a', 'b'] | join(', ') }} {{ messages | join('|', attribute='role') }} {{ 'abc' | join('.') }}"),
    ("map", "{{ messages | map(attribute='role') | list }} {{ ['a', 'b'] | map('upper') | join }} {{ [1.5, 2.5] | map('int') | list }} {{ messages | map(attribute='missing', default='d') | first }}"),
    ("select reject", "{{ [1, 2, 3, 4] | select('even') | list }} {{ [1, 2, 3, 4] | reject('even') | list }} {{ [0, 1, '', 'a', none] | select | list }} {{ [1, 5, 9] | select('>', 3) | list }} {{ ['a', 'b'] | select('in', ['a']) | list }}"),
    ("selectattr rejectattr", "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }} {{ messages | rejectattr('role', '==', 'user') | map(attribute='role') | join(',') }} {{ [{'a': 1}, {'a': 0}, {}] | selectattr('a') | list }}"),
    ("first last", "{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | first }} {{ 'abc' | last }} [{{ [] | first }}]"),
    ("default", "{{ nothing | default('d') }} {{ none | default('d') }} {{ none | default('d', true) }} {{ '' | d('e', boolean=true) }} {{ 0 | default(5) }}"),
    ("string int float", "{{ 5 | string }} {{ '42' | int + 1 }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ '0x1A' | int(0, 16) }} {{ '3.5' | float }} {{ 'x' | float }} {{ 3 | float }} {{ 4.9 | int }} {{ true | int }} {{ ' 12 ' | int }}"),
    ("list items dictsort", "{{ 'ab' | list }} {{ {'b': 1, 'a': 2} | list }} {{ {'b': 1, 'a': 2} | items | list }} {{ {'b': 1, 'a': 2, 'C': 0} | dictsort }} {{ {'b': 1, 'a': 2} | dictsort(by='value') }} {{ {'b': 1, 'a': 2} | dictsort(reverse=true) }}"),
    ("unique reverse sort", "{{ [3, 1, 3, 2] | unique | list }} {{ ['a', 'A', 'b'] | unique | list }} {{ [1, 2, 3] | reverse | list }} {{ 'abc' | reverse }} {{ [3, 1, 2] | sort }} {{ ['b', 'A', 'a'] | sort }} {{ ['b', 'A', 'a'] | sort(case_sensitive=true) }} {{ [3, 1, 2] | sort(reverse=true) }} {{ messages | sort(attribute='role') | map(attribute='role') | join(',') }}"),
    ("round abs sum min max", "{{ 2.5 | round }} {{ 3.5 | round }} {{ 2.567 | round(2) }} {{ 2.561 | round(1, 'floor') }} {{ 2.521 | round(1, 'ceil') }} {{ -3 | abs }} {{ -2.5 | abs }} {{ [1, 2, 3] | sum }} {{ [1, 2.5] | sum }} {{ messages | sum(attribute='content') if false else 0 }} {{ [3, 1, 2] | min }} {{ [3, 1, 2] | max }} {{ ['b', 'A', 'c'] | max }} {{ 7 | round }}"),
    ("batch slice", "{{ [1, 2, 3, 4, 5] | batch(2) | list }} {{ [1, 2, 3, 4, 5] | batch(2, 0) | list }} {{ [1, 2, 3, 4, 5] | slice(2) | list }}"),
    ("indent", "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'a\\nb' | indent('> ') }}"),
    ("wordcount center", "{{ 'one two  three' | wordcount }} [{{ 'ab' | center(6) }}]"),
    ("safe escape", "{{ '<b>&\"\\'' | safe }} {{ '<b>&\"\\'' | e }} {{ '<b>' | escape }}"),
    ("format filter", "{{ '%s-%d' | format('a', 3) }}"),
    ("attr filter", "{{ messages[0] | attr('role') }}|"),
    ("unknown filter", "{{ 1 | no_such_filter }}"),
    ("unknown filter in an if", "{% if nothing %}{{ 1 | no_such_filter }}{% endif %}ok"),
    ("unknown filter in an if that runs", "{% if true %}{{ 1 | no_such_filter }}{% endif %}ok"),
    ("unknown filter in a loop in an if", "{% if true %}{% for i in [1] %}{{ 1 | no_such_filter }}{% endfor %}{% endif %}ok"),
    ("unknown filter in a conditional expression", "{{ 1 if true else 2 | no_such_filter }}"),
    ("unknown test in a conditional expression", "{{ 1 if 2 is no_such_test else 3 }}"),
    # tojson as transformers overrides it.
    ("tojson", "{{ messages[2] | tojson }}"),
    ("tojson values", "{{ [1, 1.5, 'x', none, true, {'k': [1, 2]}, (1, 2), '\u00e9\\n\\t\"\\\\\\u0001\u2028'] | tojson }}"),
    ("tojson indent", "{{ tools | tojson(indent=2) }}", {"tools": TOOLS}),
    ("tojson indent string and sort", "{{ {'b': 1, 'a': [1, {}], 'c': []} | tojson(indent='\\t', sort_keys=true) }}"),
    ("tojson indent zero", "{{ {'b': [1, 2]} | tojson(indent=0) }}"),
    ("tojson ensure_ascii", "{{ '\u00e9\U0001F600' | tojson(ensure_ascii=true) }} {{ '\u00e9' | tojson(true) }}"),
    ("tojson separators", "{{ {'a': [1, 2]} | tojson(separators=(',', ':')) }}"),
    ("tojson non-string keys", "{{ {1: 'a', true: 'b', none: 'c', 2.5: 'd'} | tojson }}"),
    ("tojson floats", "{{ [1e20, 0.1, 1e-7, 3.0, 2 ** 0.5] | tojson }}"),
    ("tojson undefined", "{{ nothing | tojson }}"),
    ("tojson sort mixed keys", "{{ {1: 'a', 'b': 2} | tojson(sort_keys=true) }}"),
    # Tests.
    ("tests", "{{ x is defined }} {{ x is undefined }} {{ none is none }} {{ 'a' is string }} {{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ {} is mapping }} {{ [] is sequence }} {{ 'a' is sequence }} {{ {} is sequence }} {{ 1 is iterable }} {{ 'a' is iterable }} {{ true is boolean }} {{ 1 is boolean }} {{ true is true }} {{ 1 is true }} {{ false is false }}"),
    ("numeric tests", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby(3) }} {{ 9 is divisibleby 4 }} {{ 2 is eq(2) }} {{ 2 is ne 3 }} {{ 2 is lt 3 }} {{ 2 is gt 3 }} {{ 2 is le 2 }} {{ 2 is ge 3 }} {{ 2 is greaterthan 1 }} {{ 'a' is in 'cat' }} {{ 1 is in [2] }}"),
    ("callable and string case tests", "{{ raise_exception is callable }} {{ 'a' is callable }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ messages is sameas messages }}"),
    ("is not", "{{ 1 is not none }} {{ x is not defined }} {{ not x is defined }}"),
    ("unknown test", "{{ 1 is startingwith }}"),
    ("test on undefined attribute", "{{ messages[0].nope is defined }} {{ messages[0].nope is none }}"),
    # Python methods the sandbox allows.
    ("str methods", "[{{ '  a  '.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ '  a  '.lstrip() }}][{{ '  a  '.rstrip() }}][{{ 'a\\n\\n'.rstrip('\\n') }}]"),
    ("split", "{{ 'a b  c'.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ 'a<t>b<t>c'.split('<t>')[-1] }} {{ ''.split() }} {{ ''.split(',') }} {{ 'a b c'.rsplit(' ', 1) }}"),
    ("startswith endswith", "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'hello'.startswith('l', 2) }}"),
    ("str case methods", "{{ 'ab cd'.upper() }} {{ 'AB'.lower() }} {{ \"they're bill's\".title() }} {{ 'hELLO'.capitalize() }} {{ 'aBc'.swapcase() }}"),
    ("str replace find count", "{{ 'aaa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 1) }} {{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'hello'.count('l') }} {{ 'hello'.index('e') }}"),
    ("str format method", "{{ '{} and {}'.format('a', 'b') }} {{ '{x}!'.format(x=1) }} {{ '{0}{0}'.format('ab') }}"),
    ("str predicates", "{{ '123'.isdigit() }} {{ 'abc'.isalpha() }} {{ '  '.isspace() }} {{ 'ab1'.isalnum() }} {{ 'AB'.isupper() }} {{ 'ab'.islower() }}"),
    ("str misc methods", "{{ 'a-b'.partition('-') }} {{ 'prefix_x'.removeprefix('prefix_') }} {{ 'x.txt'.removesuffix('.txt') }} {{ '5'.zfill(3) }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ ','.join(['a', 'b']) }} [{{ 'ab'.ljust(4) }}][{{ 'ab'.rjust(4) }}] {{ 'ab'.center(6, '*') }}"),
    ("dict methods", "{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b') }} {{ {'a': 1}.get('b', 2) }} {{ {'a': 1, 'b': 2}.keys() | list }} {{ {'a': 1, 'b': 2}.values() | list }} {{ {'a': 1}.items() | list }} {{ messages[0].get('role') }}"),
    ("list methods", "{{ [1, 2, 1].count(1) }} {{ [1, 2, 3].index(2) }}"),
    ("dict global", "{{ dict(a=1, b=2) }} {{ dict([('x', 1)]) }} {{ dict.fromkeys(['a', 'b'], 0) }}"),
    ("range", "{{ range(3) | list }} {{ range(1, 4) | list }} {{ range(10, 0, -3) | list }} {{ range(0) | list }} {{ range(3) }}"),
    ("unknown method is undefined", "[{{ 'a'.nosuchmethod }}]"),
    ("calling undefined", "{{ 'a'.nosuchmethod() }}"),
    ("calling a string", "{{ 'a'() }}"),
    # Sandbox: mutation and private attributes.
    ("list append refused", "{% set xs = [1] %}{{ xs.append(2) }}{{ xs }}"),
    ("list append printed", "[{{ [1].append }}]"),
    ("dict update refused", "{% set d = {} %}{{ d.update({'a': 1}) }}"),
    ("dict pop refused", "{{ {'a': 1}.pop('a') }}"),
    ("list pop refused", "{{ [1].pop() }}"),
    ("private attribute", "[{{ 'a'.__class__ }}]"),
    ("private attribute call", "{{ 'a'.__class__.__mro__ }}"),
    # Errors jinja2 raises.
    ("division by zero", "{{ 1 / 0 }}"),
    ("floor division by zero", "{{ 1 // 0 }}"),
    ("modulo by zero", "{{ 1 % 0 }}"),
    ("float division by zero", "{{ 1.5 / 0.0 }}"),
    ("item of missing message", "{{ messages[100].content }}"),
    ("attribute of undefined", "{{ foo.bar }}"),
    ("item of undefined", "{{ foo['bar'] }}"),
    ("arithmetic on undefined", "{{ foo + 1 }}"),
    ("undefined comparison", "{{ foo < 1 }}"),
    ("undefined equality", "{{ foo == none }} {{ foo == foo }} {{ foo != 1 }}"),
    ("undefined in string ops", "[{{ foo ~ 'x' }}][{{ foo | trim }}][{{ foo | upper }}][{{ foo | list }}][{{ foo is none }}][{{ foo | string }}][{{ 'a' in foo }}]"),
    ("undefined truth", "{% if foo %}t{% else %}f{% endif %}{% if not foo %}!{% endif %}"),
    ("bad operand types", "{{ 'a' + 1 }}"),
    ("bad operand list plus str", "{{ [1] + 'a' }}"),
    ("bad multiply", "{{ 'a' * 'b' }}"),
    ("bad unary minus", "{{ -'a' }}"),
    ("bad comparison", "{{ 'a' < 1 }}"),
    ("none comparison", "{{ none < 1 }}"),
    ("int in string", "{{ 1 in 'abc' }}"),
    ("in none", "{{ 1 in none }}"),
    ("iterate none", "{% for x in none %}{% endfor %}"),
    ("length of int", "{{ 5 | length }}"),
    ("join of int", "{{ 5 | join }}"),
    ("subscript int", "{{ (5)[0] }}|"),
    ("slice of int", "{{ (5)[1:] }}"),
    ("raise_exception", "{{ raise_exception('custom failure') }}"),
    ("raise_exception in loop", "{% for m in messages %}{% if m.role == 'assistant' %}{{ raise_exception('no assistant') }}{% endif %}{% endfor %}"),
    ("range too big", "{{ range(100001) | length }}"),
    ("range at the limit", "{{ range(100000) | length }}"),
    ("range of floats", "{{ range(1.5) }}"),
    ("range step zero", "{{ range(1, 5, 0) }}"),
    ("int of list", "{{ [1] | int }}"),
    ("sum of strings", "{{ ['a', 'b'] | sum }}"),
    ("dictsort of list", "{{ [1, 2] | dictsort }}"),
    # Syntax errors.
    ("unclosed for", "{% for m in messages %}"),
    ("unclosed if", "{% if true %}a"),
    ("unknown tag", "{% frobnicate %}"),
    ("do tag not enabled", "{% do [1].append(2) %}"),
    ("bad expression", "{{ 1 + }}"),
    ("unclosed variable", "{{ 1 + 2"),
    ("unclosed string", "{{ 'abc }}"),
    ("unclosed comment", "{# abc"),
    ("unbalanced paren", "{{ (1 + 2 }}"),
    ("endfor without for", "{% endfor %}"),
    ("break outside loop", "{% break %}"),
    ("extends without loader", "{% extends 'base.html' %}"),
    ("include without loader", "{% include 'x.html' %}"),
    ("chained is", "{{ 1 is number is number }}"),
    ("assign to literal", "{% set 1 = 2 %}"),
    ("macro default before plain", "{% macro m(a=1, b) %}{% endmacro %}"),
    # Generation blocks.
    ("generation block", "{% for m in messages %}{% if m.role == 'assistant' %}<a>{% generation %}{{ m.content }}</a>{% endgeneration %}{% else %}<{{ m.role }}>{{ m.content }}{% endif %}\n{% endfor %}"),
    ("generation block unicode offsets", "\u00e9\u00e9{% generation %}\u4e2d{{ 'x' }}{% endgeneration %}\u00e9{% generation %}{% endgeneration %}!"),
    ("generation block in macro", "{% macro m() %}[{% generation %}g{% endgeneration %}]{% endmacro %}ab{{ m() }}cd"),
    # Templates in the style of real models' templates, on a few conversations.
    ("llama3 style", LLAMA3_STYLE),
    ("llama3 style tools", LLAMA3_STYLE, {"tools": TOOLS, "messages": [m for m in TOOL_MESSAGES if m["role"] != "tool"][:2]}),
    ("llama3 style two tool calls", LLAMA3_STYLE, {"messages": [{"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "a", "arguments": {}}}, {"function": {"name": "b", "arguments": {}}}]}]}),
    ("qwen style", QWEN_STYLE),
    ("qwen style tools", QWEN_STYLE, {"tools": TOOLS, "messages": TOOL_MESSAGES}),
    ("qwen style no thinking", QWEN_STYLE, {"messages": TOOL_MESSAGES[:1], "enable_thinking": False}),
    ("gemma style", GEMMA_STYLE),
    ("gemma style content parts", GEMMA_STYLE, {"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": " Describe "}]}]}),
    ("gemma style bad alternation", GEMMA_STYLE, {"messages": MESSAGES[1:2] * 2}),
    ("mistral style", MISTRAL_STYLE),
    ("mistral style no system", MISTRAL_STYLE, {"messages": MESSAGES[1:]}),
    ("mistral style tool role", MISTRAL_STYLE, {"messages": MESSAGES[1:2] + [{"role": "tool", "content": "x"}]}),
    ("deepseek style", DEEPSEEK_STYLE, {"messages": MESSAGES + [{"role": "assistant", "content": "<think>hmm</think>answer"}]}),
    ("phi style", PHI_STYLE),
    ("phi style no prompt", PHI_STYLE, {"add_generation_prompt": False}),
    ("strftime_now", "{{ strftime_now('%Y-%m-%d') | length }} {{ strftime_now('%d %b %Y') | length > 9 }}"),
    # Hostile templates: each must end with an error, within bounded memory and time.
    ("recursive macro", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
    ("mutually recursive macros", "{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}"),
    ("recursive caller", "{% macro m() %}{{ caller() }}{% endmacro %}{% macro r() %}{% call m() %}{{ r() }}{% endcall %}{% endmacro %}{{ r() }}"),
    ("huge range", "{% for i in range(1000000000) %}x{% endfor %}"),
    ("huge range list", "{{ range(1000000000) | list | length }}"),
    ("string doubling", "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}"),
    ("list doubling", "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}"),
    ("huge string repeat", "{{ ('x' * 100000000000) | length }}"),
    ("huge list repeat", "{{ ([0] * 100000000000) | length }}"),
    ("repeat in a loop", "{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}"),
    ("ten billion steps", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}done"),
    ("ten billion steps with output", "{% for i in range(100000) %}{% for j in range(100000) %}y{% endfor %}{% endfor %}"),
    ("deep nesting", "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l | tojson }}"),
    ("deep parentheses", "{{ " + "(" * 1000 + "1" + ")" * 1000 + " }}"),
    ("long sum", "{{ " + " + ".join(["1"] * 5000) + " }}"),
    ("sum of 250 terms", "{{ " + " + ".join(["1"] * 250) + " }}"),
    ("long attribute chain", "{{ x" + ".a" * 3000 + " }}"),
    ("join of a huge repeat", "{{ (['abcdefgh'] * 1000000000) | join }}"),
]


def render_case(env, template, variables):
    blocks, spans = [], []
    compiled = env.from_string(template)
    env.activate_tracker(blocks, spans)
    try:
        for block in compiled.generate(**variables):
            blocks.append(block)
    finally:
        env.activate_tracker(None, None)
    text = "".join(blocks)
    # Character offsets become byte offsets of the UTF-8 text.
    spans = [[len(text[:s].encode()), len(text[:e].encode())] for s, e in spans]
    return text, spans


def on_alarm(signum, frame):
    raise Timeout()


def main():
    if tuple(int(p) for p in jinja2.__version__.split(".")[:3]) < (3, 1, 6):
        sys.exit(f"jinja2 {jinja2.__version__}: transformers requires 3.1.6 or later (older sandboxes differ)")
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    signal.signal(signal.SIGALRM, on_alarm)
    sys.setrecursionlimit(1000)
    env = make_env()
    names = set()
    out = []
    for case in CASES:
        name, template = case[0], case[1]
        assert name not in names, name
        names.add(name)
        variables = dict(BASE)
        if len(case) > 2:
            variables.update(case[2])
        entry = {"name": name, "template": template, "vars": variables}
        signal.alarm(TIME_LIMIT)
        try:
            text, spans = render_case(env, template, variables)
            entry["text"] = text
            if spans:
                entry["generation"] = spans
        except Timeout:
            entry["error"] = "Timeout"
        except BaseException as e:  # noqa: B036 (MemoryError, RecursionError …)
            entry["error"] = type(e).__name__
            entry["message"] = str(e)[:300]
        finally:
            signal.alarm(0)
        out.append(entry)
        print(f"{name}: {entry.get('error', 'ok')}", file=sys.stderr)
    doc = {"jinja2": jinja2.__version__, "cases": out}
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {OUT}: {len(out)} cases, {sum('error' in c for c in out)} errors", file=sys.stderr)


if __name__ == "__main__":
    main()
