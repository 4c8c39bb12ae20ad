"""Turn files and fetched bytes into clean text, and text into citable passages.

One extraction path is shared by the indexer and by ``browse``: a passage's character offset
recorded at index time then points at the same place when the document is opened for reading.
HTML goes through trafilatura (Markdown output keeps headings, so passages know their section).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
TEXT_SUFFIXES = {".txt", ".text", ".rst", ".log", ".csv"}
MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdx"}
PDF_SUFFIXES = {".pdf"}

_MD_LINK = re.compile(r"(?<!!)\[([^\]\n]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_MD_ESCAPE = re.compile(r"\\([\\_\[\]*#`()>+\-.!|{}])")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


class ExtractionError(Exception):
    """The content cannot be turned into text (unsupported type, broken PDF, ...)."""


@dataclass
class Link:
    text: str
    url: str


@dataclass
class ExtractedDoc:
    """Clean text of one document. ``links`` are numbered 1.. in order of appearance."""

    title: str
    text: str
    links: list[Link] = field(default_factory=list)


@dataclass
class Chunk:
    """A passage: where it starts in the document text and which section it sits in."""

    start: int
    heading: str
    text: str


def pdf_available() -> bool:
    try:
        import pypdf  # noqa: F401
    except ImportError:
        return False
    return True


def html_title(html: str) -> str:
    """``<title>``, else the first ``<h1>``; empty when neither exists."""
    import lxml.html

    try:
        tree = lxml.html.fromstring(html)
    except Exception:  # lxml raises several types for garbage input
        return ""
    for xpath in ("//title", "//h1"):
        for node in tree.xpath(xpath):
            text = " ".join(node.text_content().split())
            if text:
                return text.replace("¶", "").strip()
    return ""


def html_links(html: str, base_url: str) -> list[Link]:
    """Every followable ``<a href>`` of a page, absolute, de-duplicated (fallback link list)."""
    from urllib.parse import urljoin

    import lxml.html

    try:
        tree = lxml.html.fromstring(html)
    except Exception:
        return []
    seen: set[str] = set()
    links: list[Link] = []
    for node in tree.xpath("//a[@href]"):
        href = str(node.get("href", "")).strip()
        if not href or href.startswith(("#", "javascript:", "mailto:")):
            continue
        url = urljoin(base_url, href).split("#", 1)[0]
        if url in seen:
            continue
        seen.add(url)
        links.append(Link(" ".join(node.text_content().split()), url))
    return links


def _number_links(markdown: str, base_url: str | None) -> tuple[str, list[Link]]:
    """Replace ``[text](url)`` with ``text [n]`` and collect the absolute URLs."""
    from urllib.parse import urljoin

    links: list[Link] = []
    index: dict[str, int] = {}

    def repl(match: re.Match[str]) -> str:
        text, href = match.group(1), match.group(2)
        if href.startswith(("javascript:", "mailto:")):
            return text
        url = urljoin(base_url, href) if base_url else href
        if url not in index:
            links.append(Link(text, url))
            index[url] = len(links)
        return f"{text} [{index[url]}]"

    return _MD_LINK.sub(repl, markdown), links


def unescape_markdown(text: str) -> str:
    """Drop trafilatura's Markdown escapes (``\\_``) outside code, where they are literal."""
    out: list[str] = []
    pos = 0
    for match in _CODE.finditer(text):
        out.append(_MD_ESCAPE.sub(r"\1", text[pos:match.start()]))
        out.append(match.group(0))
        pos = match.end()
    out.append(_MD_ESCAPE.sub(r"\1", text[pos:]))
    return "".join(out)


def extract_html(
    html: str, base_url: str | None = None, *, with_links: bool = False
) -> ExtractedDoc:
    """Main content of a page as Markdown-ish text, without navigation boilerplate."""
    import trafilatura

    text = trafilatura.extract(
        html, output_format="markdown", include_formatting=True, include_links=with_links,
        include_tables=True, favor_recall=True, url=base_url,
    ) or ""
    text = unescape_markdown(text).replace("¶", "")
    links: list[Link] = []
    if with_links:
        text, links = _number_links(text, base_url)
    return ExtractedDoc(title=html_title(html), text=text.strip(), links=links)


