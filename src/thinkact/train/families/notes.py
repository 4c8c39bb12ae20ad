"""Search: questions over the bundled field notes, answered from the retrieved passage with
its source named (title and citable id); some add the figures of two stations in python.

Held-out questions ask about stations no training question names.
"""

from __future__ import annotations

import random
import re

from thinkact.train.trajectory import Builder, Split, Trajectory, distractor, entities, pick
from thinkact.train.world import WorldTools
from thinkact.train.world_data import STATIONS, Station

TEST_STATIONS = tuple(s.name for i, s in enumerate(STATIONS) if i % 4 == 1)

# attribute -> (query word, how the answer names it, train wordings, test wordings)
ASKS: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "founded": ("founded", "was founded in {v}",
                ("According to the field notes, when was {s} station founded?",
                 "In which year was {s} station founded? Check the notes."),
                ("Search the notes: what year did {s} station open?",)),
    "staff": ("staff", "has {v} staff",
              ("How many staff does {s} station have, according to the notes?",
               "Look up the number of staff at {s} station."),
              ("Using the notes, how many people work at {s} station?",)),
    "lead": ("founded", "was founded by {v}",
             ("Who founded {s} station? Use the notes.", "According to the notes, who "
              "started {s} station?"),
             ("Find out from the notes who set up {s} station.",)),
    "elevation_m": ("metres", "lies at {v} metres",
                    ("At what elevation is {s} station, according to the notes?",
                     "How high above sea level is {s} station?"),
                    ("Search the notes for the altitude of {s} station.",)),
    "studies": ("studies", "studies {v}",
                ("What does the team at {s} study? Check the field notes.",
                 "According to the notes, what is researched at {s}?"),
                ("Look it up in the notes: what is {s} station's research about?",)),
}
_HIT = re.compile(r"^\[1\] (.+?)  \(id (\S+?);", re.MULTILINE)


# The questions that name stations (misspelled_search is recover's): each holds out half of
# the held-out stations (trajectory.entities).
SITES = ("fact", "total_staff", "misspelled_search")


def stations(split: Split, site: str) -> list[Station]:
    return entities(split, SITES.index(site), STATIONS, TEST_STATIONS, lambda s: s.name)


def top_hit(result: str) -> tuple[str, str]:
    """(title, citation id) of the first result of a ``search`` output."""
    m = _HIT.search(result)
    if m is None:
        raise ValueError(f"no search result in {result[:200]!r}")
    return m.group(1), m.group(2)


def lookup(b: Builder, s: Station, attr: str, reasoning: str, name: str | None = None
           ) -> tuple[str, str, str]:
    """Search for one fact of ``s`` (by ``name``, default its full name); returns (value,
    title, citation)."""
    word = ASKS[attr][0]
    title, cite = top_hit(b.call(reasoning, "search", query=f"{name or s.name} {word}"))
    if title != f"{s.name} station":
        raise ValueError(f"search for {s.name} found {title}")
    return str(getattr(s, attr)), title, cite


def fact(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    s = rng.choice(stations(split, "fact"))
    attr = rng.choice(list(ASKS))
    _, says, train, test = ASKS[attr]
    b = Builder(world, "search", distractor(rng, split) + pick(rng, split, train, test).format(
        s=s.name))
    v, title, cite = lookup(b, s, attr, f"The answer is in the field notes. Plan: search for "
                                        f"{s.name} with the word '{ASKS[attr][0]}', read the "
                                        "passage, and name the source.")
    fact_text = says.format(v=v)
    return b.finish(f"The top result is '{title}' ({cite}). Its passage says {s.name} station "
                    f"{fact_text}. That answers it; the source is {cite}.",
                    f"{s.name} station {fact_text} (source: {title}, {cite}).", v)


def total_staff(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    s, t = rng.sample(stations(split, "total_staff"), 2)
    q = pick(rng, split, ("How many staff do {a} and {c} stations have together? Use the "
                          "notes.", "Add up the staff of {a} station and {c} station."),
             ("According to the notes, what is the combined staff of {a} and {c}?",))
    b = Builder(world, "search", distractor(rng, split) + q.format(a=s.name, c=t.name))
    v1, _, c1 = lookup(b, s, "staff", f"Plan: search the notes for the staff of {s.name}, "
                                      f"then of {t.name}, then add them in python.")
    v2, _, c2 = lookup(b, t, "staff", f"{s.name} has {v1} staff ({c1}). Now {t.name}.")
    total = b.call(f"{t.name} has {v2} staff ({c2}). Add {v1} and {v2}.", "python",
                   code=f"print({v1} + {v2})")
    return b.finish(f"{v1} + {v2} = {total}. Sources: {c1} and {c2}.",
                    f"Together they have {total} staff ({s.name}: {v1}, source {c1}; "
                    f"{t.name}: {v2}, source {c2}).", total)


def search(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    return (total_staff if rng.random() < 0.3 else fact)(world, rng, split)
