"""Task families: every observation in a trajectory is what the real tools return, every
answer holds the verifiable result, and held-out questions differ from training's (test: in
templates and values; combo: in phrase combinations and entity pairings)."""

from __future__ import annotations

import hashlib
import importlib
import json
import random
import re
import sqlite3
from pathlib import Path

import pytest

from thinkact.train.agent_eval import held_out as held_out_tasks
from thinkact.train.families import FAMILIES, generate
from thinkact.train.families.chain import QUESTIONS as CHAIN_QUESTIONS
from thinkact.train.families.chain import chain
from thinkact.train.families.lookup import TEST_COUNTRIES
from thinkact.train.families.notes import TEST_STATIONS
from thinkact.train.families.verify import CLAIMS as VERIFY_CLAIMS
from thinkact.train.families.verify import PLAIN as VERIFY_PLAIN
from thinkact.train.families.verify import TRAP_WORD
from thinkact.train.families.workspace import NAMES as WORKSPACE_NAMES
from thinkact.train.phrasing import CLOSERS, OPENERS, held_out, opening_words
from thinkact.train.pool import episode_of, load_pool, save_pool
from thinkact.train.trajectory import (
    DECLINE,
    TEST_DISTRACTORS,
    TRAIN_DISTRACTORS,
    Trajectory,
    entities,
)
from thinkact.train.world import WORLD_DIR, WorldTools, write_world
from thinkact.train.world_data import CITIES, COUNTRIES, STATIONS
from thinkact.untrusted import unmarked


@pytest.fixture(scope="module")
def generated() -> list[Trajectory]:
    out = []
    with WorldTools() as world:
        for family in FAMILIES:
            for split in ("train", "test"):
                rng = random.Random(f"{family}-{split}")
                out += [generate(world, family, rng, split) for _ in range(4)]
    return out


def test_every_observation_is_what_the_real_tool_returns_on_replay(
        generated: list[Trajectory]) -> None:
    """Replay each call, in the same order, on a fresh set of real tools."""
    with WorldTools() as world:
        for tr in generated:
            world.new_run(fresh_kernel=any("Traceback" in (m.content or "")
                                           for m in tr.messages if m.role == "tool"))
            for i, msg in enumerate(tr.messages):
                for call in msg.tool_calls:
                    replay = world.call(call.id, call.name, call.parse_arguments())
                    observed = tr.messages[i + 1]
                    assert observed.role == "tool" and observed.tool_call_id == call.id
                    assert observed.content == replay.content, (tr.question, call.arguments)


def test_answers_hold_the_result_that_the_tools_produced(generated: list[Trajectory]) -> None:
    for tr in generated:
        final = tr.messages[-1]
        assert final.role == "assistant" and not final.tool_calls and final.reasoning
        assert tr.expect in (final.content or "")
        if tr.family == "decline":
            assert tr.calls == 0 and DECLINE in (final.content or "")
            continue
        observations = " ".join(m.content or "" for m in tr.messages if m.role == "tool")
        assert tr.expect in observations, tr.question
        assert tr.calls >= 1 and all(m.reasoning for m in tr.messages
                                     if m.role == "assistant")
        if tr.trap:
            assert TRAP_WORD in (final.content or "")


def test_a_chain_feeds_each_result_into_the_next_call_and_checks_at_the_end() -> None:
    with WorldTools() as world:
        tr = chain(world, random.Random(5), "test", k=12)
    calls = [c for m in tr.messages for c in m.tool_calls]
    outputs = [unmarked(m.content or "").strip() for m in tr.messages if m.role == "tool"]
    assert len(calls) == 13  # 12 steps and the check
    for prev, call in zip(outputs[:11], calls[1:12], strict=True):
        assert prev in call.parse_arguments()["code"]  # the previous result is the input
    assert outputs[-1] == outputs[-2] == tr.expect


def test_recovery_trajectories_start_with_a_real_failure() -> None:
    rng = random.Random(2)
    with WorldTools() as world:
        seen = set()
        for _ in range(12):
            tr = generate(world, "recover", rng)
            first = tr.messages[2].content or ""
            if "NameError" in first:
                seen.add("name")
            elif "no such column" in first:
                seen.add("column")
                assert tr.messages[2].model_dump().get("content", "").startswith("error:")
            elif "Results for" in first:
                seen.add("search")
    assert seen == {"name", "column", "search"}


