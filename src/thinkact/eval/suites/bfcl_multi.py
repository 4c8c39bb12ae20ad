"""BFCL v4 multi-turn: the package's stateful simulators as tools, scored by its checker.

Each run gets fresh instances of the item's involved classes (``GorillaFileSystem``,
``TwitterAPI``, ...) loaded with its ``initial_config``; every documented method becomes a
tool that calls the instance. The item is a conversation (``conversation``): one user turn
after another, as BFCL plays them; in ``miss_func`` the held-out functions join the tools at
the turn BFCL names, with its fixed user message. Scoring hands the conversation's calls,
split into turns and steps, to BFCL's own ``multi_turn_checker``: it replays them and the
ground-truth calls on fresh instances and compares the end states and responses per turn.
"""

from __future__ import annotations

import ast
import asyncio
import copy
import importlib
import inspect
import json
import keyword
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from thinkact.eval.suite import Attempt, Item, Score, Turn
from thinkact.messages import Message, ToolCall
from thinkact.tools.base import Tool, ToolContext, ToolSpec

CATEGORIES = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param",
              "multi_turn_long_context")
MODEL = "thinkact"
# BFCL's checker keeps its instances in module globals that a check adds to and removes
# from: one check at a time (the runner scores items on threads)
CHECKING = threading.Lock()


def _constants() -> Any:
    return importlib.import_module("bfcl_eval.constants.executable_backend_config")


def _docs(class_name: str) -> list[dict[str, Any]]:
    name = _constants().MULTI_TURN_FUNC_DOC_FILE_MAPPING[class_name]
    text = (files("bfcl_eval") / "data" / "multi_turn_func_doc" / name).read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def simulators(item: Item) -> dict[str, Any]:
    """Fresh instances of the item's classes, each loaded with its initial config."""
    c = _constants()
    out = {}
    for class_name in item.meta["involved_classes"]:
        instance = getattr(importlib.import_module(c.CLASS_FILE_PATH_MAPPING[class_name]),
                           class_name)()
        if class_name not in c.STATELESS_CLASSES:
            instance._load_scenario(copy.deepcopy(item.meta["initial_config"].get(class_name, {})),
                                    long_context="long_context" in item.category)
        out[class_name] = instance
    return out


def method_owners(instances: dict[str, Any]) -> dict[str, Any]:
    """Method name -> instance, the later class winning a shared name (BFCL's rule)."""
    owners = {}
    for instance in instances.values():
        for name, _ in inspect.getmembers(instance, predicate=inspect.ismethod):
            if not name.startswith("_"):
                owners[name] = instance
    return owners


def result_text(value: Any) -> str:
    """A method's return value as BFCL shows it to the model: strings as they are, dicts as
    JSON (``str`` when that fails), anything else by ``str``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


class SimulatorMethod:
    """One documented method of a live simulator; its errors are values, worded as BFCL's.
    It runs on a worker thread, one call of the conversation at a time, in call order."""

    def __init__(self, doc: dict[str, Any], owners: dict[str, Any],
                 turn: asyncio.Lock | None = None) -> None:
        from thinkact.eval.suites.bfcl import json_schema

        self._owners, self._turn = owners, turn or asyncio.Lock()
        self._spec = ToolSpec(name=doc["name"], description=str(doc.get("description", "")),
                              parameters=json_schema(doc["parameters"]))

    @property
    def spec(self) -> ToolSpec:
        return self._spec

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> str:
        # a step's calls start in call order and the lock hands itself on in that order:
        # the simulators see them one by one, as BFCL runs them
        async with self._turn:
            return await asyncio.to_thread(execute, self._owners, self._spec.name, arguments)

    async def aclose(self) -> None:
        return None


def execute(owners: dict[str, Any], name: str, arguments: dict[str, Any]) -> str:
    try:
        return result_text(getattr(owners[name], name)(**arguments))
    except Exception as exc:  # the simulator's refusal is what the model sees
        return f"Error during execution: {exc}"


@dataclass
class SimulatorConversation:
    """An item's turns over one set of live simulators."""

    turns: list[Turn]
    owners: dict[str, Any]

    async def replay(self, calls: Sequence[ToolCall]) -> None:
        """Bring the simulators to where a recorded conversation left them (a resume):
        ``calls`` are the ones that ran, the loop's refusals left out."""
        for c in calls:
            args = _arguments(c.arguments)
            if c.name in self.owners and args is not None:
                execute(self.owners, c.name, args)


def conversation(item: Item) -> SimulatorConversation:
    owners = method_owners(simulators(item))
    turn = asyncio.Lock()  # one call at a time over the conversation's simulators
    base = [SimulatorMethod(d, owners, turn) for d in item.meta["functions"]]
    held = {int(k): [SimulatorMethod(d, owners, turn) for d in docs]
            for k, docs in item.meta["missed_function"].items()}
    tools: list[Tool] = list(base)
    turns = []
    for t, text in enumerate(item.meta["turns"]):
        tools = tools + list(held.get(t, []))
        turns.append(Turn(text, tools))
    return SimulatorConversation(turns, owners)


def _arguments(raw: str | None) -> dict[str, Any] | None:
    try:
        args = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return None
    return args if isinstance(args, dict) else None


def call_text(name: str, arguments: dict[str, Any]) -> str:
    """A tool call as the Python call string BFCL's checker executes."""
    return f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in arguments.items()) + ")"


