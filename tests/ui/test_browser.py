"""The web UI in real headless Chromium against a real ``thinkact ui`` process, over a trace
database of runs recorded by the real agent loop (scripted models). One browser for the
module; screenshots go to the pytest temp dir (``ui-screenshots``), or to
``$UI_SCREENSHOTS``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.cli_run import CLI, clean_env, files_turns, popen, sigkill_when, wait_for
from support.cli_run import write_script as write_turns
from support.ui_runs import fill, keyed_ui, record_eval, record_huge, record_sweep, ui_server
from thinkact.events import Notice
from thinkact.traces import SQLiteTraceStore

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs system chromium")
sync_api = pytest.importorskip("playwright.sync_api")


class Site:
    def __init__(self, base: str, db: Path, home: Path, shots: Path, ids: dict[str, str]):
        self.base, self.db, self.home, self.shots, self.ids = base, db, home, shots, ids

    def script(self, name: str, steps: int, delay_s: float = 0.0) -> Path:
        return write_turns(self.home / f"{name}.json", files_turns(steps, f"Wrote {steps}."),
                           delay_s=delay_s)

    def cli_run(self, script: Path) -> subprocess.Popen[str]:
        return popen(["run", "Write the files.", "--provider", "scripted", "--script",
                      str(script), "--tools", "files", "--trace-db", str(self.db), "--json"],
                     self.home)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("ui")
    db = home / "t.sqlite"
    ids = fill(db)
    ids["eval"] = record_eval(home)  # its runs go to the same trace database
    ids["huge"] = record_huge(db, "run-3000", 3000, {2480, 2500, 2531, 2999})
    ids["sweep"] = record_sweep(home, home / "evals.sqlite")  # its runs: another database
    shots = Path(os.environ.get("UI_SCREENSHOTS") or tmp_path_factory.mktemp("ui-screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    with ui_server(db, home, "--eval-db", str(home / "evals.sqlite"),
                   "--allow-custom-endpoints") as base:  # the playground's scripted runs
        yield Site(base, db, home, shots, ids)
    print(f"\nUI screenshots: {shots}")


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1100, "height": 760})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert not errors, errors


def open_(page: Any, site: Site, fragment: str) -> Any:
    page.goto(f"{site.base}/ui/#/{fragment}")
    page.wait_for_selector("body[data-ready='1']")
    return page


def test_runs_list_filters_and_searches(page: Any, site: Site) -> None:
    p = open_(page, site, "")
    rows = p.locator("#runs tbody tr")
    with SQLiteTraceStore(site.db) as store:
        everything = len(store.list_runs(1000))
    assert everything == 12  # 300 and 3,000 steps, two to compare, a heavy group of 4, ...
    assert rows.count() == everything
    long_row = p.locator("tr[data-run='run-long']")
    assert long_row.locator("td").nth(5).inner_text() == "301"
    assert long_row.locator("td").nth(6).inner_text() == "300"
    assert long_row.locator("[data-status]").inner_text() == "completed"
    p.fill("#q", "300 items")
    wait_for(lambda: rows.count() == 1, 10)
    assert rows.first.get_attribute("data-run") == "run-long"
    p.fill("#q", "")
    p.select_option("#status", "running")
    wait_for(lambda: rows.count() == 0, 10)
    p.select_option("#status", "")
    wait_for(lambda: rows.count() == everything, 10)
    p.screenshot(path=str(site.shots / "runs.png"))


def test_300_step_run_timeline_jump_and_search(page: Any, site: Site) -> None:
    p = open_(page, site, "run/run-long")
    assert p.locator("#step-1").is_visible()
    assert p.locator("#timeline .step[data-step]").count() == 101  # start + one page of 100
    assert "of 301" in p.inner_text("#pager")
    assert p.locator("#minimap span").count() == 301
    reasoning = p.locator("#step-1 details.reasoning")
    assert reasoning.get_attribute("open") is None  # collapsed until asked
    reasoning.locator("summary").click()
    assert "I look at item 1." in reasoning.locator("pre").inner_text()
    p.fill("#jump", "150")
    p.press("#jump", "Enter")
    step = p.locator("#step-150")
    step.wait_for()
    # text_content: the card may not be laid out yet (content-visibility) on a loaded machine
    assert "exploded because step 150" in (step.locator(".result.error").text_content() or "")
    assert p.locator("#step-1").count() == 0
    p.fill("#find", "zanzibar")
    wait_for(lambda: p.get_attribute("#found", "data-hits") == "217", 10)
    p.evaluate("window.scrollTo(0, 0)")
    p.screenshot(path=str(site.shots / "run-300-top.png"))  # the hit marked in the index
    p.press("#find", "Enter")
    hit = p.locator("#step-217.hit")
    hit.wait_for()
    hit.scroll_into_view_if_needed()  # off-screen steps skip rendering (content-visibility)
    assert '"item 217 zanzibar"' in (hit.locator(".call pre").text_content() or "")
    assert hit.is_visible()
    p.screenshot(path=str(site.shots / "run-300.png"))
    p.click("#next")
    p.locator("#step-301 [data-answer]").wait_for()
    last = p.locator("#step-301")
    last.scroll_into_view_if_needed()  # off-screen steps skip rendering (content-visibility)
    assert "Checked 300." in last.inner_text()


def test_3000_step_run_jump_to_2500_and_search_across_pages(page: Any, site: Site) -> None:
    p = open_(page, site, "run/run-3000")
    assert "steps 1–100 of 3001" in p.inner_text("#pager")
    assert p.locator("#minimap span").count() == 3001
    p.fill("#jump", "2500")
    p.press("#jump", "Enter")
    step = p.locator("#step-2500.jumped")
    step.wait_for()
    assert p.url.endswith("#/run/run-3000?step=2500")
    assert "steps 2401–2500 of 3001" in p.inner_text("#pager")
    assert p.locator("#timeline .step[data-step]").count() == 100  # one page, not 3,000
    assert "result of c2500-0 walrus" in step.locator(".result pre").inner_text()
    assert "250k in" in step.locator(".stephead").inner_text()  # 100 prompt tokens x step
    p.fill("#find", "walrus")
    wait_for(lambda: p.get_attribute("#found", "data-hits") == "2480,2500,2531,2999", 10)
    wait_for(lambda: p.locator("#minimap span.hit").count() == 4, 10)
    for expect in (2480, 2500, 2531):  # Enter: the next match, paging as needed
        p.press("#find", "Enter")
        hit = p.locator(f"#step-{expect}.hit.jumped")
        hit.wait_for()
        assert f"step {expect} walrus" in hit.locator(".content").inner_text()
    assert "steps 2501–2600 of 3001" in p.inner_text("#pager")
    assert p.inner_text("#found") == "match 3 of 4"


def test_timeline_shows_retries_compactions_errors_and_the_resume(page: Any, site: Site
                                                                   ) -> None:
    p = open_(page, site, "run/run-mixed")
    assert "HTTP 503" in p.inner_text("#step-2 .event.retry")
    assert "9.0k → 4.0k" in p.inner_text("#step-2 .event.compaction")
    assert "you repeat yourself" in p.inner_text("#step-3 .event.notice")
    assert "tool server hiccup" in p.inner_text(".event.error")
    assert "resumed from step 2 (segment 2)" in p.inner_text(".event.resume")
    cut = p.locator("#step-3 .superseded")  # the killed attempt, kept but marked
    assert cut.count() > 0 and "(cut)" in " ".join(cut.all_inner_texts())
    assert p.locator("#step-3 .result.error").count() == 0  # one call: no error
    assert "There are 3 files." in p.inner_text("#step-4 [data-answer]")
    assert "segments 2" in p.inner_text(".runhead .facts")


def test_heavy_group_lanes_and_agreement(page: Any, site: Site) -> None:
    p = open_(page, site, f"group/{site.ids['group']}")
    lanes = p.locator("#lanes .lane")
    assert lanes.count() == 3
    assert [lanes.nth(i).locator(".answer").inner_text() for i in range(3)] == ["42", "42", "41"]
    assert p.locator(".lane.agrees").count() == 2
    assert p.locator(".lane.differs").get_attribute("data-lane") == "group-h.3"
    assert p.inner_text("#agreed") == "agrees with trajectories 1, 2"
    assert "vote over 3 answers" in p.inner_text("#aggregation")
    p.screenshot(path=str(site.shots / "heavy.png"))


def test_compare_two_runs_from_the_list(page: Any, site: Site) -> None:
    p = open_(page, site, "")
    p.check("tr[data-run='run-a'] input.pick")
    p.check("tr[data-run='run-b'] input.pick")
    p.click("#compare")
    p.locator("#diverged").wait_for()
    assert p.inner_text("#diverged") == "the runs diverge at step 3"
    assert p.get_attribute("#cmp-2", "data-same") == "true"
    assert "diverged" in (p.get_attribute("#cmp-3", "class") or "")
    assert "but differently" in p.inner_text("#cmp-3")
    p.screenshot(path=str(site.shots / "compare.png"))


def test_live_run_from_the_cli_updates_the_page(page: Any, site: Site) -> None:
    proc = site.cli_run(site.script("live", 8, delay_s=0.08))
    try:
        reader = SQLiteTraceStore(site.db)
        wait_for(lambda: any(r.status == "running" and r.task == "Write the files."
                             for r in reader.list_runs(20)), 30)
        run_id = next(r.run_id for r in reader.list_runs(20) if r.status == "running")
        p = open_(page, site, f"run/{run_id}")
        assert p.get_attribute(".runhead [data-status]", "data-status") == "running"
        assert p.locator("#step-8").count() == 0
        # no reload from here on: the stream brings every step and the end
        p.locator("#step-8 .result").wait_for(timeout=60_000)
        p.locator("[data-answer]").wait_for(timeout=60_000)
        p.wait_for_selector(".runhead [data-status='completed']", timeout=30_000)
        assert "Wrote 8." in (p.text_content("[data-answer]") or "")
        reader.close()
    finally:
        proc.kill()
        proc.communicate()


def start_from_playground(page: Any, site: Site, task: str, steps: int, delay_s: float = 0.0,
                          **fields: str) -> Any:
    """Fill the playground's form for a scripted run of ``steps`` file writes; start it."""
    p = open_(page, site, "play")
    given = {"task": task, "provider": "scripted", "tools": "files",
             "script": str(site.script(f"play-{steps}", steps, delay_s)), **fields}
    for name, value in given.items():
        if name == "aggregate":
            p.select_option("#aggregate", value)
        else:
            p.fill(f"#{name}", value)
    p.click("#start")
    return p


