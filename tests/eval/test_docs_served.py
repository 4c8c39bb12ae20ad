"""The docs suites serve the Python docs on loopback for an eval: the agent finds pages with
``search`` (results are the server's URLs), reads them with the real ``browse`` over HTTP,
cites the URLs, and the scorer maps each URL back to the corpus page it names."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from support.docs_agent import _call, reader_policy, served_url
from support.docs_guides import GUIDE, PAGE
from support.docs_server import Route, serve
from support.eval_kit import evaluate
from thinkact.backends.scripted import ScriptedBackend
from thinkact.eval.suites import docsearch, docwriting
from thinkact.eval.suites.pydocs import PyDocs
from thinkact.eval.suites.pydocs_server import CorpusServer
from thinkact.messages import Message
from thinkact.tools.base import ToolContext, ToolError


def _sample(docs: PyDocs) -> list[docsearch.Question]:
    """One held-out question of each one-page kind."""
    out: dict[str, docsearch.Question] = {}
    for q in docsearch.split(docsearch.generate(docs, seed=0), "test"):
        if q.kind in ("version", "default", "module"):
            out.setdefault(q.kind, q)
    return list(out.values())


def test_the_server_gives_files_of_its_root_only(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "library").mkdir(parents=True)
    (root / "library" / "a.html").write_text("<html><body>page A</body></html>")
    (tmp_path / "secret.txt").write_text("SECRET")
    (root / "library" / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (root / "evil").mkdir()  # a folder whose index page links out of the root
    (root / "evil" / "index.html").symlink_to(tmp_path / "secret.txt")
    (root / "guide").mkdir()
    (root / "guide" / "index.html").write_text("<html><body>the guide</body></html>")
    with CorpusServer(root) as server:
        assert "the guide" in httpx.get(server.url("guide/")).text
        assert server.origin.startswith("http://127.0.0.1:")
        page = httpx.get(server.url("library/a.html"))
        assert page.status_code == 200 and "page A" in page.text
        assert page.headers["content-type"].startswith("text/html")
        for path in ("library/leak.txt", "library/", "../secret.txt", "%2e%2e/secret.txt",
                     "evil/", "evil"):
            got = httpx.get(f"{server.origin}/{path}")
            assert got.status_code == 404 and "SECRET" not in got.text, path
        assert httpx.post(server.url("library/a.html")).status_code == 501
    with pytest.raises(httpx.ConnectError):  # closed: nothing listens on the port any more
        httpx.get(server.url("library/a.html"))


@pytest.mark.parametrize("cites_right", [True, False])
def test_docsearch_reads_and_cites_the_served_pages(pydocs: PyDocs, tmp_path: Path,
                                                    cites_right: bool) -> None:
    sample = _sample(pydocs)
    assert len(sample) == 3
    suite = docsearch.suite_of(pydocs, sample)
    wrong = {q.id: next(o for o in sample if o.kind != q.kind) for q in sample}
    policy = reader_policy(sample, locate=served_url,
                           cite_as=None if cites_right else (lambda q: wrong[q.id]))
    seen: list[Sequence[Message]] = []
    replies: list[str] = []

    def recording(messages: Sequence[Message]) -> Message:
        seen.append(list(messages))
        out = policy(messages)
        if not out.tool_calls:
            replies.append(str(out.content))
        return out

    report = evaluate(suite, ScriptedBackend(recording), tmp_path,
                      options={"recipe": "search", "max_tool_calls": 100, "max_steps": 100})
    assert report["n"] == 3
    assert report["accuracy"] == (1.0 if cites_right else 0.0)  # the answers are right both times
    outputs = [str(m.content) for conv in seen for m in conv if m.role == "tool"]
    assert "cite documents by URL" in outputs[0]
    origin = "/".join(served_url("x", outputs[:1]).split("/", 3)[:3])
    assert origin.startswith("http://127.0.0.1:")
    browsed = {c.parse_arguments()["url"] for conv in seen for m in conv for c in m.tool_calls
               if c.name == "browse"}
    assert browsed and all(u.startswith(origin + "/library/") for u in browsed)
    assert any(f"Source: {origin}/library/" in out for out in outputs)  # read over HTTP
    cited = [docsearch.parse_reply(r)[1] for r in replies]
    assert len(cited) == 3 and all(c and all(u.startswith(origin + "/") for u in c)
                                   for c in cited)
    assert [docsearch.parse_reply(r)[0] for r in replies] == [q.answer for q in sample]
    assert suite.server is None
    with pytest.raises(httpx.ConnectError):  # the server lived for the eval only
        httpx.get(origin + "/index.html")


def test_docwriting_reads_the_served_page_and_its_guide_cites_the_url(pydocs: PyDocs,
                                                                     tmp_path: Path) -> None:
    task = docwriting.WritingTask(id="guide:functools", module="functools", page=PAGE,
                                  functions=("cache",))
    suite = docwriting.suite_of(pydocs, [task])
    written: list[str] = []

    def writer(messages: Sequence[Message]) -> Message:
        outputs = [str(m.content) for m in messages if m.role == "tool"]
        if not outputs:
            return _call(0, "search", query="functools lru_cache cache")
        url = served_url(PAGE, outputs[:1])
        if len(outputs) == 1:
            return _call(1, "browse", url=url, find="functools.lru_cache")
        if len(outputs) == 2:
            assert f"Source: {url}" in outputs[1] and "**functools.lru_cache**" in outputs[1]
            written.append(GUIDE.replace(f"]({PAGE}", f"]({url}"))
            return _call(2, "files", action="write", path="guide.md", content=written[0])
        return Message(role="assistant", content="Wrote guide.md.")

    report = evaluate(suite, ScriptedBackend(writer), tmp_path,
                      options={"recipe": "writing", "max_tool_calls": 10})
    assert report["accuracy"] == 1.0 and report["mean"]["tool_calls"] == 3
    assert all(c.startswith("http://127.0.0.1:") for c in docwriting.citations(written[0]))
    full = docwriting.score_text(task, written[0], pydocs)
    assert full.score == 1.0, full.detail  # every check, the cited URLs resolved to the page


def test_a_cited_url_counts_as_the_corpus_page_it_names(pydocs: PyDocs) -> None:
    q = next(q for q in _sample(pydocs) if q.kind == "version")
    page = q.sources[0]
    for host, counts in (("127.0.0.1:40123", True), ("localhost:9", True),
                         ("docs.example.org", False)):
        s = docsearch.score(q, f"Answer: {q.answer}\nSources: http://{host}/{page}", pydocs)
        assert (s.correct, s.cited) == (True, counts), host


async def test_the_suites_browse_reaches_its_server_and_no_other_loopback_port(
        pydocs: PyDocs, tmp_path: Path) -> None:
    suite = docsearch.suite_of(pydocs, _sample(pydocs))
    item = suite.items()[0]
    with serve({"/private.html": Route(b"<html><body>private service</body></html>")}) as other, \
            suite.serve() as server:
        search, browse = suite.extra_tools(item)
        ctx = ToolContext(workspace=tmp_path)
        page = await browse.call({"url": server.url("library/functools.html")}, ctx)
        assert f"Source: {server.origin}/library/functools.html" in page
        for url in (other.base + "/private.html", server.url("x").replace("127.0.0.1",
                                                                           "localhost")):
            with pytest.raises(ToolError, match="non-public address"):
                await browse.call({"url": url}, ctx)
        assert other.requests == []
        for tool in (search, browse):
            await tool.aclose()
    assert suite.server is None
