"""Facts: questions over the bundled SQLite database, answered with ``facts`` (and python).

Held-out questions ask about countries that no training question names, in other wordings.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from thinkact.train.trajectory import Builder, Split, Trajectory, distractor, entities, pick
from thinkact.train.world import WorldTools
from thinkact.train.world_data import CITIES, COUNTRIES

TEST_COUNTRIES = tuple(c.name for i, c in enumerate(COUNTRIES) if i % 4 == 3)


# The questions that name countries, in a fixed order (bad_column is recover's): each holds
# out half of the held-out countries it can use (trajectory.entities).
SITES = ("capital", "compare", "un_gap", "city_total", "capital_share", "bad_column")


def countries(split: Split, site: str, usable: Callable[[str], bool] = lambda n: True
              ) -> list[str]:
    """The countries a split's ``site`` questions may name, of those ``usable`` there."""
    return entities(split, SITES.index(site), [c.name for c in COUNTRIES if usable(c.name)],
                    TEST_COUNTRIES, str)


def rows(table: str) -> list[list[str]]:
    """The data rows of a ``facts`` result table (header, rule and row count dropped)."""
    lines = table.strip().splitlines()
    return [line.split(" | ") for line in lines[2:] if not line.startswith("(")]


def cell(table: str) -> str:
    """The single value of a one-row, one-column result."""
    got = rows(table)
    if len(got) != 1 or len(got[0]) != 1:
        raise ValueError(f"expected one value, got {table!r}")
    return got[0][0]