def test_playground_starts_a_run_and_forks_it(page: Any, site: Site) -> None:
    p = start_from_playground(page, site, "Write three files.", 3, max_steps="10")
    p.wait_for_url("**/#/run/*")
    run_id = p.url.rsplit("/", 1)[1]
    p.wait_for_selector(".runhead [data-status='completed']", timeout=60_000)
    with SQLiteTraceStore(site.db) as store:
        info = store.run_info(run_id)
        assert (info["task"], info["status"], info["tool_calls"]) == ("Write three files.",
                                                                       "completed", 3)
        assert info["config"]["budget"]["max_steps"] == 10
    p.reload()
    p.wait_for_selector("body[data-ready='1']")
    p.click("#fork")
    p.fill("#fork-step", "3")
    p.fill("#fork-message", "item 1 is gone; write the rest")
    p.click("#fork-go")
    p.wait_for_url(lambda url: url.split("/")[-1] != run_id and "#/run/" in url)
    fork_id = p.url.rsplit("/", 1)[1]
    p.wait_for_function("id => document.querySelector('.runhead h2')?.textContent.includes(id)"
                        " && document.querySelector('.runhead [data-status]').dataset.status"
                        " === 'completed'", arg=fork_id, timeout=60_000)
    with SQLiteTraceStore(site.db) as store:
        state = store.load_state(fork_id)
        assert f"forked from {run_id} at step 3" in [
            e.text for e in store.events(fork_id) if isinstance(e, Notice)]
    # the conversation through step 2, its last message edited, then the script's turn 3 on
    tool_msgs = [m.content for m in state.messages if m.role == "tool"]
    assert tool_msgs[1] == "item 1 is gone; write the rest"
    assert state.messages[-1].content == "Wrote 3." and state.finished


