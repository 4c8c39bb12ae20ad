"""The Python docs corpus, indexed once per test session (library pages and module index)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from thinkact.eval.pydocs import PyDocs, corpus_tree, pydocs_root
from thinkact.tools.builtin.search.index import SearchIndex


@pytest.fixture(scope="session")
def pydocs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PyDocs]:
    root = pydocs_root()
    if root is None:
        pytest.skip("the Python docs (Debian python3-doc) are not installed")
    docs = PyDocs(root)
    base = tmp_path_factory.mktemp("pydocs")
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
