"""The agentic-search suite: questions over the Python docs whose answers the docs state.

Questions come from the docs' structure (``pydocs``): the version an entry's own note says
it was added in, a parameter's default in a signature, the module that defines a name.
Depths: one lookup (``version``, ``default``, ``module``), two hops (``two_hop``: the module
is named only by its synopsis in the module index, then the detail on its page) and
comparisons across pages (``compare``: which of two entries is older). Generation is
deterministic for a seed and a docs tree; ``split`` is fixed per question id (a quarter
held out as ``test``). A reply scores 1 only when its answer matches and, for every page
the answer comes from, some page it cites really contains the evidence.

As the ``docsearch`` suite (``thinkact eval docsearch``) the docs are served on loopback for
the eval, and each run gets ``search`` over the docs' own index (built in the data dir on
first use; results are the served pages' URLs) and ``browse`` allowed that server, and no
other tool. Options: ``split`` (test, the default, or dev), ``seed`` (0), ``kinds`` (comma list).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from thinkact.eval.suite import Attempt, Item, Score
from thinkact.eval.suites.package import no_more, pick
from thinkact.eval.suites.pydocs import ApiEntry, PyDocs, open_pydocs
from thinkact.eval.suites.pydocs_server import CorpusSuite

KINDS = ("version", "default", "module", "two_hop", "compare")
DEFAULT_COUNTS = {"version": 100, "default": 80, "module": 60, "two_hop": 60, "compare": 60}
REPLY_FORMAT = ("End your reply with a line 'Answer: <answer only>' and a line 'Sources: "
                "<the ids or URLs of the pages that state it>'.")

_ANSWER = re.compile(r"^[\s*_>#-]*answer[\s*_]*[:：][\s*]*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_CITATION = re.compile(
    r"(?:https?|file)://[^\s)\]>\"'`,;]+"  # URLs
    r"|\b(?:doc:)?[0-9a-f]{12}(?:#\d+)?\b"  # search ids
    r"|(?<![\w/:.])[\w.-]+(?:/[\w.-]+)*\.html\b"  # relative page paths
)
_PLAIN = re.compile(r"^[\w ,'-]+$")  # a synopsis without markup, platform tags or links


def split_of(item_id: str) -> str:
    """``test`` (held out) for a quarter of ids, fixed by the id alone; else ``dev``."""
    return "test" if int(hashlib.sha1(item_id.encode()).hexdigest(), 16) % 4 == 0 else "dev"


def check_split(name: str) -> str:
    if name not in ("dev", "test"):
        raise ValueError(f"split must be 'dev' or 'test', not {name!r}")
    return name


@dataclass(frozen=True)
class Question:
    """One question; ``evidence[i]`` holds strings that page ``sources[i]`` contains and a
    cited page must contain too. ``subject``/``param`` name what is asked about."""

    id: str
    kind: str
    depth: int  # 1 lookup, 2 two hops or two pages
    question: str
    answer: str
    accept: tuple[str, ...]
    sources: tuple[str, ...]
    evidence: tuple[tuple[str, ...], ...]
    subjects: tuple[str, ...]
    param: str | None = None

    @property
    def split(self) -> str:
        return split_of(self.id)

    @property
    def prompt(self) -> str:
        return f"{self.question}\n{REPLY_FORMAT}"


@dataclass
class SearchScore:
    score: float  # 1.0 when the answer matches and its evidence is cited, else 0.0
    correct: bool
    cited: bool
    answer: str
    citations: list[str] = field(default_factory=list)
    detail: str = ""


def normalise(text: str) -> str:
    """Case, quotes, backticks, emphasis, ``()``, a final period and "version" ignored."""
    text = text.strip().lower()
    text = re.sub(r"[`*'\"“”‘’]", "", text)
    text = re.sub(r"^(?:python\s+)?(?:version\s+)?", "", text).strip()
    text = text.rstrip(".").strip()
    if text.endswith("()"):
        text = text[:-2]
    return " ".join(text.split())


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _candidates(docs: PyDocs) -> list[ApiEntry]:
    """Module-level functions and classes of the library reference, named once each; a
    method that the page shows under the same dotted name (``socket.close`` for the
    method of ``socket.socket``) rules the entry out."""
    names = Counter(e.qualname for e in docs.entries)
    names.update(".".join(e.qualname.split(".")[-2:]) for e in docs.entries if "." in e.name)
    return [e for e in docs.entries
            if e.page.startswith("library/") and "." not in e.name
            and e.kind in ("function", "class", "exception") and names[e.qualname] == 1]


def _version_q(e: ApiEntry) -> Question:
    what = "function" if e.kind == "function" else e.kind
    return Question(
        id=f"version:{e.qualname}", kind="version", depth=1,
        question=f"In which Python version was the {what} `{e.qualname}` added?",
        answer=str(e.added), accept=(str(e.added),), sources=(e.page,),
        evidence=((e.qualname, f"New in version {e.added}"),), subjects=(e.qualname,),
    )


def _simple_default(value: str) -> bool:
    return 0 < len(value) <= 24 and "\n" not in value and "<" not in value


def _default_q(e: ApiEntry, rng: random.Random) -> Question | None:
    defaults = {k: v for k, v in e.defaults().items()
                if k.isidentifier() and _simple_default(v)}
    if not defaults:
        return None
    param = rng.choice(sorted(defaults))
    value = defaults[param]
    return Question(
        id=f"default:{e.qualname}:{param}", kind="default", depth=1,
        question=f"What is the default value of the `{param}` parameter of `{e.qualname}`?",
        answer=value, accept=(value,), sources=(e.page,),
        evidence=((e.qualname, f"{param}={value}"),), subjects=(e.qualname,), param=param,
    )


def _module_q(e: ApiEntry) -> Question:
    what = "function" if e.kind == "function" else e.kind
    return Question(
        id=f"module:{e.qualname}", kind="module", depth=1,
        question=f"Which standard-library module defines the {what} `{e.name}`? "
                 "Give the module's full dotted name.",
        answer=e.module, accept=(e.module,), sources=(e.page,), evidence=((e.qualname,),),
        subjects=(e.qualname,),
    )


def _two_hop_q(e: ApiEntry, synopsis: str, rng: random.Random) -> Question | None:
    what = "function" if e.kind == "function" else e.kind
    lead = f"Take the standard-library module whose module-index entry reads “{synopsis}”."
    if e.added and rng.random() < 0.5:
        inner = _version_q(e)
        question = f"{lead} In which Python version was its {what} `{e.name}` added?"
    else:
        found = _default_q(e, rng)
        if found is None:
            return None
        inner = found
        question = (f"{lead} What is the default value of the `{inner.param}` parameter of "
                    f"its {what} `{e.name}`?")
    return Question(
        id=f"two_hop:{inner.id}", kind="two_hop", depth=2, question=question,
        answer=inner.answer, accept=inner.accept, sources=inner.sources,
        evidence=inner.evidence, subjects=inner.subjects, param=inner.param,
    )


def _compare_q(a: ApiEntry, b: ApiEntry) -> Question:
    older, newer = sorted((a, b), key=lambda e: _version_key(str(e.added)))
    accept = (older.qualname,) if older.name == newer.name else (older.qualname, older.name)
    return Question(
        id=f"compare:{a.qualname}:{b.qualname}", kind="compare", depth=2,
        question=(f"Which was added to Python first: `{a.qualname}` or `{b.qualname}`? "
                  "Answer with its qualified name."),
        answer=older.qualname, accept=accept, sources=(a.page, b.page),
        evidence=((a.qualname, f"New in version {a.added}"),
                  (b.qualname, f"New in version {b.added}")),
        subjects=(a.qualname, b.qualname),
    )


def visible(docs: PyDocs, q: Question) -> bool:
    """Every evidence string is in the text of its page as the tools show it (the text
    extraction drops a few entries of some pages; their questions could not be answered)."""
    pages_ok = all(docs.contains(page, s)
                   for page, needed in zip(q.sources, q.evidence, strict=True) for s in needed)
    if q.kind == "two_hop":
        synopsis = q.question.split("“", 1)[1].split("”", 1)[0]
        return pages_ok and docs.contains("py-modindex.html", f"*{synopsis}.*")
    return pages_ok


def _take(docs: PyDocs, made: Iterable[Question | None], count: int) -> list[Question]:
    out: list[Question] = []
    for q in made:
        if len(out) >= count:
            break
        if q is not None and visible(docs, q):
            out.append(q)
    return out


def generate(docs: PyDocs, seed: int = 0,
             counts: dict[str, int] | None = None) -> list[Question]:
    """Questions of each kind (``counts``, default ``DEFAULT_COUNTS``) that the pages' text
    answers; the same for the same seed and docs tree, in a seeded order."""
    counts = {**DEFAULT_COUNTS, **(counts or {})}
    rng = random.Random(seed)
    pool = _candidates(docs)

    def shuffled(items: list[ApiEntry]) -> list[ApiEntry]:
        return rng.sample(items, len(items))

    versioned = [e for e in pool if e.added and not e.nested]
    versions = _take(docs, (_version_q(e) for e in shuffled(versioned)), len(versioned))
    out = versions[:counts["version"]]
    out += _take(docs, (_default_q(e, rng) for e in shuffled(pool)), counts["default"])
    short = Counter(e.name for e in docs.entries if "." not in e.name)
    unique = [e for e in pool if short[e.name] == 1 and e.name not in docs.modules
              and e.name.lower() != e.module.rsplit(".", 1)[-1].lower()]
    out += _take(docs, (_module_q(e) for e in shuffled(unique)), counts["module"])
    synopses = Counter(m.synopsis for m in docs.modules.values())
    hop_pool = [e for e in pool if e.module in docs.modules
                and synopses[syn := docs.modules[e.module].synopsis] == 1
                and _PLAIN.match(syn) and len(syn) > 12]
    out += _take(docs, (_two_hop_q(e, docs.modules[e.module].synopsis, rng)
                        for e in shuffled(hop_pool)), counts["two_hop"])
    by_version = {q.subjects[0]: q for q in versions}
    ordered = [e for e in versioned if e.qualname in by_version]
    pairs: dict[str, Question] = {}
    for _ in range(50 * counts["compare"] if len(ordered) > 1 else 0):
        if len(pairs) >= counts["compare"]:
            break
        a, b = rng.sample(ordered, 2)
        if a.page != b.page and a.added != b.added:
            q = _compare_q(a, b)
            pairs.setdefault(q.id, q)
    out += list(pairs.values())
    rng.shuffle(out)
    return out

def split(questions: list[Question], name: str) -> list[Question]:
    """The ``dev`` or the held-out ``test`` questions."""
    return [q for q in questions if q.split == check_split(name)]


def parse_reply(text: str) -> tuple[str, list[str]]:
    """The answer (the last ``Answer:`` line, else the last line) and every citation."""
    found = _ANSWER.findall(text)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    answer = found[-1] if found else (lines[-1] if lines else "")
    answer = re.split(r"\s+(?:sources?|cited?)\s*:", answer, flags=re.IGNORECASE)[0]
    return answer.strip(), list(dict.fromkeys(_CITATION.findall(text)))


def score(question: Question, reply: str, docs: PyDocs) -> SearchScore:
    """1.0 when the normalised answer is one the question accepts and the evidence of each
    of its source pages is on a page the reply cites; 0.0 otherwise, with the reason."""
    answer, citations = parse_reply(reply)
    correct = normalise(answer) in {normalise(a) for a in question.accept}
    pages = [p for c in citations if (p := docs.resolve(c)) is not None]
    missing = [i for i, needed in enumerate(question.evidence)
               if not any(all(docs.contains(p, s) for s in needed) for p in dict.fromkeys(pages))]
    cited = not missing
    detail = []
    if not correct:
        detail.append(f"answer {answer!r} is not {question.answer!r}")
    if not cited:
        detail.append("no cited page states " + "; ".join(
            " + ".join(repr(s) for s in question.evidence[i]) for i in missing))
    return SearchScore(1.0 if correct and cited else 0.0, correct, cited, answer, citations,
                       "; ".join(detail) or "ok")


@dataclass
class DocSearchSuite(CorpusSuite):
    """Items are questions (target: the answer); ``score`` checks the answer's citations."""

    questions: dict[str, Question] = field(default_factory=dict)

    def score(self, item: Item, attempt: Attempt) -> Score:
        assert self.docs is not None
        s = score(self.questions[item.id], attempt.answer or "", self.docs)
        return Score(s.score, s.detail)


def suite_of(docs: PyDocs, questions: list[Question]) -> DocSearchSuite:
    rows = [Item(id=q.id, input=q.prompt, target=q.answer, category=q.kind, tools=(),
                 meta={"depth": q.depth, "sources": list(q.sources)}) for q in questions]
    return DocSearchSuite(rows, "docsearch", docs.version, docs=docs,
                          questions={q.id: q for q in questions})


def load(options: dict[str, str]) -> DocSearchSuite:
    which = check_split(options.pop("split", "test"))
    seed = int(options.pop("seed", 0))
    kinds = pick(options, "kinds", KINDS, "question kinds")
    no_more(options, "docsearch", "split, seed and kinds")
    docs = open_pydocs()
    return suite_of(docs, [q for q in split(generate(docs, seed), which) if q.kind in kinds])