def test_resume_an_interrupted_run_from_the_page(page: Any, site: Site) -> None:
    proc = site.cli_run(site.script("cut", 6, delay_s=0.05))
    reader = SQLiteTraceStore(site.db)
    try:
        def two_done() -> bool:
            rows = reader.query("SELECT r.id FROM runs r JOIN steps s ON s.run_id = r.id "
                                "WHERE r.pid = ? AND s.step = 2 AND s.finished_at IS NOT NULL",
                                (proc.pid,))
            return bool(rows)

        sigkill_when(proc, two_done)
        (run_id,) = [r[0] for r in reader.query("SELECT id FROM runs WHERE pid = ?",
                                                (proc.pid,))]
        p = open_(page, site, f"run/{run_id}")
        assert p.get_attribute(".runhead [data-status]", "data-status") == "interrupted"
        p.click("#resume")
        p.wait_for_selector(".runhead [data-status='completed']", timeout=60_000)
        assert "resumed from step" in (p.text_content("#timeline") or "")
        info = reader.run_info(str(run_id))
        assert (info["status"], info["segments"], info["tool_calls"]) == ("completed", 2, 6)
    finally:
        reader.close()
    assert subprocess.run([*CLI, "trace", "show", str(run_id), "--trace-db", str(site.db)],
                          capture_output=True, text=True, env=clean_env(site.home)
                          ).returncode == 0


