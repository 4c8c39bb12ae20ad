"""The Python docs corpus, indexed once per test session (library pages and module index).

The index lives in pytest's cache folder when there is one: indexing is incremental (size
and time of each page), so a later session only checks the pages instead of reading them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from thinkact.eval.suites.pydocs import PyDocs, corpus_tree, pydocs_root
from thinkact.tools.builtin.search.index import SearchIndex


@pytest.fixture(scope="session")
def pydocs(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[PyDocs]:
    root = pydocs_root()
    if root is None:
        pytest.skip("the Python docs (Debian python3-doc) are not installed")
    docs = PyDocs(root)
    cache = getattr(request.config, "cache", None)
    base = cache.mkdir("pydocs-index") if cache is not None else tmp_path_factory.mktemp(
        "pydocs")
    tree = corpus_tree(docs, base / "corpus", ("library/",))
    index = SearchIndex(base / "index.sqlite")
    stats = index.index_folder(tree)
    assert not stats.failed, stats.failed[:3]
    docs.index = index
    yield docs
    index.close()


@pytest.fixture(scope="session")
def pydocs_pages() -> PyDocs:
    """The docs without a search index (for checks that read the HTML and page texts)."""
    root = pydocs_root()
    if root is None:
        pytest.skip("the Python docs (Debian python3-doc) are not installed")
    return PyDocs(root)
