"""``thinkact eval export EVAL --format inspect``: an Inspect AI eval log of an eval, so that
``inspect view`` browses it and ``inspect_ai.log.read_eval_log`` reads it.

One sample per (item, epoch): the item's input and target, the run's conversation (reasoning
as reasoning content, tool calls and results), the final answer as the output, the score
with the answer and its detail. Needs the ``inspect-ai`` package (imported here only).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from thinkact.eval.report import summarize
from thinkact.eval.store import EvalStore, Result
from thinkact.eval.suite import Item
from thinkact.messages import Message
from thinkact.traces.sqlite import SQLiteTraceStore


def _messages(history: list[Message]) -> list[Any]:
    from inspect_ai.model import (
        ChatMessageAssistant,
        ChatMessageSystem,
        ChatMessageTool,
        ChatMessageUser,
        ContentReasoning,
        ContentText,
    )
    from inspect_ai.tool import ToolCall

    out: list[Any] = []
    for m in history:
        text = m.content if isinstance(m.content, str) else json.dumps(m.content or "")
        if m.role == "system":
            out.append(ChatMessageSystem(content=text))
        elif m.role == "user":
            out.append(ChatMessageUser(content=text))
        elif m.role == "tool":
            out.append(ChatMessageTool(content=text, tool_call_id=m.tool_call_id,
                                       function=m.name))
        else:
            parts: list[Any] = [ContentReasoning(reasoning=m.reasoning)] if m.reasoning else []
            parts += [ContentText(text=text)] if text else []
            calls = [ToolCall(id=c.id, function=c.name, arguments=_args(c.arguments))
                     for c in m.tool_calls]
            out.append(ChatMessageAssistant(content=parts or "", tool_calls=calls or None))
    return out


def _args(raw: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {"_raw": raw}
    return parsed if isinstance(parsed, dict) else {"_value": parsed}


def _sample(r: Result, item: Item, trace: SQLiteTraceStore, model: str) -> Any:
    from inspect_ai.log import EvalSample
    from inspect_ai.model import ModelOutput, ModelUsage
    from inspect_ai.scorer import Score

    from thinkact.eval.turns import last_turn_run

    run_id = last_turn_run(trace, r.run_id)  # a conversation cut short: its latest turn
    history = trace.load_state(run_id).messages if trace.has_run(run_id) else []
    output = ModelOutput.from_content(model, r.answer or "")
    output.usage = ModelUsage(input_tokens=r.prompt_tokens or 0,
                              output_tokens=r.completion_tokens or 0,
                              total_tokens=r.tokens, reasoning_tokens=r.reasoning_tokens)
    target = item.target if isinstance(item.target, str) else json.dumps(item.target)
    return EvalSample(
        id=item.id, epoch=r.epoch + 1, input=item.input, target=target,
        messages=_messages(history), output=output,
        scores={"thinkact": Score(value=r.score or 0.0, answer=r.answer,
                                  explanation=r.detail or r.outcome,
                                  metadata={"marks": json.loads(r.marks)} if r.marks else None)},
        metadata={"category": item.category, "outcome": r.outcome, "run_id": r.run_id,
                  "steps": r.steps, "tool_calls": r.tool_calls, "wall_s": r.wall_s,
                  "cost_usd": r.cost_usd})


def export_inspect(store: EvalStore, trace: SQLiteTraceStore, eval_id: str,
                   items: list[Item], path: Path) -> Path:
    """Write ``eval_id``'s finished rows as an Inspect log at ``path`` (.eval or .json)."""
    from inspect_ai.log import (
        EvalConfig,
        EvalDataset,
        EvalLog,
        EvalMetric,
        EvalResults,
        EvalScore,
        EvalSpec,
        write_eval_log,
    )

    spec = store.spec(eval_id)
    rows = [r for r in store.results(eval_id) if r.status == "done"]
    by_id = {i.id: i for i in items}
    model = spec["run"].get("model") or spec["run"].get("provider") or "thinkact-tiny"
    report = summarize(rows)
    created = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    metrics = {"accuracy": EvalMetric(name="accuracy", value=report["accuracy"]),
               "ci95_low": EvalMetric(name="ci95_low", value=report["ci95"][0]),
               "ci95_high": EvalMetric(name="ci95_high", value=report["ci95"][1])}
    log = EvalLog(
        status="success" if not report["unfinished"] else "started",
        eval=EvalSpec(eval_id=eval_id, run_id=eval_id, created=created,
                      task=Path(spec["suite"]).stem, model=model,
                      dataset=EvalDataset(name=Path(spec["suite"]).stem, samples=len(items)),
                      config=EvalConfig(epochs=spec.get("epochs"), limit=spec.get("limit")),
                      metadata={"thinkact_spec": spec}),
        results=EvalResults(total_samples=len(rows), completed_samples=len(rows),
                            scores=[EvalScore(name="thinkact", scorer=Path(spec["suite"]).stem,
                                              metrics=metrics)]),
        samples=[_sample(r, by_id[r.item_id], trace, model) for r in rows
                 if r.item_id in by_id])
    write_eval_log(log, str(path))
    return path
