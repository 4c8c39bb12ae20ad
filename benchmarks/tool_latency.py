"""Tool latency, each figure next to a peer measured in the same run.

    .venv/bin/python benchmarks/tool_latency.py [--reps N]

python tool: round trip of a trivial call on a warm kernel in the bubblewrap jail vs a fresh
``python -c`` process (what a stateless "run this snippet" tool would pay per call), with the
same call on an unjailed kernel (``unsafe=True``) and both kernels' start times beside it.
shell: a trivial command in a fresh jail vs the same command unjailed. Each measurement is
one function returning a ``Measurement``; add new ones to ``MEASUREMENTS``.

search: query latency of the local index (SQLite FTS5/BM25, Python docs pages when
python3-doc is installed, else generated text) vs a linear TF-IDF scan over the same
passages held in memory; median and p95.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from thinkact.tools.base import ToolContext
from thinkact.tools.builtin.python_tool import PythonTool
from thinkact.tools.builtin.shell import ShellTool


@dataclass
class Measurement:
    name: str
    subject: str  # what we measured
    peer: str  # what it is compared with
    subject_ms: list[float]
    peer_ms: list[float]
    extra: str = ""

    def report(self) -> str:
        s, p = statistics.median(self.subject_ms), statistics.median(self.peer_ms)
        lines = [
            f"== {self.name} ({len(self.subject_ms)} reps)",
            f"  {self.subject:<44} median {s:9.2f} ms",
            f"  {self.peer:<44} median {p:9.2f} ms",
            f"  ratio peer/subject: {p / s:.1f}x" if s > 0 else "  ratio: n/a",
        ]
        if self.extra:
            lines.append(f"  {self.extra}")
        return "\n".join(lines)


async def _timed(fn: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await fn()
    return (time.perf_counter() - start) * 1000


async def measure_python_tool(reps: int) -> Measurement:
    """Warm jailed ``python`` call vs a fresh interpreter per snippet (and vs unjailed)."""
    with tempfile.TemporaryDirectory() as tmp:
        ctx = ToolContext(run_id="bench", workspace=Path(tmp))
        jailed_tool, open_tool = PythonTool(), PythonTool(unsafe=True)
        try:
            jail_cold = await _timed(lambda: jailed_tool.call({"code": "x = 0"}, ctx))
            open_cold = await _timed(lambda: open_tool.call({"code": "x = 0"}, ctx))
            jailed: list[float] = []
            unjailed: list[float] = []
            code = {"code": "x += 1; print(x)"}
            for _ in range(reps):  # interleaved, so machine noise hits both alike
                jailed.append(await _timed(lambda: jailed_tool.call(code, ctx)))
                unjailed.append(await _timed(lambda: open_tool.call(code, ctx)))
        finally:
            await jailed_tool.aclose()
            await open_tool.aclose()
    fresh: list[float] = []
    for _ in range(reps):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "x = 1; print(x)"], check=True,
                       capture_output=True)
        fresh.append((time.perf_counter() - start) * 1000)
    j, u = statistics.median(jailed), statistics.median(unjailed)
    return Measurement("python tool", "warm kernel call in the jail (x += 1; print(x))",
                       "fresh `python -c` subprocess", jailed, fresh,
                       extra=(f"same call unjailed: median {u:.2f} ms (the jail adds "
                              f"{j - u:+.2f} ms per call)\n  first call incl. kernel start: "
                              f"jailed {jail_cold:.0f} ms, unjailed {open_cold:.0f} ms"))


async def measure_shell(reps: int) -> Measurement:
    """A trivial ``shell`` command in a fresh jail vs the same command unjailed."""
    with tempfile.TemporaryDirectory() as tmp:
        ctx = ToolContext(run_id="bench", workspace=Path(tmp))
        jailed_tool = ShellTool(require_approval=False)
        open_tool = ShellTool(require_approval=False, unsafe=True)
        jailed: list[float] = []
        unjailed: list[float] = []
        for _ in range(reps):  # interleaved, so machine noise hits both alike
            jailed.append(await _timed(lambda: jailed_tool.call({"command": "true"}, ctx)))
            unjailed.append(await _timed(lambda: open_tool.call({"command": "true"}, ctx)))
    return Measurement("shell tool", "`true` in a fresh jail (bwrap + launcher)",
                       "`true` unjailed (bash -c)", jailed, unjailed)


# -- search: query latency of the local index vs a linear scan over the same passages --------

SEARCH_QUERIES = [
    "json.dumps indent sort_keys", "csv DictWriter writeheader", "regular expression lookahead",
    "sqlite3 executemany placeholders", "timedelta total_seconds", "defaultdict default_factory",
    "subprocess run capture_output", "argparse add_argument nargs", "Path glob rglob",
    "itertools groupby", "functools lru_cache maxsize", "logging basicConfig format",
    "random choices weights", "math isclose tolerance", "os.path join normpath",
    "heapq nlargest", "datetime strptime format codes", "enum auto value",
]


def _search_corpus(workdir: Path, pages: int) -> tuple[Path, list[str]]:
    """The Python docs' library pages when python3-doc is installed, else generated text."""
    docs = Path("/usr/share/doc/python3/html/library")
    root = workdir / "corpus"
    root.mkdir()
    if docs.is_dir():
        import shutil

        wanted = ["json", "csv", "re", "sqlite3", "datetime", "collections", "subprocess",
                  "argparse", "pathlib", "itertools", "functools", "logging", "random", "math",
                  "os.path", "heapq", "enum"]
        names = [f"{n}.html" for n in wanted]
        names += sorted(p.name for p in docs.glob("*.html") if p.name not in names)
        for name in names[:pages]:
            shutil.copy(docs / name, root / name)
        return root, SEARCH_QUERIES
    import random

    rng = random.Random(7)
    vocab = [f"term{i}" for i in range(5000)]
    for n in range(pages):
        words = rng.choices(vocab, k=3000)
        (root / f"doc{n:04d}.md").write_text(f"# Document {n}\n\n" + " ".join(words))
    return root, [" ".join(rng.choices(vocab, k=3)) for _ in range(len(SEARCH_QUERIES))]


