"""A generated document collection with known answers, for search and browse tests.

Each document states facts that appear nowhere else (invented names), so a query for a fact
has exactly one right document. Filler text shared by all documents makes ranking non-trivial.
"""

from __future__ import annotations

from pathlib import Path

FILLER = (
    "This page is part of the field notes collection. The notes describe observations, "
    "procedures and measurements recorded by the survey team during the season. "
)

# relative path -> (title, body). Bodies hold the facts queries look for.
DOCS: dict[str, tuple[str, str]] = {
    "birds/heron.md": ("Grey heron", "The grey heron nests in heronries; eggs hatch after "
                       "25 days. The Tarnwick colony holds 41 nests."),
    "birds/kestrel.md": ("Kestrel", "The kestrel hovers over verges hunting voles. Pairs "
                         "at Moorcombe raised 5 chicks."),
    "birds/egret.txt": ("egret", "Little egrets arrived at Saltmarsh Bay in April; the "
                        "roost peaked at 112 birds."),
    "geology/basalt.html": ("Basalt columns of Fingal Ridge", "The hexagonal basalt columns "
                            "formed when lava cooled slowly; the tallest is 19 metres."),
    "geology/chalk.html": ("Chalk downs", "Chalk is made of coccolith plates. The Wendle "
                           "escarpment exposes flint bands every 40 centimetres."),
    "weather/rain.md": ("Rainfall log", "Rainfall at the Brackenfold gauge totalled 1312 "
                        "millimetres; the wettest month was November."),
    "weather/wind.txt": ("wind", "The anemometer on Cairn Hollow recorded a gust of 97 "
                         "knots during the January storm named Orla."),
    "methods/sampling.md": ("Quadrat sampling", "Each quadrat is one square metre; the "
                            "team threw 60 quadrats per meadow using a random walk."),
    "methods/ringing.html": ("Bird ringing protocol", "Ringers fit a numbered aluminium ring "
                             "to the right leg; recoveries are reported to the ringing scheme."),
    "notes/zeppelin.md": ("Odd sightings", "A silver zeppelin-shaped cloud (lenticular) sat "
                          "over Pike Edge for three hours on 4 May."),
}

# query -> relative path of the one document that answers it
QUESTIONS: dict[str, str] = {
    "how many nests in the Tarnwick colony": "birds/heron.md",
    "egret roost peak Saltmarsh Bay": "birds/egret.txt",
    "tallest basalt column height": "geology/basalt.html",
    "flint bands escarpment": "geology/chalk.html",
    "wettest month rainfall gauge": "weather/rain.md",
    "strongest gust storm Orla": "weather/wind.txt",
    "quadrats per meadow random walk": "methods/sampling.md",
    "which leg gets the aluminium ring": "methods/ringing.html",
    "lenticular cloud Pike Edge": "notes/zeppelin.md",
    "kestrel chicks Moorcombe": "birds/kestrel.md",
}


def render(relpath: str, title: str, body: str) -> str:
    if relpath.endswith(".md"):
        return f"# {title}\n\n{FILLER}\n\n## Observations\n\n{body}\n\n{FILLER}\n"
    if relpath.endswith(".html"):
        return (
            f"<html><head><title>{title}</title></head><body>"
            "<nav><a href='/'>Home</a> <a href='/index.html'>Index</a></nav>"
            f"<article><h1>{title}</h1><p>{FILLER}</p><h2>Observations</h2><p>{body}</p>"
            f"<p>{FILLER}</p></article><footer>Field notes site footer</footer></body></html>"
        )
    return f"{FILLER}\n\n{body}\n\n{FILLER}\n"


def write_corpus(root: Path) -> dict[str, Path]:
    """Write every document under ``root``; returns relpath -> absolute path."""
    out = {}
    for rel, (title, body) in DOCS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(rel, title, body), encoding="utf-8")
        out[rel] = path
    return out


def long_markdown(sections: int = 12, words_per_section: int = 260) -> str:
    """A long document: each section has a unique keyword ``sectionkeyNN``."""
    parts = ["# Expedition handbook\n"]
    for n in range(1, sections + 1):
        parts.append(f"## Chapter {n}: topic {n}\n")
        filler = " ".join(f"word{(n * 7 + i) % 50}" for i in range(words_per_section))
        parts.append(f"{filler} sectionkey{n:02d} appears here. {filler}\n")
    return "\n".join(parts)


def minimal_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF with the given text lines (Helvetica), built by hand."""
    ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
    for line in lines:
        safe = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({safe}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref
    )
    return bytes(out)