def capital(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    c = rng.choice(countries(split, "capital"))
    q = pick(rng, split, ("What is the capital of {c}?", "Which city is the capital of {c}?",
                          "Name the capital of {c}."),
             ("Tell me the capital city of {c}.", "{c}: what is its capital?"))
    b = Builder(world, "facts", distractor(rng, split) + q.format(c=c))
    cap = cell(b.call(f"The facts database has a country table with a capital column. "
                      f"Plan: look up {c}, then check that the city table agrees.", "facts",
                      sql=f"SELECT capital FROM country WHERE name = '{c}'"))
    home = cell(b.call(f"The capital is {cap}. Check: which country does the city table "
                       f"give for {cap}?", "facts",
                       sql=f"SELECT country FROM city WHERE name = '{cap}'"))
    return b.finish(f"The city table puts {cap} in {home}, which agrees. The answer is {cap}.",
                    f"The capital of {c} is {cap}.", cap)


def compare(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    a, c = rng.sample(countries(split, "compare"), 2)
    q = pick(rng, split, ("Which has more people, {a} or {c}, and by how many?",
                          "Who has the larger population, {a} or {c}? By how much?"),
             ("Compare the populations of {a} and {c}: which is bigger, and what is the gap?",))
    b = Builder(world, "facts", distractor(rng, split) + q.format(a=a, c=c))
    pa = cell(b.call(f"Plan: get the population of {a}, then of {c}, subtract in python, "
                     f"then check which is larger with one query.", "facts",
                     sql=f"SELECT population FROM country WHERE name = '{a}'"))
    pc = cell(b.call(f"{a} has {pa} people. Now {c}.", "facts",
                     sql=f"SELECT population FROM country WHERE name = '{c}'"))
    big, _small, pb, ps = (a, c, pa, pc) if int(pa) >= int(pc) else (c, a, pc, pa)
    diff = b.call(f"{c} has {pc} people. {big} is larger; the gap is {pb} - {ps}.", "python",
                  code=f"print({pb} - {ps})")
    top = cell(b.call(f"The gap is {diff}. Check: ask the database which of the two is "
                      "larger.", "facts",
                      sql=f"SELECT name FROM country WHERE name IN ('{a}', '{c}') "
                          "ORDER BY population DESC LIMIT 1"))
    return b.finish(f"The database also says {top} is larger. So {big} has {diff} more people.",
                    f"{big} has more people, by {diff} ({pb} against {ps}).", diff)


def un_gap(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    pool = countries(split, "un_gap")
    while True:
        a, c = rng.sample(pool, 2)
        ya, yc = (next(x.un_joined for x in COUNTRIES if x.name == n) for n in (a, c))
        if ya != yc:
            break
    if ya > yc:
        a, c = c, a
    q = pick(rng, split, ("How many years after {a} did {c} join the UN?",
                          "{c} joined the United Nations how many years after {a}?"),
             ("What is the gap in years between {a} and {c} joining the UN?",))
    b = Builder(world, "facts", distractor(rng, split) + q.format(a=a, c=c))
    ja = cell(b.call(f"Plan: look up the year {a} joined the UN, then {c}, subtract, "
                     "then check by adding back.", "facts",
                     sql=f"SELECT un_joined FROM country WHERE name = '{a}'"))
    jc = cell(b.call(f"{a} joined in {ja}. Now {c}.", "facts",
                     sql=f"SELECT un_joined FROM country WHERE name = '{c}'"))
    gap = b.call(f"{c} joined in {jc}. The gap is {jc} - {ja}.", "python",
                 code=f"print({jc} - {ja})")
    back = b.call(f"The gap is {gap} years. Check: {ja} + {gap} should give {jc}.", "python",
                  code=f"print({ja} + {gap})")
    return b.finish(f"{ja} + {gap} = {back}, which is {c}'s year. The answer is {gap}.",
                    f"{c} joined the UN {gap} years after {a} ({jc} against {ja}).", gap)


def city_total(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    c = rng.choice(countries(split, "city_total",
                             lambda n: sum(1 for x in CITIES if x.country == n) >= 2))
    k = rng.randint(2, min(4, sum(1 for x in CITIES if x.country == c)))
    q = pick(rng, split, ("What is the combined population of the {k} largest cities of {c} "
                          "in the database?", "Add up the populations of the top {k} cities "
                          "of {c}."),
             ("How many people live in the {k} biggest cities of {c} together?",))
    b = Builder(world, "facts", distractor(rng, split) + q.format(k=k, c=c))
    table = b.call(f"Plan: list the {k} largest cities of {c}, add them in python, then check "
                   "with SUM in SQL.", "facts",
                   sql=f"SELECT name, population FROM city WHERE country = '{c}' "
                       f"ORDER BY population DESC LIMIT {k}")
    pops = [r[1] for r in rows(table)]
    total = b.call(f"The cities have {', '.join(pops)} people. Add them.", "python",
                   code=f"print({' + '.join(pops)})")
    check = cell(b.call(f"The sum is {total}. Check with SQL.", "facts",
                        sql=f"SELECT SUM(population) FROM (SELECT population FROM city WHERE "
                            f"country = '{c}' ORDER BY population DESC LIMIT {k})"))
    return b.finish(f"SQL also gives {check}. The answer is {total}.",
                    f"The {k} largest cities of {c} have {total} people together.", total)


def capital_share(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    names = {x.name for x in CITIES}
    c = rng.choice(countries(split, "capital_share",
                             lambda n: next(x.capital for x in COUNTRIES if x.name == n) in names))
    q = pick(rng, split, ("What percent of the people of {c} live in its capital? Round to "
                          "one decimal.", "Which share of {c}'s population lives in the "
                          "capital, in percent to one decimal?"),
             ("In percent (one decimal), how much of {c}'s population is in its capital?",))
    b = Builder(world, "facts", distractor(rng, split) + q.format(c=c))
    cap, pop = rows(b.call(f"Plan: get {c}'s capital and population, then the capital's "
                           "population, divide in python, and check another way.", "facts",
                           sql=f"SELECT capital, population FROM country WHERE name = '{c}'"))[0]
    cp = cell(b.call(f"The capital is {cap} and {c} has {pop} people. Now {cap}'s "
                     "population.", "facts",
                     sql=f"SELECT population FROM city WHERE name = '{cap}'"))
    share = b.call(f"{cap} has {cp} people. Share: 100 * {cp} / {pop}, rounded.", "python",
                   code=f"print(round(100 * {cp} / {pop}, 1))")
    again = b.call(f"That gives {share}. Check: {cp} / {pop} * 100 the other way round.",
                   "python", code=f"print(round({cp} / {pop} * 100, 1))")
    if again != share:
        raise ValueError(f"the two ways round differently: {share} and {again}")
    return b.finish(f"Both give {again}. The answer is {share} percent.",
                    f"About {share}% of the people of {c} live in {cap}.", share)


KINDS = (capital, compare, un_gap, city_total, capital_share)


def facts(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    return rng.choice(KINDS)(world, rng, split)