def _linear_scan(passages: list[tuple[str, list[str]]], query: str, k: int) -> list[str]:
    """The peer: score every passage by summed term frequency x idf, keep the top k."""
    import math
    import re

    terms = [t.lower() for t in re.findall(r"\w+", query)]
    n = len(passages)
    df = {t: sum(1 for _, toks in passages if t in toks) for t in terms}
    scored = []
    for key, toks in passages:
        score = sum(toks.count(t) * math.log(1 + n / (1 + df[t])) for t in terms)
        if score > 0:
            scored.append((score, key))
    scored.sort(reverse=True)
    return [key for _, key in scored[:k]]


async def measure_search(reps: int) -> Measurement:
    """Local search query latency (SQLite FTS5/BM25) vs a linear scan of the same passages."""
    import re

    from thinkact.tools.builtin.search.index import SearchIndex

    pages, rounds = 60, max(1, reps // 4)
    with tempfile.TemporaryDirectory() as tmp:
        root, queries = _search_corpus(Path(tmp), pages)
        index = SearchIndex(Path(tmp) / "index.sqlite")
        t0 = time.perf_counter()
        stats = index.index_folder(root)
        index_s = time.perf_counter() - t0
        records = index.all_passages()
        # the peer gets its passages pre-tokenised in memory: only the scan is timed
        passages = [(f"{p.doc_id}#{p.passage_no}", re.findall(r"\w+", p.body.lower()))
                    for p in records]
        fts: list[float] = []
        scan: list[float] = []
        agree = 0
        for _ in range(rounds):
            for q in queries:
                t = time.perf_counter()
                hits = index.search(q, limit=5)
                fts.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                top = _linear_scan(passages, q, 5)
                scan.append((time.perf_counter() - t) * 1000)
                agree += bool(hits and top and hits[0].doc_id == top[0].split("#")[0])
        index.close()

    def p95(xs: list[float]) -> float:
        return sorted(xs)[max(0, round(0.95 * len(xs)) - 1)]

    return Measurement(
        "search", f"FTS5/BM25 query ({len(queries)} queries x {rounds})",
        "linear TF-IDF scan over the same passages", fts, scan,
        extra=(f"p95: FTS5 {p95(fts):.2f} ms, scan {p95(scan):.2f} ms; {stats.added} documents, "
               f"{len(records)} passages indexed in {index_s:.1f} s; same top document in "
               f"{agree / len(fts):.0%} of queries"),
    )


MEASUREMENTS: list[Callable[[int], Awaitable[Measurement]]] = [
    measure_python_tool, measure_shell, measure_search]


async def main(reps: int) -> None:
    for measure in MEASUREMENTS:
        print((await measure(reps)).report(), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    asyncio.run(main(parser.parse_args().reps))
