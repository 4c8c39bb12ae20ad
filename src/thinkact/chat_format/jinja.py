"""A Jinja ``chat_template`` that renders exactly what :func:`~thinkact.chat_format.render.render`
renders for a :class:`ChatFormat`, so transformers' ``apply_chat_template``, vLLM and SGLang
prompt a thinkact checkpoint as thinkact does.

Messages come in the OpenAI/transformers shape: ``reasoning_content`` (or ``reasoning``) on
assistant turns, ``tool_calls`` with ``function.arguments`` as a JSON string (a mapping is
dumped with ``tojson``), ``tool_call_id`` on tool results. The one rule to know: call ids are
renamed ``functions.NAME:IDX`` as thinkact does, and a result takes the id of the latest call
that issued its id.
"""

from __future__ import annotations

import json
from pathlib import Path

from thinkact.chat_format.render import JSON_SEPARATORS, ChatFormat

# {M_*}: markers; the template body uses Jinja's own braces, so it is filled by replace().
_TEMPLATE = """\
{%- macro dump(v) -%}
{%- if v is mapping -%}{ {%- set ns = namespace(first=true) -%}
{%- for k, x in v.items() if not (DROP_DESCRIPTIONS and k == 'description') -%}
{%- if not ns.first %}ITEM_SEP{% endif %}{%- set ns.first = false -%}
{{- k | tojson }}KEY_SEP{{ dump(x) -}}
{%- endfor -%} }
{%- elif v is sequence and v is not string -%}[
{%- for x in v -%}{%- if not loop.first %}ITEM_SEP{% endif %}{{ dump(x) }}{%- endfor -%}]
{%- else -%}{{ v | tojson }}{%- endif -%}
{%- endmacro -%}
{%- macro header(token, m, role) -%}
{{- token }}{{ m.name if USE_NAME and m.name else role }}M_MIDDLE
{%- endmacro -%}
{%- if tools -%}M_SYSTEMtool_declareM_MIDDLE{{ dump(tools) }}M_END{%- endif -%}
{%- if HAS_SYSTEM and (messages | length == 0 or messages[0].role != 'system') -%}
M_SYSTEMsystemM_MIDDLEDEFAULT_SYSTEMM_END
{%- endif -%}
{%- set last = namespace(i=-1) -%}
{%- for m in messages -%}
{%- if m.role == 'assistant' and not m.tool_calls -%}{%- set last.i = loop.index0 -%}{%- endif -%}
{%- endfor -%}
{%- set calls = namespace(n=0) -%}
{%- for m in messages -%}
{%- if m.role == 'assistant' -%}
{{- header('M_ASSISTANT', m, 'assistant') }}M_THINK
{%- if KEEP_ALL or (KEEP_CURRENT and loop.index0 > last.i) -%}
{{- m.reasoning_content or m.reasoning or '' -}}
{%- endif -%}
M_THINK_END{{ m.content or '' }}
{%- if m.tool_calls -%}M_SECTION_BEGIN
{%- for c in m.tool_calls -%}
{%- set f = c.function if c.function is defined else c -%}
M_CALL_BEGINfunctions.{{ f.name }}:{{ calls.n }}M_ARG_BEGIN
{{- f.arguments if f.arguments is string else f.arguments | tojson -}}
M_CALL_END{%- set calls.n = calls.n + 1 -%}
{%- endfor -%}M_SECTION_END
{%- endif -%}M_END
{%- elif m.role == 'tool' -%}
{%- set found = namespace(id=m.tool_call_id, n=0) -%}
{%- for p in messages[:loop.index0] if p.role == 'assistant' and p.tool_calls -%}
{%- for c in p.tool_calls -%}
{%- set f = c.function if c.function is defined else c -%}
{%- if c.id == m.tool_call_id -%}{%- set found.id = 'functions.' ~ f.name ~ ':' ~ found.n -%}
{%- endif -%}{%- set found.n = found.n + 1 -%}
{%- endfor -%}
{%- endfor -%}
{{- header('M_SYSTEM', m, 'tool') }}## Return of {{ found.id }}
{{ m.content or '' }}M_END
{%- elif m.role == 'user' -%}
{{- header('M_USER', m, 'user') }}{{ m.content or '' }}M_END
{%- else -%}
{{- header('M_SYSTEM', m, m.role) }}{{ m.content or '' }}M_END
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}M_ASSISTANTassistantM_MIDDLEGEN_THINK{%- endif -%}
"""


def chat_template(fmt: ChatFormat) -> str:
    """The Jinja template for ``fmt``; refuses what it cannot mirror (per-turn ids, no id
    normalisation)."""
    if not fmt.normalize_ids or fmt.id_scheme != "global":
        raise ValueError("the Jinja chat template renders global ids only "
                         "(normalize_ids=True, id_scheme='global')")
    item_sep, key_sep = JSON_SEPARATORS[fmt.json_separators]
    m = fmt.markers
    subs = {
        "ITEM_SEP": item_sep, "KEY_SEP": key_sep,
        "DROP_DESCRIPTIONS": "true" if fmt.tool_declare == "signatures" else "false",
        "USE_NAME": "true" if fmt.use_message_name else "false",
        "HAS_SYSTEM": "true" if fmt.default_system is not None else "false",
        "KEEP_ALL": "true" if fmt.reasoning_retention == "all" else "false",
        "KEEP_CURRENT": "true" if fmt.reasoning_retention == "current_turn" else "false",
        "DEFAULT_SYSTEM": _literal(fmt.default_system or ""),
        "GEN_THINK": m.think if fmt.think_in_prompt else "",
        "M_SECTION_BEGIN": m.section_begin, "M_SECTION_END": m.section_end,
        "M_CALL_BEGIN": m.call_begin, "M_CALL_END": m.call_end, "M_ARG_BEGIN": m.arg_begin,
        "M_THINK_END": m.think_end, "M_THINK": m.think, "M_ASSISTANT": m.im_assistant,
        "M_MIDDLE": m.im_middle, "M_SYSTEM": m.im_system, "M_USER": m.im_user,
        "M_END": m.im_end,
    }
    text = _TEMPLATE
    for key in sorted(subs, key=len, reverse=True):  # longer names first (M_THINK_END)
        text = text.replace(key, subs[key])
    return text


def write_chat_template(directory: str | Path, fmt: ChatFormat) -> Path:
    """Add ``fmt``'s template to ``directory``'s tokenizer_config.json as ``chat_template``."""
    path = Path(directory) / "tokenizer_config.json"
    config = json.loads(path.read_text()) if path.exists() else {}
    config["chat_template"] = chat_template(fmt)
    path.write_text(json.dumps(config, indent=1, ensure_ascii=False) + "\n")
    return path


def _literal(text: str) -> str:
    """``text`` as template output: a Jinja expression when it holds template syntax."""
    if any(s in text for s in ("{{", "{%", "{#")):
        return "{{ " + json.dumps(text) + " }}"
    return text
