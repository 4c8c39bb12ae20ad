"""The local search index over real files: ranking, ids, passages, incremental updates."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from support.docs_corpus import DOCS, QUESTIONS, long_markdown, minimal_pdf, write_corpus
from thinkact.tools.builtin.search.extract import chunk_text, pdf_available
from thinkact.tools.builtin.search.index import SearchIndex, build_match_query, doc_id_for

PY_DOCS = Path("/usr/share/doc/python3/html/library")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    write_corpus(root)
    return root


@pytest.fixture
def index(tmp_path: Path) -> SearchIndex:
    ix = SearchIndex(tmp_path / "db" / "index.sqlite")
    yield ix
    ix.close()


def test_known_answers_rank_first(corpus: Path, index: SearchIndex) -> None:
    stats = index.index_folder(corpus)
    assert (stats.added, stats.updated, stats.removed, stats.failed) == (len(DOCS), 0, 0, [])
    for question, rel in QUESTIONS.items():
        hits = index.search(question, limit=3)
        assert hits, question
        assert hits[0].doc_id == doc_id_for(rel), (question, [h.path.name for h in hits])
        assert hits[0].path == corpus / rel


def test_titles_headings_and_snippets(corpus: Path, index: SearchIndex) -> None:
    index.index_folder(corpus)
    basalt = index.search("hexagonal basalt columns")[0]
    assert basalt.title == "Basalt columns of Fingal Ridge"  # from <title>
    assert "**basalt**" in basalt.snippet.lower()
    heron = index.search("Tarnwick colony")[0]
    assert heron.title == "Grey heron"  # first Markdown heading
    assert heron.heading == "Grey heron"  # one short passage: under the title
    assert "**Tarnwick**" in heron.snippet
    wind = index.search("anemometer gust")[0]
    assert wind.title == "wind"  # plain text: file name
    # the HTML nav/footer boilerplate is not indexed
    assert index.search("site footer") == []


def test_doc_ids_are_stable_across_reindex_and_moves(corpus: Path, tmp_path: Path) -> None:
    first = SearchIndex(tmp_path / "a.sqlite")
    first.index_folder(corpus)
    ids_a = {h.doc_id for q in QUESTIONS for h in first.search(q, limit=1)}
    first.close()
    moved = tmp_path / "elsewhere" / "notes-copy"
    shutil.copytree(corpus, moved)
    second = SearchIndex(tmp_path / "b.sqlite")
    second.index_folder(moved)
    ids_b = {h.doc_id for q in QUESTIONS for h in second.search(q, limit=1)}
    second.close()
    assert ids_a == ids_b == {doc_id_for(rel) for rel in DOCS}


def test_incremental_reindex(corpus: Path, index: SearchIndex) -> None:
    index.index_folder(corpus)
    heron_id = doc_id_for("birds/heron.md")
    # modify one, delete one, add one, touch one without changing it
    (corpus / "birds/heron.md").write_text("# Grey heron\n\nThe Tarnwick colony moved to "
                                           "Quillmere reservoir in spring.\n")
    (corpus / "weather/wind.txt").unlink()
    (corpus / "birds/wren.md").write_text("# Wren\n\nA wren sang from the Ottersby hedge.\n")
    rain = corpus / "weather/rain.md"
    os.utime(rain, ns=(rain.stat().st_atime_ns, rain.stat().st_mtime_ns + 5_000_000_000))
    stats = index.index_folder(corpus)
    assert (stats.added, stats.updated, stats.removed) == (1, 1, 1)
    assert stats.unchanged == len(DOCS) - 2
    assert index.document_count() == len(DOCS)
    moved = index.search("Quillmere reservoir")
    assert [h.doc_id for h in moved] == [heron_id]  # same id after the edit
    assert index.search("41 nests Tarnwick")[0].doc_id == heron_id  # only 'Tarnwick' left
    assert "41" not in index.search("Tarnwick")[0].snippet
    assert index.search("anemometer Orla") == []
    assert index.search("Ottersby hedge")[0].doc_id == doc_id_for("birds/wren.md")
    again = index.index_folder(corpus)
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, len(DOCS))


def test_long_document_points_at_the_right_passage(tmp_path: Path, index: SearchIndex) -> None:
    root = tmp_path / "long"
    root.mkdir()
    (root / "handbook.md").write_text(long_markdown())
    stats = index.index_folder(root)
    assert stats.passages > 6
    hit = index.search("sectionkey09")[0]
    assert hit.passage_no > 1
    assert "Chapter 9" in hit.heading
    assert hit.heading.startswith("Expedition handbook > ")
    passages = {p.passage_no: p for p in index.passages(hit.doc_id)}
    assert "sectionkey09" in passages[hit.passage_no].body


def test_chunks_cover_text_and_respect_limit() -> None:
    text = long_markdown(sections=5)
    chunks = chunk_text(text, target=800, limit=1200)
    assert all(len(c.text) <= 1200 for c in chunks)
    for c in chunks:  # each chunk's offset points at its own text
        assert text[c.start:c.start + 40].strip()[:20] == c.text[:20]
    assert "sectionkey05" in chunks[-1].text or any("sectionkey05" in c.text for c in chunks)


def test_query_syntax_is_not_injected(corpus: Path, index: SearchIndex) -> None:
    index.index_folder(corpus)
    for query in ['"unbalanced', "NEAR(heron kestrel)", "heron AND", "-kestrel", "col:x", "*"]:
        index.search(query)  # must not raise sqlite3.OperationalError
    assert build_match_query("the heron OR kestrel") == '"heron" "kestrel"'
    assert build_match_query("!!!") is None


@pytest.mark.skipif(not pdf_available(), reason="pypdf not installed")
def test_pdf_documents_are_indexed(tmp_path: Path, index: SearchIndex) -> None:
    root = tmp_path / "pdfs"
    root.mkdir()
    (root / "core.pdf").write_bytes(minimal_pdf(["Permafrost core K7 was drilled to 3.5 m."]))
    (root / "other.md").write_text("# Other\n\nNothing about drilling here.\n")
    index.index_folder(root)
    hit = index.search("permafrost core K7")[0]
    assert hit.path.name == "core.pdf"
    assert "Page 1" in hit.heading


def test_unreadable_files_are_reported_not_fatal(corpus: Path, index: SearchIndex) -> None:
    if pdf_available():
        (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
        stats = index.index_folder(corpus)
        assert [rel for rel, _ in stats.failed] == ["broken.pdf"]
        assert stats.added == len(DOCS)


PY_QUESTIONS = {
    "json.dumps indent sort_keys": "json.html",
    "csv DictWriter writeheader": "csv.html",
    "regular expression lookahead assertion": "re.html",
    "sqlite3 executemany placeholders": "sqlite3.html",
    "timedelta total_seconds": "datetime.html",
    "defaultdict default_factory missing keys": "collections.html",
    "subprocess run capture_output": "subprocess.html",
    "argparse add_argument nargs": "argparse.html",
    "Path glob rglob": "pathlib.html",
    "itertools groupby consecutive keys": "itertools.html",
}


@pytest.mark.skipif(not PY_DOCS.is_dir(), reason="python3-doc (Debian) is not installed")
def test_python_documentation_questions(tmp_path: Path, index: SearchIndex) -> None:
    root = tmp_path / "pydocs" / "library"
    root.mkdir(parents=True)
    extra = ["functools.html", "logging.html", "os.path.html", "random.html", "math.html"]
    for name in [*PY_QUESTIONS.values(), *extra]:
        shutil.copy(PY_DOCS / name, root / name)
    stats = index.index_folder(root.parent)
    assert stats.added == len(set(PY_QUESTIONS.values())) + len(extra)
    for question, name in PY_QUESTIONS.items():
        hits = index.search(question, limit=3)
        assert hits and hits[0].path.name == name, (question, [h.path.name for h in hits])
        assert hits[0].doc_id == doc_id_for(f"library/{name}")


def test_default_index_lives_in_the_data_dir(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    from thinkact.paths import default_trace_db
    from thinkact.tools.builtin.search.index import default_index_path

    monkeypatch.delenv("THINKACT_INDEX", raising=False)
    monkeypatch.setenv("THINKACT_HOME", str(tmp_path / "home"))
    assert default_index_path() == tmp_path / "home" / "index.sqlite"
    assert default_index_path().parent == default_trace_db().parent
    monkeypatch.setenv("THINKACT_INDEX", str(tmp_path / "x.sqlite"))
    assert default_index_path() == tmp_path / "x.sqlite"