def test_held_out_questions_use_other_entities_and_wordings() -> None:
    with WorldTools() as world:
        train = [generate(world, f, random.Random(f), "train") for f in FAMILIES
                 for _ in range(5)]
        test = [generate(world, f, random.Random(f + "t"), "test") for f in FAMILIES
                for _ in range(5)]
    train_names = {c.name for c in COUNTRIES} - set(TEST_COUNTRIES)
    shapes = {re.sub(r"\d+", "#", t.question) for t in train}
    for tr in test:
        if tr.family == "facts":
            assert not any(n in tr.question for n in train_names), tr.question
        if tr.family not in ("basic",):
            assert re.sub(r"\d+", "#", tr.question) not in shapes, tr.question


def test_pool_round_trips_and_episodes_declare_the_tools_they_use(tmp_path: Path,
                                                                  generated) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "pool.jsonl"
    assert save_pool(iter(generated), path) == len(generated)
    assert load_pool(path) == generated
    rng = random.Random(0)
    for tr in generated:
        ep = episode_of(tr, rng)
        assert {c.name for m in ep.messages for c in m.tool_calls} <= set(ep.tools)


def test_the_shipped_world_is_what_write_world_builds(tmp_path: Path) -> None:
    built = write_world(tmp_path)

    def dump(db: Path) -> list[tuple]:  # type: ignore[type-arg]
        with sqlite3.connect(db) as conn:
            return [*conn.execute("SELECT * FROM country ORDER BY name"),
                    *conn.execute("SELECT * FROM city ORDER BY name")]

    assert dump(built / "facts.sqlite") == dump(WORLD_DIR / "facts.sqlite")
    shipped = {p.name: p.read_text() for p in (WORLD_DIR / "notes").iterdir()}
    assert shipped == {p.name: p.read_text() for p in (built / "notes").iterdir()}


def _parts(question: str) -> tuple[str, str, str]:
    """(opening, body, closing) of a question, the longest phrase that matches each end."""
    opener = max((o for o in OPENERS if o and question.startswith(o)), key=len, default="")
    rest = question[len(opener):]
    closer = max((c for c in CLOSERS if c and rest.endswith(c)), key=len, default="")
    return opener, rest[: len(rest) - len(closer)], closer


def test_combo_questions_join_training_phrases_in_combinations_training_never_draws() -> None:
    with WorldTools() as world:
        train = [generate(world, f, random.Random(f"{f}-{k}"), "train") for f in FAMILIES
                 for k in range(25)]
        combo = [generate(world, f, random.Random(f"{f}-c{k}"), "combo") for f in FAMILIES
                 for k in range(6)]
        test = [generate(world, f, random.Random(f"{f}-t{k}"), "test") for f in FAMILIES
                for k in range(3)]
    seen: set[tuple[str, str, str]] = set()
    for tr in train:
        opener, body, closer = _parts(tr.question)
        assert not held_out(opener, closer, body), tr.question
        seen.add((opener, closer, opening_words(body)))
    train_openers, train_closers = {k[0] for k in seen}, {k[1] for k in seen}
    assert len(train_openers) >= 6 and len(train_closers) >= 6  # many wordings per template
    held_names = {"facts": set(TEST_COUNTRIES), "search": set(TEST_STATIONS)}
    train_names = {"facts": {c.name for c in COUNTRIES} - held_names["facts"],
                   "search": {s.name for s in STATIONS} - held_names["search"]}
    for tr in combo:
        opener, body, closer = _parts(tr.question)
        assert held_out(opener, closer, body), tr.question
        assert (opener, closer, opening_words(body)) not in seen, tr.question
        assert opener in train_openers and closer in train_closers  # each part is familiar
        if tr.family in train_names:  # the entities are the held-out ones
            assert not any(n in tr.question for n in train_names[tr.family]), tr.question
            assert any(n in tr.question for n in held_names[tr.family]), tr.question
        if tr.family == "files":
            assert any(n.removesuffix(".txt") in tr.question for n in WORKSPACE_NAMES["test"])
    for tr in test:  # the test split stays as the families word it
        assert _parts(tr.question)[1] == tr.question, tr.question
    held_leads = [d for d in TEST_DISTRACTORS if d and d not in TRAIN_DISTRACTORS]
    assert not [t.question for t in combo if any(d in t.question for d in held_leads)]
    assert any(d and d in t.question for t in combo for d in TRAIN_DISTRACTORS)
    for tr in (t for t in combo if t.family in ("chain", "verify")):  # training's templates,
        body = _parts(tr.question)[1]  # held-out values
        assert any(re.search(p, body) for p in _patterns(tr.family, "train")), body
        assert not any(re.search(p, body) for p in _patterns(tr.family, "test")), body
        assert int(re.findall(r"\d+", body)[0]) >= (50 if tr.family == "chain" else 90), body