def test_evals_page_reports_and_links_each_item_to_its_run(page: Any, site: Site) -> None:
    p = open_(page, site, "evals")
    row = p.locator(f"tr[data-eval='{site.ids['eval']}']")
    assert "2/3" in row.inner_text() and "66.7%" in row.inner_text()
    row.locator("a").click()
    p.locator("#items").wait_for()
    assert "passed 2/3" in p.inner_text("#eval-summary")
    cats = p.inner_text("#categories")
    assert "geo\t1\t1\t100.0%" in cats and "math\t2\t1\t50.0%" in cats
    bars = p.locator("#accuracy-chart rect")
    assert bars.count() == 3  # geo, math, overall
    assert float(bars.nth(0).get_attribute("height") or 0) > float(
        bars.nth(1).get_attribute("height") or 0)  # geo 100% above math 50%
    failed = p.locator("#items tr[data-outcome='failed']")
    assert failed.count() == 1 and "5" in failed.inner_text()
    p.screenshot(path=str(site.shots / "eval.png"))
    failed.locator("a").click()
    p.wait_for_selector(".runhead [data-status='completed']")
    assert "What is 2+2?" in p.inner_text(".runhead")


def test_evals_page_draws_each_sweep_with_its_bands_and_table(page: Any, site: Site) -> None:
    p = open_(page, site, "evals")
    sweep = p.locator(f"section.sweep[data-sweep='{site.ids['sweep']}']")
    sweep.wait_for()
    rows = sweep.locator(".sweep-table tbody tr")
    assert rows.all_inner_texts() == [
        f"{v}\t6\t{acc}\t{ci}\t{tok}\t{ev}" for (v, acc, ci, tok), ev in zip(
            [(1, "0.0%", "[0.0%, 39.0%]", 10), (2, "0.0%", "[0.0%, 39.0%]", 15),
             (4, "66.7%", "[30.0%, 90.3%]", 18), (8, "66.7%", "[30.0%, 90.3%]", 18)],
            rows.locator("a").all_inner_texts(), strict=True)]
    left = sweep.locator("[data-panel='setting']")
    dots = [float(left.locator(f"circle[data-value='{v}']").get_attribute("cy") or 0)
            for v in (1, 2, 4, 8)]
    assert dots[0] == dots[1] > dots[2] == dots[3]  # 0% low, 66.7% higher up
    band = (left.locator("polygon.band").get_attribute("points") or "").split()
    assert len(band) == 8  # the upper bounds out, the lower bounds back
    uppers = [float(xy.split(",")[1]) for xy in band[:4]]
    assert all(u < d for u, d in zip(uppers, dots, strict=True))  # above each dot
    whiskers = sweep.locator("[data-panel='tokens'] line.whisker")
    assert whiskers.count() == 4
    tokens = sweep.locator("[data-panel='tokens'] circle")
    xs = [float(tokens.nth(i).get_attribute("cx") or 0) for i in range(4)]
    assert xs[0] < xs[1] < xs[2] == xs[3]  # 10, 15, 18, 18 tokens
    sweep.scroll_into_view_if_needed()
    p.screenshot(path=str(site.shots / "sweep.png"))
    rows.nth(2).locator("a").click()
    p.locator("#items").wait_for()
    assert "passed 4/6" in p.inner_text("#eval-summary")


