"""Recovery: the first call fails for real and the model reads the error, fixes the call and
goes on. Three ways to fail: a NameError in code the user gave, a misspelled column in a query
the user gave, and a search for a misspelled name.
"""

from __future__ import annotations

import random

from thinkact.train.families.lookup import cell, countries
from thinkact.train.families.notes import ASKS, stations, top_hit
from thinkact.train.trajectory import Builder, Split, Trajectory, distractor, pick, values
from thinkact.train.world import WorldTools

NAMES = {"train": ("total", "count", "value", "result", "amount"),
         "test": ("score", "price", "size")}
COLUMNS = {"population": ("populaton", "popluation", "population_count"),
           "capital": ("captial", "capitol"), "un_joined": ("un_join", "joined_un"),
           "area_km2": ("area", "area_km")}


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1:]  # drop one inner letter


def name_error(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    var = rng.choice(NAMES[values(split)])
    bad = _typo(var, rng)
    a, n = rng.randint(2, 99), rng.randint(2, 30)
    code = f"{var} = {a} * {n}\nprint({bad} + {n})"
    q = pick(rng, split, ("Run this code and tell me what it prints:\n{c}",
                          "What does this print? Fix it if needed:\n{c}"),
             ("Please execute the following and report the output:\n{c}",)).format(c=code)
    # A traceback names the kernel's cell number: a fresh kernel makes it the first, as in a
    # new run of the agent loop.
    b = Builder(world, "recover", distractor(rng, split) + q, fresh_kernel=True)
    err = b.call("Plan: run the code as given and read what it prints.", "python", code=code)
    if f"NameError: name '{bad}' is not defined" not in err:
        raise ValueError(f"expected a NameError, got {err!r}")
    fixed = code.replace(f"print({bad}", f"print({var}")
    out = b.call(f"It failed: NameError, {bad} is not defined. The code defines {var}, so "
                 f"{bad} is a typo for {var}. Fix it and run again.", "python", code=fixed)
    return b.finish(f"With the typo fixed it printed {out}. The answer is {out}.",
                    f"As written it fails with a NameError ({bad} is not defined); with {bad} "
                    f"changed to {var} it prints {out}.", out)


def bad_column(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    column = rng.choice(list(COLUMNS))
    bad = rng.choice(COLUMNS[column])
    c = rng.choice(countries(split, "bad_column"))
    sql = f"SELECT {bad} FROM country WHERE name = '{c}'"
    q = pick(rng, split, ("Run this query on the facts database: {s}",
                          "What does this SQL give on the facts database? {s}"),
             ("Please run {s} against the facts database and tell me the result.",)
             ).format(s=sql)
    b = Builder(world, "recover", distractor(rng, split) + q)
    err = b.call("Plan: run the query as given with the facts tool.", "facts", sql=sql)
    if f"no such column: {bad}" not in err:
        raise ValueError(f"expected a column error, got {err!r}")
    schema = b.call(f"It failed: no such column {bad}. List the columns of the country table "
                    "to find the right name.", "facts", sql="PRAGMA table_info(country)")
    if f"| {column} |" not in schema:
        raise ValueError(f"{column} missing from {schema!r}")
    value = cell(b.call(f"The table has a column {column}, which is what {bad} meant. Run the "
                        "query with it.", "facts", sql=sql.replace(bad, column)))
    return b.finish(f"The fixed query returned {value}. The answer is {value}.",
                    f"There is no column {bad}; with {column} instead the query gives "
                    f"{value}.", value)


def misspelled_search(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    """The question misspells the station's name: no document matches every word, so the
    search falls back to partial matches, and the model must see which one was meant."""
    s = rng.choice(stations(split, "misspelled_search"))
    attr = rng.choice([a for a in ASKS if a != "lead"])
    first, last = s.name.split(" ", 1)
    wrong = f"{first} {_typo(last, rng)}"
    word = ASKS[attr][0]
    q = pick(rng, split, ASKS[attr][2], ASKS[attr][3]).format(s=wrong)
    b = Builder(world, "recover", distractor(rng, split) + q)
    out = b.call(f"Plan: search the notes for {wrong} with the word '{word}'.", "search",
                 query=f"{wrong} {word}")
    title, cite = top_hit(out)
    if title != f"{s.name} station":
        raise ValueError(f"the misspelled search found {title}")
    fact_text = ASKS[attr][1].format(v=getattr(s, attr))
    return b.finish(f"No note is called '{wrong}', but the top result is '{title}' ({cite}), "
                    f"the closest name, so the question means {s.name}. Its passage says "
                    f"{s.name} station {fact_text}.",
                    f"{s.name} station (you wrote '{wrong}') {fact_text} (source: {title}, "
                    f"{cite}).", str(getattr(s, attr)))


def recover(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    return rng.choice((name_error, bad_column, misspelled_search))(world, rng, split)

