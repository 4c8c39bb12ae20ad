"""BFCL's checker proven on its own data through the real runner: a model that calls the
ground-truth functions scores 100% on every single-turn category, one that calls them with
wrong values (or calls a function where none is relevant) scores 0%."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from support.eval_kit import answering, evaluate
from thinkact.eval import Item, load_suite
from thinkact.eval.suites.bfcl import CATEGORIES, json_schema, tool_name
from thinkact.eval.suites.bfcl_multi import CATEGORIES as MULTI_TURN
from thinkact.messages import Message, ToolCall

pytest.importorskip("bfcl_eval", reason="the eval extra is not installed")

PER_CATEGORY = 6
OTHER_LANGUAGES = ["simple_java", "simple_javascript"]
SINGLE_TURN = [c for c in CATEGORIES if c not in MULTI_TURN and c not in OTHER_LANGUAGES]
# BFCL's own checker cannot pass these with any answer: an ArrayList of `any` keeps its
# elements as strings, and their answers hold a number and a boolean
UNPASSABLE = {"simple_java_36", "simple_java_65"}


def given(options: Any) -> dict[str, Any]:
    """The first possible value that is not "" (omitted), recursively for nested dicts;
    ``{}`` when the parameter is left out."""
    if not isinstance(options, list):  # a literal, not a list of options
        return {"v": options}
    return next(({"v": first(x)} for x in options if x != ""), {})


def first(value: Any) -> Any:
    if isinstance(value, list):
        return [first(x) for x in value]
    if isinstance(value, dict):
        return {k: given(v)["v"] for k, v in value.items() if given(v)}
    return value


def java(value: Any, kind: str, nested: str | None = None) -> str:
    """A value as the Java literal BFCL's checker parses for a parameter of type ``kind``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value}L" if kind == "long" else str(value)
    if isinstance(value, float):
        return f"{value}f" if kind == "float" else repr(value)
    if isinstance(value, dict):
        puts = " ".join(f'put("{k}", {java_element(v, None)});' for k, v in value.items())
        return f"new HashMap<String, Object>() {{{{ {puts} }}}}"
    if kind == "ArrayList":
        elements = ", ".join(java_element(x, nested) for x in value)
        return f"new ArrayList<>(Arrays.asList({elements}))"
    # an array's elements are read by their declared type: strings without quotes
    elements = ", ".join(java(x, nested) if nested else java_element(x, None) for x in value)
    return f"new {nested or 'Object'}[]{{{elements}}}"


def java_element(value: Any, nested: str | None) -> str:
    return f'"{value}"' if isinstance(value, str) else java(value, nested or "")


def javascript(value: Any, kind: str = "", nested: str | None = None) -> str:
    """A value as the JavaScript literal BFCL's checker parses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)

    def element(x: Any) -> str:
        return f"'{x}'" if isinstance(x, str) else javascript(x)

    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {element(v)}" for k, v in value.items()) + "}"
    return "[" + ", ".join(element(x) for x in value) + "]"


def _calls(item: Item, wrong: bool) -> list[ToolCall]:
    if "irrelevance" in item.category:  # any call at all is the wrong answer
        fns = item.meta["functions"]
        return [ToolCall(id="c0", name=tool_name(fns[0]["name"]) if fns else "anything",
                         arguments="{}")] if wrong else []
    calls = []
    for n, truth in enumerate(item.target):
        (name, params), = truth.items()
        args = first(params)
        if item.category in OTHER_LANGUAGES:  # every parameter is a literal in a string
            render = java if item.category == "simple_java" else javascript
            props = next(f for f in item.meta["functions"]
                         if f["name"] == name)["parameters"]["properties"]
            args = {k: render(v, props[k]["type"], props[k].get("items", {}).get("type"))
                    for k, v in args.items()}
        if wrong:  # a value no possible answer allows
            args = {k: "not-a-possible-value" for k in args} or {"unexpected": 1}
        calls.append(ToolCall(id=f"c{n}", name=tool_name(name), arguments=json.dumps(args)))
    return calls


def replier(wrong: bool):  # type: ignore[no-untyped-def]
    def reply(item: Item, msgs: Sequence[Message]) -> Message:
        if any(m.role == "tool" for m in msgs):
            return Message(role="assistant", content="Done.")
        calls = _calls(item, wrong)
        return Message(role="assistant", content=None if calls else "No function fits.",
                       tool_calls=calls)
    return reply


@pytest.fixture(scope="module")
def sample() -> tuple[Any, list[Item]]:
    suite = load_suite("bfcl", {"categories": ",".join(SINGLE_TURN)})
    by_cat: dict[str, list[Item]] = {}
    for item in suite.items():
        by_cat.setdefault(item.category, []).append(item)
    assert set(by_cat) == set(SINGLE_TURN)
    # a spread over each category, not only its first items
    picked = [v[i * len(v) // PER_CATEGORY] for v in by_cat.values()
              for i in range(PER_CATEGORY)]
    return suite, picked


@pytest.mark.parametrize("wrong", [False, True])
def test_ground_truth_scores_100_and_wrong_calls_0_per_category(
        sample: tuple[Any, list[Item]], tmp_path: Path, wrong: bool) -> None:
    suite, items = sample
    report = evaluate(suite, answering(suite, replier(wrong)), tmp_path, items=items,
                      concurrency=4)
    assert report["n"] == len(SINGLE_TURN) * PER_CATEGORY
    for name, cat in report["categories"].items():
        assert cat["accuracy"] == (0.0 if wrong else 1.0), name


@pytest.mark.parametrize("wrong", [False, True])
def test_java_and_javascript_literals_score_100_and_wrong_values_0(tmp_path: Path,
                                                                   wrong: bool) -> None:
    suite = load_suite("bfcl", {"categories": ",".join(OTHER_LANGUAGES)})
    items = []
    for category in OTHER_LANGUAGES:
        pool = [i for i in suite.items() if i.category == category and i.id not in UNPASSABLE]
        items += [pool[i * len(pool) // 10] for i in range(10)]
    report = evaluate(suite, answering(suite, replier(wrong)), tmp_path, items=items,
                      concurrency=4)
    assert report["n"] == 20
    for name, cat in report["categories"].items():
        assert cat["accuracy"] == (0.0 if wrong else 1.0), name


def test_java_tools_take_every_parameter_as_a_string() -> None:
    suite = load_suite("bfcl", {"categories": "simple_java"})
    item = suite.items()[0]
    (tool,) = suite.extra_tools(item)  # type: ignore[attr-defined]
    props = tool.spec.parameters["properties"]
    assert {p["type"] for p in props.values()} == {"string"}
    assert "Java 8 SDK syntax" in tool.spec.description
    assert tool.spec.name == tool_name(item.meta["functions"][0]["name"])


def test_schema_types_become_json_schema() -> None:
    got = json_schema({"type": "dict", "properties": {
        "x": {"type": "float"}, "t": {"type": "tuple", "items": {"type": "any"}},
        "d": {"type": "dict", "properties": {"k": {"type": "integer"}}}}, "required": ["x"]})
    assert got == {"type": "object", "properties": {
        "x": {"type": "number"}, "t": {"type": "array", "items": {}},
        "d": {"type": "object", "properties": {"k": {"type": "integer"}}}}, "required": ["x"]}