def test_playground_starts_a_heavy_run_and_shows_its_lanes(page: Any, site: Site) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    p = start_from_playground(page, site, "Write one file, twice over.", 1, delay_s=0.3,
                              heavy="2", aggregate="vote")
    p.wait_for_url("**/#/group/*")
    p.wait_for_selector("body[data-ready='1']")
    assert p.locator("#agreed").count() == 0  # 0.3 s per streamed chunk: seconds to go
    p.wait_for_selector("#agreed", timeout=60_000)  # the group's stream brought the vote
    assert p.locator("#lanes .lane").count() == 2
    assert p.locator(".lane.agrees").count() == 2
    assert p.inner_text("#agreed") == "agrees with trajectories 1, 2"
    group = p.url.rsplit("/", 1)[1]
    assert f"{site.base}/ui/api/groups/{group}/stream" in asked
    with SQLiteTraceStore(site.db) as store:
        assert store.run_info(group)["reason"] == "vote: attempt 1"
        assert store.run_info(f"{group}.2")["tool_calls"] == 1


def test_a_keyed_ui_asks_for_the_key_and_streams_with_it(browser: Any, site: Site) -> None:
    with keyed_ui(site.db, "s3cret-key") as base:
        ctx = browser.new_context(viewport={"width": 1100, "height": 760})
        p = ctx.new_page()
        try:
            p.goto(f"{base}/ui/#/")
            p.fill("#key", "not-the-key")
            p.click("#key-go")
            p.wait_for_function("document.getElementById('key-msg')?.textContent"
                                ".includes('refused')")  # asked again, nothing shown
            assert p.locator("#runs tbody tr").count() == 0
            p.screenshot(path=str(site.shots / "key-prompt.png"))
            p.fill("#key", "s3cret-key")
            p.click("#key-go")
            p.locator("tr[data-run='run-long']").wait_for()
            assert p.locator("#key-prompt").count() == 0
            assert p.evaluate("sessionStorage.getItem('thinkact-key')") == "s3cret-key"
            p.goto(f"{base}/ui/#/play")  # started without --allow-custom-endpoints
            p.wait_for_selector("body[data-ready='1']")
            assert p.locator("#script, #base_url").count() == 0 and p.is_visible("#no-custom")
            refused = p.evaluate("api('api/runs', {task: 'x', provider: 'scripted', script: "
                                 "'t.json'}).then(() => 'started', e => e.message)")
            assert refused == ("'script' refused: this UI was started without "
                               "--allow-custom-endpoints")  # the POST carried the key
            proc = site.cli_run(site.script("keyed-live", 8, delay_s=0.08))
            try:
                reader = SQLiteTraceStore(site.db)
                wait_for(lambda: bool(reader.query("SELECT id FROM runs WHERE pid = ?",
                                                   (proc.pid,))), 30)
                run_id = reader.query("SELECT id FROM runs WHERE pid = ?", (proc.pid,))[0][0]
                reader.close()
                p.goto(f"{base}/ui/#/run/{run_id}")  # same tab: the key is kept
                p.wait_for_selector("body[data-ready='1']")
                assert p.locator("#key-prompt").count() == 0
                assert p.locator("#step-8").count() == 0
                p.locator("#step-8 .result").wait_for(timeout=60_000)  # over the stream
                p.wait_for_selector(".runhead [data-status='completed']", timeout=30_000)
            finally:
                proc.kill()
                proc.communicate()
        finally:
            ctx.close()