def _patterns(family: str, side: str) -> list[str]:
    """Regexes for a family's question templates (each ``{slot}`` matches anything)."""
    templates = (CHAIN_QUESTIONS[side] if family == "chain"
                 else VERIFY_CLAIMS[side] + VERIFY_PLAIN[side])
    return [re.sub(r"\\\{\w+\\\}", ".+", re.escape(t)) + "$" for t in templates]


def test_the_test_split_is_the_one_the_published_figures_measured() -> None:
    # The README's held-out figures were measured on exactly these questions: a change to a
    # family's draws must not move the test split (a digest of seed 10000, 3 a family).
    with WorldTools() as world:
        drawn = [(t.question, t.expect) for t in held_out_tasks(world, 3, 10_000)]
    assert hashlib.sha256(json.dumps(drawn).encode()).hexdigest()[:16] == "286747c9ac2b93f8"


lookup, notes, recover, workspace = (importlib.import_module(f"thinkact.train.families.{m}")
                                     for m in ("lookup", "notes", "recover", "workspace"))
SITED = {  # site function -> (module's SITES, the held-out names, what the question names)
    **{s: ("facts", TEST_COUNTRIES) for s in lookup.SITES},
    **{s: ("stations", TEST_STATIONS) for s in notes.SITES},
    **{s: ("files", tuple(n.removesuffix(".txt") for n in WORKSPACE_NAMES["test"]))
       for s in workspace.SITES},
}
# every site a module lists, as the function that asks it (some are recover's)
SITE_FN = {site: getattr(mod, site) if hasattr(mod, site) else getattr(recover, site)
           for mod in (lookup, notes, workspace) for site in mod.SITES}


def _named(question: str, names: tuple[str, ...]) -> set[str]:
    last = {n: n.split(" ", 1)[-1] for n in names}  # a misspelled station keeps its first word
    return {n for n in names if n in question or (" " in n and n.split(" ")[0] in question
                                                  and last[n][:2] in question)}


def test_held_out_entities_occur_in_training_but_never_where_combo_asks_them() -> None:
    # combo asks a held-out entity only at sites where training never names it; training
    # still names every held-out entity somewhere, so it is a name the model has written.
    trained: dict[str, set[str]] = {}
    with WorldTools() as world:
        for site, fn in SITE_FN.items():
            kind, names = SITED[site]
            train = {n for k in range(30)
                     for n in _named(fn(world, random.Random(f"{site}-{k}"), "train").question,
                                     names)}
            combo = {n for k in range(6)
                     for n in _named(fn(world, random.Random(f"{site}-c{k}"), "combo").question,
                                     names)}
            assert combo and not combo & train, (site, combo, train)
            assert train & set(names), site  # the other held-out half is trained here
            trained.setdefault(kind, set()).update(train)
    for kind, (_, names) in {SITED[s][0]: SITED[s] for s in SITED}.items():
        assert trained[kind] == set(names), kind


def test_every_combo_pool_holds_what_its_question_draws() -> None:
    # a site filters the entities it can use before the held-out half is chosen, so combo
    # never draws from an empty pool (two countries with different UN years for un_gap)
    for site in lookup.SITES:
        assert len(lookup.countries("combo", site)) >= 2, site
    usable = {x.country for x in CITIES if sum(1 for y in CITIES if y.country == x.country) >= 2}
    assert len(lookup.countries("combo", "city_total", usable.__contains__)) >= 2
    years = {c.name: c.un_joined for c in COUNTRIES}
    assert len({years[n] for n in lookup.countries("combo", "un_gap")}) >= 2
    for site in notes.SITES:
        assert len(notes.stations("combo", site)) >= 2, site
    for site in workspace.SITES:
        assert workspace.file_names("combo", site), site


def test_entities_split_the_held_out_pairs_between_training_and_combo() -> None:
    names, held = ["a", "b", "c", "d"], ["c", "d"]
    assert entities("test", 0, names, held, str) == ["c", "d"]
    assert entities("combo", 0, names, held, str) == ["c"]
    assert entities("combo", 1, names, held, str) == ["d"]
    assert entities("train", 0, names, held, str) == ["a", "b", "d"]
    assert entities("train", 1, names, held, str) == ["a", "b", "c"]
    # the halves are taken among the entities a site can use, not the whole held-out list
    assert entities("combo", 0, ["a", "d"], held, str) == ["d"]
