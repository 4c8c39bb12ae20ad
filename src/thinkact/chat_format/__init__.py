"""K2 chat format: template rendering, output parsing, tokenizer, tool-call ids.

Pure Python (no torch): the local backend and training data code build on it.
"""

from thinkact.chat_format.ids import normalize_tool_call_ids, parse_call_id
from thinkact.chat_format.parser import (
    K2OutputParser,
    ParsedToolCall,
    ParseResult,
    TextDelta,
    ToolCallParsed,
    parse_output,
)
from thinkact.chat_format.render import (
    DEFAULT_FORMAT,
    DEFAULT_SYSTEM_PROMPT,
    ChatFormat,
    generation_prompt,
    render,
    render_assistant_body,
    tools_json,
)
from thinkact.chat_format.tokenizer import K2Tokenizer, StreamDecoder, train_tokenizer

__all__ = [
    "DEFAULT_FORMAT",
    "DEFAULT_SYSTEM_PROMPT",
    "ChatFormat",
    "K2OutputParser",
    "K2Tokenizer",
    "ParseResult",
    "ParsedToolCall",
    "StreamDecoder",
    "TextDelta",
    "ToolCallParsed",
    "generation_prompt",
    "normalize_tool_call_ids",
    "parse_call_id",
    "parse_output",
    "render",
    "render_assistant_body",
    "tools_json",
    "train_tokenizer",
]
