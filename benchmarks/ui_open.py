"""Opening a long run in the web UI: time to the first rendered step and to fully loaded.

Records a 300-step and a 3,000-step run (the synthetic steps of ``trace_store.py``: reasoning,
an assistant message, a python call and a 200-word result each), starts ``thinkact ui`` on
loopback, and opens each run in headless Chromium (``/usr/bin/chromium``), ``--repeat`` times.
"first step": ms from navigation start until step 1 is in the page; "loaded": until the view
has every request answered and rendered (header, step index, the first page of 100 steps);
"jump": from pressing Enter in "jump to" (step 2,500 / 250) until that step is shown. Against
two yardsticks from the same run: the issue's 1 s ceiling, and ``thinkact trace show`` of the
300-step run (the terminal view, a peer that reads the same store).

    .venv/bin/python benchmarks/ui_open.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from thinkact.events import RunFinished
from thinkact.traces import SQLiteTraceStore
from trace_store import run_events

MARKS = """
new MutationObserver(() => {
  if (!window.__first && document.getElementById('step-1')) window.__first = performance.now();
  if (!window.__ready && document.body && document.body.dataset.ready === '1'
      && document.getElementById('timeline')) window.__ready = performance.now();
}).observe(document, {subtree: true, childList: true, attributes: true});
"""


def record(store: SQLiteTraceStore, run_id: str, steps: int) -> None:
    for event in run_events(steps, reasoning_chars=400, delta_chars=400):
        store.append(run_id, event)
    store.append(run_id, RunFinished(status="completed", reason="answered", steps=steps,
                                     tool_calls=steps))


def serve(db: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "thinkact.cli.main", "ui", "--port",
                             str(port), "--trace-db", str(db)], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(base + "/ui/", timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("thinkact ui did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "t.sqlite"
        with SQLiteTraceStore(db) as store:
            record(store, "run-300", 300)
            record(store, "run-3000", 3000)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "thinkact.cli.main", "trace", "show", "run-300",
                        "--trace-db", str(db), "--reasoning", "collapsed"],
                       stdout=subprocess.DEVNULL, check=True,
                       env={**os.environ, "COLUMNS": "120"})
        peer_ms = (time.perf_counter() - t0) * 1000
        proc, base = serve(db)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
                ctx = browser.new_context(viewport={"width": 1200, "height": 800})
                ctx.add_init_script(MARKS)
                page = ctx.new_page()
                print(f"thinkact trace show run-300 (peer, whole process): {peer_ms:.0f} ms")
                print(f"{'run':>10} {'first step ms':>14} {'loaded ms':>10} {'jump ms':>8}")
                for run_id, target in (("run-300", 250), ("run-3000", 2500)):
                    first, ready, jump = [], [], []
                    for _ in range(args.repeat):
                        page.goto(f"{base}/ui/#/run/{run_id}")
                        page.wait_for_function("window.__first && window.__ready")
                        first.append(page.evaluate("window.__first"))
                        ready.append(page.evaluate("window.__ready"))
                        page.fill("#jump", str(target))
                        t = page.evaluate("performance.now()")
                        page.press("#jump", "Enter")
                        page.wait_for_selector(f"#step-{target}.jumped")
                        jump.append(page.evaluate("performance.now()") - t)
                        page.goto("about:blank")
                    med = statistics.median
                    print(f"{run_id:>10} {med(first):>14.0f} {med(ready):>10.0f} "
                          f"{med(jump):>8.0f}")
                    if run_id == "run-300":
                        print(f"{'':>10} loaded / 1 s ceiling: {med(ready) / 1000:.2f}; "
                              f"loaded / trace show: {med(ready) / peer_ms:.2f}")
                browser.close()
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
