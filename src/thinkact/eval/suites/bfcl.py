"""``bfcl``: the Berkeley Function Calling Leaderboard v4, from the data in the ``bfcl-eval``
package, scored by its own checkers.

Single-turn: each item's functions become thinkact tools (a name's dots become underscores,
as BFCL does for OpenAI-style APIs; the types become JSON Schema) after BFCL's own
language hint (for Java and JavaScript every parameter is a string holding a literal of that
language, which BFCL's checker parses). The answer is the tool calls of the run's first
assistant message that calls any: a tool reports the call as recorded and does nothing.
Irrelevance categories pass when the run calls no function at all. Multi-turn categories
play the package's simulators turn by turn (``bfcl_multi``).
Options: ``categories`` (comma list; default every category).
"""

from __future__ import annotations

import copy
import json
import sys
import types
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from thinkact.eval.suite import Attempt, Conversation, Item, ListSuite, Score
from thinkact.eval.suites import bfcl_multi
from thinkact.eval.suites.package import no_more, package_source, pick
from thinkact.messages import ToolSpec
from thinkact.tools.base import Tool, ToolContext

CATEGORIES = {  # category: file stem under bfcl_eval/data
    "simple": "simple_python", "multiple": "multiple", "parallel": "parallel",
    "parallel_multiple": "parallel_multiple", "irrelevance": "irrelevance",
    "live_simple": "live_simple", "live_multiple": "live_multiple",
    "live_parallel": "live_parallel", "live_parallel_multiple": "live_parallel_multiple",
    "live_irrelevance": "live_irrelevance",
    "simple_java": "simple_java", "simple_javascript": "simple_javascript",
    **{c: c for c in bfcl_multi.CATEGORIES},
}
_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": None}
MODEL = "thinkact"  # the name BFCL's checker looks up: dots in names become underscores


def json_schema(bfcl: Any) -> Any:
    """BFCL's parameter types (dict, float, tuple, any) as JSON Schema, recursively."""
    if isinstance(bfcl, list):
        return [json_schema(x) for x in bfcl]
    if not isinstance(bfcl, dict):
        return bfcl
    out: dict[str, Any] = {}
    for key, value in bfcl.items():
        if key == "type" and isinstance(value, str):
            mapped = _TYPES.get(value, value)
            if mapped is not None:
                out[key] = mapped
        elif key in ("properties",) and isinstance(value, dict):
            out[key] = {k: json_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "anyOf", "oneOf"):
            out[key] = json_schema(value)
        elif key != "optional":
            out[key] = value
    return out


def hinted(item_id: str, functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The function docs as BFCL shows them to the model: its language hint added to each
    description and, for Java and JavaScript, every parameter made a string (a copy)."""
    from bfcl_eval.utils import add_language_specific_hint_to_function_doc

    entry = {"id": item_id, "function": copy.deepcopy(functions)}
    docs: list[dict[str, Any]] = add_language_specific_hint_to_function_doc([entry])[0]["function"]
    return docs


def language(category: str) -> Any:
    from bfcl_eval.constants.enums import Language

    return {"simple_java": Language.JAVA,
            "simple_javascript": Language.JAVASCRIPT}.get(category, Language.PYTHON)


def tool_name(name: str) -> str:
    return name.replace(".", "_")


class RecordedFunction:
    """A BFCL function as a tool: the call is the answer, so running it only records it."""

    def __init__(self, function: dict[str, Any]) -> None:
        self._spec = ToolSpec(name=tool_name(function["name"]),
                              description=str(function.get("description", "")),
                              parameters=json_schema(function.get("parameters") or
                                                     {"type": "object", "properties": {}}))

    @property
    def spec(self) -> ToolSpec:
        return self._spec

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> str:
        return f"{self._spec.name} was called; the call is recorded."

    async def aclose(self) -> None:
        return None


def _checker() -> Any:
    """BFCL's ``ast_checker``. Its module imports the package's model registry (every
    provider SDK); the checker needs only one fact from it, so a small stand-in serves."""
    name = "bfcl_eval.constants.model_config"
    if name not in sys.modules:
        stub = types.ModuleType(name)
        stub.MODEL_CONFIG_MAPPING = {MODEL: types.SimpleNamespace(  # type: ignore[attr-defined]
            underscore_to_dot=True)}
        sys.modules[name] = stub
    from bfcl_eval.eval_checker.ast_eval import ast_checker

    return ast_checker


def first_calls(attempt: Attempt) -> list[dict[str, Any]]:
    """The first assistant message's calls that has any, as BFCL's ``[{name: args}]``."""
    for m in attempt.messages:
        if m.role == "assistant" and m.tool_calls:
            calls = []
            for c in m.tool_calls:
                try:
                    args = json.loads(c.arguments or "{}")
                except json.JSONDecodeError:
                    args = {"__unparsed__": c.arguments}
                calls.append({c.name: args if isinstance(args, dict) else {}})
            return calls
    return []


@dataclass
class BfclSuite(ListSuite):

    def extra_tools(self, item: Item) -> list[Tool]:
        return [RecordedFunction(f) for f in item.meta["tools"]]

    def conversation(self, item: Item) -> Conversation | None:
        return bfcl_multi.conversation(item) if _multi(item) else None

    def score(self, item: Item, attempt: Attempt) -> Score:
        if _multi(item):
            return bfcl_multi.score(item, attempt)
        calls = first_calls(attempt)
        if "irrelevance" in item.category:
            return Score(float(not calls), "called a function" if calls else "")
        if not calls:
            return Score(0.0, "no function call")
        result = _checker().ast_checker(item.meta["functions"], calls, item.target,
                                        language(item.category), item.category, MODEL)
        return Score(float(result["valid"]), "" if result["valid"] else
                     f"{result.get('error_type', '')}: {result.get('error', '')}"[:300])


def _multi(item: Item) -> bool:
    return item.category in bfcl_multi.CATEGORIES


def _lines(path: Any) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["id"]: r for r in rows}


def _input(question: list[list[dict[str, Any]]]) -> str:
    turn = question[0]
    return "\n\n".join(str(m["content"]) if m["role"] == "user" else
                       f"({m['role']}) {m['content']}" for m in turn)


def load(options: dict[str, str]) -> BfclSuite:
    source = package_source("bfcl-eval", "BFCL v4 data")
    wanted = pick(options, "categories", list(CATEGORIES), "bfcl categories")
    no_more(options, "bfcl", "categories")
    data = files("bfcl_eval") / "data"
    rows = []
    for category in wanted:
        if category in bfcl_multi.CATEGORIES:
            from bfcl_eval.constants.default_prompts import (
                DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC as held_out_prompt,
            )

            rows.extend(bfcl_multi.items(category, held_out_prompt))
            continue
        stem = f"BFCL_v4_{CATEGORIES[category]}.json"
        questions = _lines(data / stem)
        answers = {} if "irrelevance" in category else _lines(data / "possible_answer" / stem)
        for qid, q in questions.items():
            rows.append(Item(id=qid, input=_input(q["question"]),
                             target=answers[qid]["ground_truth"] if answers else None,
                             category=category, tools=(),
                             meta={"functions": q["function"],
                                   "tools": hinted(qid, q["function"])}))
    return BfclSuite(rows, "bfcl", source)