def extract_pdf(data: bytes) -> ExtractedDoc:
    """Text per page under ``## Page N`` headings, so passages and finds name the page."""
    try:
        import pypdf
    except ImportError as exc:
        raise ExtractionError("PDF support needs the 'pypdf' package") from exc
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except Exception as exc:
        raise ExtractionError(f"cannot read PDF: {exc}") from exc
    text = "\n\n".join(f"## Page {i}\n\n{body.strip()}" for i, body in enumerate(pages, 1))
    return ExtractedDoc(title=str(meta_title).strip(), text=text)


def _markdown_title(text: str) -> str:
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match and len(match.group(1)) == 1:
            return match.group(2).strip()
    return ""


def extract_bytes(
    data: bytes, *, kind: str, name: str, base_url: str | None = None, with_links: bool = False
) -> ExtractedDoc:
    """Dispatch on ``kind`` ('html', 'markdown', 'text', 'pdf'); title falls back to ``name``."""
    if kind == "pdf":
        doc = extract_pdf(data)
    else:
        raw = data.decode("utf-8", errors="replace")
        if kind == "html":
            doc = extract_html(raw, base_url, with_links=with_links)
        elif kind == "markdown":
            body = raw.strip()
            links: list[Link] = []
            if with_links:
                body, links = _number_links(body, base_url)
            doc = ExtractedDoc(title=_markdown_title(raw), text=body, links=links)
        elif kind == "text":
            doc = ExtractedDoc(title="", text=raw.strip())
        else:
            raise ExtractionError(f"unsupported document kind {kind!r}")
    if not doc.title:
        doc.title = name
    return doc


def kind_for_suffix(suffix: str) -> str | None:
    suffix = suffix.lower()
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix in TEXT_SUFFIXES:
        return "text"
    if suffix in PDF_SUFFIXES and pdf_available():
        return "pdf"
    return None


def extract_file(path: Path, *, with_links: bool = False) -> ExtractedDoc:
    kind = kind_for_suffix(path.suffix)
    if kind is None:
        raise ExtractionError(f"unsupported file type {path.suffix!r}: {path.name}")
    return extract_bytes(
        path.read_bytes(), kind=kind, name=path.stem, base_url=path.resolve().as_uri(),
        with_links=with_links,
    )


def chunk_text(text: str, target: int = 1500, limit: int = 2200) -> list[Chunk]:
    """Split at paragraph boundaries into ~``target``-char passages, each tagged with the
    heading path it starts under (``Title > Section``); over-long paragraphs are cut hard."""
    chunks: list[Chunk] = []
    headings: list[tuple[int, str]] = []
    cur_start, cur_heading = 0, ""
    cur_parts: list[str] = []
    pos = 0

    def flush(end: int) -> None:
        nonlocal cur_parts
        body = text[cur_start:end].strip()
        if body:
            chunks.append(Chunk(cur_start, cur_heading, body))
        cur_parts = []

    for para in re.split(r"(\n\s*\n)", text):
        para_start = pos
        pos += len(para)
        if not para.strip():
            continue
        match = _HEADING.match(para.strip().splitlines()[0])
        size = para_start - cur_start
        if cur_parts and (size >= target or (match and size >= target // 3)):
            flush(para_start)
        if not cur_parts:
            cur_start = para_start
        if match:
            level = len(match.group(1))
            headings = [h for h in headings if h[0] < level] + [(level, match.group(2).strip())]
        if not cur_parts:
            cur_heading = " > ".join(h for _, h in headings)
        cur_parts.append(para)
        while pos - cur_start > limit:
            cut = cur_start + target
            space = text.rfind(" ", cur_start + target // 2, cut)
            cut = space if space > 0 else cut
            flush(cut)
            cur_start = cut
            cur_parts = [text[cut:pos]]
    if cur_parts:
        flush(len(text))
    return chunks
