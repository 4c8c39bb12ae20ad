"""K2's special token strings and their ids (docs/k2.md, "Special tokens"),
configurable by name.

The strings are what the chat template writes and the parser looks for; the ids are where a
tokenizer keeps them. Real K2 tokenizers use :data:`K2_SPECIAL_IDS`; a small trained vocab puts
the same names at the top of its own vocabulary (see ``tokenizer.train_tokenizer``), so code
always asks by name (``tokenizer.special_id(IM_END)``), never by number.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

BOS = "[BOS]"
EOS = "[EOS]"
IM_END = "<|im_end|>"
IM_USER = "<|im_user|>"
IM_ASSISTANT = "<|im_assistant|>"
START_HEADER = "<|start_header_id|>"
END_HEADER = "<|end_header_id|>"
EOT = "[EOT]"
IM_SYSTEM = "<|im_system|>"
SECTION_BEGIN = "<|tool_calls_section_begin|>"
SECTION_END = "<|tool_calls_section_end|>"
CALL_BEGIN = "<|tool_call_begin|>"
ARG_BEGIN = "<|tool_call_argument_begin|>"
CALL_END = "<|tool_call_end|>"
IM_MIDDLE = "<|im_middle|>"
MEDIA_BEGIN = "<|media_begin|>"
MEDIA_CONTENT = "<|media_content|>"
MEDIA_END = "<|media_end|>"
MEDIA_PAD = "<|media_pad|>"
THINK = "<think>"
THINK_END = "</think>"
UNK = "[UNK]"
PAD = "[PAD]"

# Ids in the K2 tiktoken tokenizer. <think>/</think> numbers are UNCONFIRMED for K2-Thinking
# (docs/k2.md, "Special tokens"): pass your own mapping when loading a tokenizer that differs.
K2_SPECIAL_IDS: dict[str, int] = {
    BOS: 163584,
    EOS: 163585,
    IM_END: 163586,
    IM_USER: 163587,
    IM_ASSISTANT: 163588,
    START_HEADER: 163590,
    END_HEADER: 163591,
    EOT: 163593,
    IM_SYSTEM: 163594,
    SECTION_BEGIN: 163595,
    SECTION_END: 163596,
    CALL_BEGIN: 163597,
    ARG_BEGIN: 163598,
    CALL_END: 163599,
    IM_MIDDLE: 163601,
    MEDIA_BEGIN: 163602,
    MEDIA_CONTENT: 163603,
    MEDIA_END: 163604,
    MEDIA_PAD: 163605,
    THINK: 163606,
    THINK_END: 163607,
    UNK: 163838,
    PAD: 163839,
}

# All names in K2 id order: the order a small vocab appends them in.
K2_SPECIAL_NAMES: tuple[str, ...] = tuple(sorted(K2_SPECIAL_IDS, key=K2_SPECIAL_IDS.__getitem__))


@dataclass(frozen=True)
class Markers:
    """The marker strings the renderer writes and the parser reads (override to experiment)."""

    im_user: str = IM_USER
    im_assistant: str = IM_ASSISTANT
    im_system: str = IM_SYSTEM
    im_middle: str = IM_MIDDLE
    im_end: str = IM_END
    think: str = THINK
    think_end: str = THINK_END
    section_begin: str = SECTION_BEGIN
    section_end: str = SECTION_END
    call_begin: str = CALL_BEGIN
    arg_begin: str = ARG_BEGIN
    call_end: str = CALL_END

    def all(self) -> tuple[str, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


DEFAULT_MARKERS = Markers()
