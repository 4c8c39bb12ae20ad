"""A real ``thinkact run`` killed with SIGKILL while its jailed kernel and a daemonised child
of it run: nothing of the jail survives, and the key named by --api-key-env never got in."""

from __future__ import annotations

from pathlib import Path

from support.cli_run import CLI, clean_env, sigkill_when, write_script
from support.jailed import jailed_pids, wait_jail_empty

ORPHAN = ("import os, subprocess\n"
          "subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
          "open('env.txt', 'w').write(repr(dict(os.environ)))\n"
          "print('started')")


def test_kill9_of_thinkact_leaves_no_jailed_process(tmp_path: Path) -> None:
    import subprocess

    script = write_script(tmp_path / "s.json", [
        {"reasoning": "Leave something behind.",
         "tool_calls": [{"name": "python", "arguments": {"code": ORPHAN}}]},
        {"reasoning": "Wait.", "tool_calls": [{"name": "python", "arguments": {
            "code": "import time\ntime.sleep(120)"}}]},
        {"reasoning": "Done.", "content": "done"}])
    ws = tmp_path / "ws"
    env = clean_env(tmp_path) | {"MY_LLM_KEY": "sk-kill9-should-not-leak"}
    proc = subprocess.Popen(
        [*CLI, "run", "Leave an orphan.", "--provider", "scripted", "--script", str(script),
         "--api-key-env", "MY_LLM_KEY", "--tools", "python", "--workspace", str(ws),
         "--trace-db", str(tmp_path / "t.sqlite"), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        stdin=subprocess.DEVNULL)
    # killed once the orphan runs and the second call is under way (two jailed processes
    # besides the jail's own init: the kernel and the sleep)
    sigkill_when(proc, lambda: (ws / "env.txt").exists() and len(jailed_pids(ws)) >= 3)
    assert wait_jail_empty(ws) == []
    seen = (ws / "env.txt").read_text()
    assert "sk-kill9-should-not-leak" not in seen and "MY_LLM_KEY" not in seen