def safe_call(name: str, arguments: dict[str, Any], documented: set[str]) -> str | None:
    """``call_text`` for a call BFCL's checker may ``eval``, or None: the name must be one of
    the item's documented functions and every key a plain identifier, and the string must
    parse as that one call with literal values only. Anything else is model text that would
    run on this host, so it is dropped (the item then fails as a wrong call would)."""
    if name not in documented or not all(
            isinstance(k, str) and k.isidentifier() and not keyword.iskeyword(k)
            for k in arguments):
        return None
    text = call_text(name, arguments)
    try:
        node = ast.parse(text, mode="eval").body
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == name and not node.args
                and [k.arg for k in node.keywords] == list(arguments)):
            return None
        for k in node.keywords:
            ast.literal_eval(k.value)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return None
    return text


def documented(item: Item) -> set[str]:
    """Every function the item documents, held-out ones included."""
    return {d["name"] for d in item.meta["functions"]} | {
        d["name"] for docs in item.meta["missed_function"].values() for d in docs}


def decoded_turns(item: Item, messages: Sequence[Message],
                  ran: Sequence[ToolCall] | None = None) -> list[list[list[str]]]:
    """The conversation's calls as BFCL's decoded result: per turn, per step (an assistant
    message that calls anything), the call strings. A turn begins at its user message;
    calls whose arguments are not a JSON object, or that ``safe_call`` refuses, are dropped,
    as BFCL drops what it cannot decode; so are calls not in ``ran`` (when given: the loop
    refused them, so the checker must not run them). Turns the run never reached are
    missing."""
    kept = None if ran is None else {id(c) for c in ran}  # the very objects of ``messages``
    prompts: list[str] = item.meta["turns"]
    names = documented(item)
    out: list[list[list[str]]] = []
    for m in messages:
        if m.role == "user" and len(out) < len(prompts) and m.content == prompts[len(out)]:
            out.append([])
        elif m.role == "assistant" and m.tool_calls and out:
            step = [t for c in m.tool_calls if kept is None or id(c) in kept
                    if (a := _arguments(c.arguments)) is not None
                    and (t := safe_call(c.name, a, names)) is not None]
            if step:
                out[-1].append(step)
    return out


def _checker() -> Any:
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_checker, multi_turn_utils

    return multi_turn_checker.multi_turn_checker, vars(multi_turn_utils)


def check(item: Item, decoded: list[list[list[str]]]) -> Score:
    """BFCL's verdict on ``decoded`` (its turn-count rule first, as its runner applies it)."""
    if len(decoded) != len(item.target):
        return Score(0.0, f"force-terminated: {len(decoded)} of {len(item.target)} turns")
    checker, state = _checker()
    # BFCL keeps the replayed instances in its module's globals, named after the model:
    # a name of our own per check gives fresh instances, removed afterwards
    name = f"{MODEL}_{uuid.uuid4().hex}"
    entry = {"id": item.id, "initial_config": item.meta["initial_config"],
             "involved_classes": item.meta["involved_classes"]}
    with CHECKING:
        try:
            result = checker(decoded, item.target, entry, item.category, name)
        finally:
            for key in [k for k in state if k.startswith(name)]:
                del state[key]
    if result["valid"]:
        return Score(1.0)
    return Score(0.0, f"{result.get('error_type', '')}: {result.get('error_message', '')}"[:300])


def score(item: Item, attempt: Attempt) -> Score:
    return check(item, decoded_turns(item, attempt.messages, attempt.ran()))


def gt_arguments(item: Item, call: str) -> tuple[str, dict[str, Any]]:
    """A ground-truth call string (``sort('a.pdf')``) as a tool name and keyword arguments,
    positional ones named from the simulator method's signature."""
    node = ast.parse(call, mode="eval").body
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name), call
    name = node.func.id
    owner = method_owners(simulators(item))[name]
    params = list(inspect.signature(getattr(owner, name)).parameters)
    args = {params[i]: ast.literal_eval(a) for i, a in enumerate(node.args)}
    args.update({k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg})
    return name, args


def items(category: str, default_user_prompt: str) -> list[Item]:
    data = files("bfcl_eval") / "data"
    stem = f"BFCL_v4_{category}.json"

    def lines(path: Any) -> list[dict[str, Any]]:
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]

    answers = {a["id"]: a["ground_truth"] for a in lines(data / "possible_answer" / stem)}
    docs: dict[str, list[dict[str, Any]]] = {}
    rows = []
    from thinkact.eval.suites.bfcl import hinted

    for q in lines(data / stem):
        functions = hinted(q["id"], [d for c in q["involved_classes"]
                                     for d in docs.setdefault(c, _docs(c))])
        missed = {k: [d for d in functions if d["name"] in names]
                  for k, names in q.get("missed_function", {}).items()}
        held = {d["name"] for ds in missed.values() for d in ds}
        # a held-out turn has no user message; BFCL sends its fixed one
        turns = ["\n\n".join(str(m["content"]) for m in t) or default_user_prompt
                 for t in q["question"]]
        rows.append(Item(id=q["id"], input=turns[0], target=answers[q["id"]],
                         category=category, tools=(), meta={
                             "functions": [d for d in functions if d["name"] not in held],
                             "missed_function": missed, "turns": turns,
                             "initial_config": q["initial_config"],
                             "involved_classes": q["involved_classes"]}))
    return rows
