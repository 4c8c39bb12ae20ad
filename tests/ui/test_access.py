"""The UI keeps ``serve``'s access rules on every route, the event stream included: a foreign
``Origin``, a non-loopback ``Host`` on loopback, a missing or wrong bearer key beyond it, and
a non-JSON POST body are refused before anything runs. The page's own files (no data) load
without the key, so that a browser can ask for it; the playground refuses form fields that
would pick where requests go unless the server allows custom endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.cli_run import clean_env, files_turns, serve_model, thinkact, write_script
from support.ui_runs import _turn, record, ui_server
from thinkact.messages import Message
from thinkact.server.openai_app import Access
from thinkact.traces import SQLiteTraceStore
from thinkact.ui import ui_root

SHELL = ["/", "/ui/", "/ui/static/app.js"]  # the page: no data, no key needed
GETS = [*SHELL, "/ui/api/settings", "/ui/api/runs", "/ui/api/runs/run-a",
        "/ui/api/runs/run-a/steps?first=1&last=5", "/ui/api/runs/run-a/search?q=item",
        "/ui/api/runs/run-a/stream", "/ui/api/compare?a=run-a&b=run-a"]
POSTS = ["/ui/api/runs", "/ui/api/runs/run-a/resume", "/ui/api/runs/run-a/fork"]
OTHERS = ["/ui/api/groups/g", "/ui/api/groups/g/stream", "/ui/api/evals", "/ui/api/evals/e",
          "/ui/api/sweeps/sw-x",
          "/ui/nowhere", "/ui/static/../api/runs", "/ui/static/x/../../api/runs",
          "/ui/api/static/app.js",
          "/ui/static", "/ui/static/a/b"]  # refused before they could answer 404


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("access") / "t.sqlite"
    with SQLiteTraceStore(path) as store:
        done = Message(role="assistant", reasoning="ok", content="Two checked.")
        record(store, "run-a", "Check two items.", [_turn(1), _turn(2), done])
    return path


@pytest.fixture(scope="module")
def base(db: Path) -> Iterator[str]:
    with ui_server(db, db.parent) as url:
        yield url


@pytest.mark.parametrize("path", GETS + POSTS + OTHERS)
def test_foreign_origin_and_host_are_refused(base: str, path: str) -> None:
    post = path in POSTS
    for headers in ({"Origin": "http://evil.example"}, {"Host": "evil.example"},
                    {"Host": "rebound.example:8200"},
                    {"Origin": base.rsplit(":", 1)[0] + ":1"}):  # loopback, other port
        r = httpx.request("POST" if post else "GET", base + path, headers=headers,
                          json={} if post else None, timeout=10)
        assert r.status_code == 403, (path, headers, r.text)
        assert r.json()["error"]["type"] == "permission_error"


def test_the_page_itself_is_served_and_its_own_origin_may_post(base: str) -> None:
    page = httpx.get(base + "/ui/", timeout=10)
    assert page.status_code == 200 and "static/app.js" in page.text
    assert "<script src=\"http" not in page.text  # no CDN: every asset is ours
    for path in GETS[1:]:
        assert httpx.get(base + path, timeout=10).status_code == 200, path
    r = httpx.post(base + "/ui/api/runs/run-a/resume", headers={"Origin": base}, json={},
                   timeout=30)
    assert r.status_code == 400 and "already completed" in r.json()["error"]
    form = httpx.post(base + "/ui/api/runs", content="task=x", timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded"})  # what a page can send freely
    assert form.status_code == 415


async def test_beyond_loopback_every_route_needs_the_key(db: Path) -> None:
    with SQLiteTraceStore(db) as store:
        app = ui_root(store, Access(api_key="s3cret", loopback_only=False))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ui.lan") as c:
            for path in GETS[len(SHELL):] + POSTS + OTHERS:
                method = "POST" if path in POSTS else "GET"
                for auth in (None, "Bearer wrong", "s3cret", "Bearer s3cret!", "bearer s3cret"):
                    headers = {"Authorization": auth} if auth else {}
                    r = await c.request(method, path, headers=headers,
                                        json={} if method == "POST" else None)
                    assert r.status_code == 401, (path, auth)
            ok = await c.get("/ui/api/runs", headers={"Authorization": "Bearer s3cret"})
            assert ok.status_code == 200 and ok.json()[0]["run_id"] == "run-a"
            for path in SHELL:  # the page loads, then asks for the key
                r = await c.get(path)
                assert r.status_code in (200, 307) and "run-a" not in r.text, path
                foreign = await c.get(path, headers={"Origin": "http://evil.example"})
                assert foreign.status_code == 403, path
            assert (await c.post("/ui/", json={})).status_code == 401  # GETs only
            assert (await c.get("/ui/static/none.js")).status_code == 404


def test_serve_mounts_the_ui_under_the_same_rules(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json", files_turns(1))
    db = tmp_path / "t.sqlite"
    args = ["--provider", "scripted", "--script", str(script), "--tools", "files",
            "--trace-db", str(db)]
    with serve_model(args, clean_env(tmp_path), command="serve") as v1:
        root = v1.removesuffix("/v1")
        httpx.post(f"{v1}/chat/completions", timeout=60, json={
            "model": "m", "messages": [{"role": "user", "content": "Write a file."}]})
        runs = httpx.get(f"{root}/ui/api/runs", timeout=10).json()
        assert [r["task"] for r in runs] == ["Write a file."]
        assert httpx.get(f"{root}/ui/", timeout=10).status_code == 200
        for headers in ({"Origin": "http://evil.example"}, {"Host": "evil.example"}):
            for path in ("/ui/", "/ui/api/runs", f"/ui/api/runs/{runs[0]['run_id']}/stream"):
                assert httpx.get(root + path, headers=headers, timeout=10).status_code == 403


def test_the_playground_refuses_custom_endpoints_unless_allowed(base: str, db: Path) -> None:
    own = {"Origin": base}
    assert httpx.get(base + "/ui/api/settings", timeout=10).json()["custom_endpoints"] is False
    for field, value in (("base_url", "http://attacker.example/v1"),
                         ("script", str(db.parent / "turns.json"))):
        r = httpx.post(base + "/ui/api/runs", headers=own, timeout=10, json={
            "task": "Do it.", "provider": "custom", field: value})
        assert r.status_code == 400, r.text
        assert r.json()["field"] == field
        assert r.json()["error"] == (f"{field!r} refused: this UI was started without "
                                     "--allow-custom-endpoints")
    empty = httpx.post(base + "/ui/api/runs", headers=own, timeout=10, json={
        "task": "Do it.", "provider": "nosuch", "base_url": ""})  # empty: not given
    assert empty.status_code == 400 and "nosuch" in empty.json()["error"]
    with SQLiteTraceStore(db) as store:
        assert [r.run_id for r in store.list_runs()] == ["run-a"]  # nothing was started


async def test_the_playground_names_what_is_wrong(base: str, db: Path) -> None:
    with SQLiteTraceStore(db) as store:
        app = ui_root(store, custom_endpoints=True)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1",
                                     timeout=60) as c:
            assert (await c.get("/ui/api/settings")).json()["custom_endpoints"] is True
            bad_tool = await c.post("/ui/api/runs", json={
                "task": "Do it.", "provider": "scripted",
                "script": str(db.parent / "none.json"), "tools": "teleport"})
    assert bad_tool.status_code == 400
    assert "none.json" in bad_tool.json()["error"] or "teleport" in bad_tool.json()["error"]
    own = {"Origin": base}
    assert httpx.post(base + "/ui/api/runs", headers=own, json={"task": ""},
                      timeout=10).status_code == 422
    fork = httpx.post(base + "/ui/api/runs/run-a/fork", headers=own, timeout=10,
                      json={"step": 9})
    assert fork.status_code == 400 and "step must be 1..4" in fork.json()["error"]
    with SQLiteTraceStore(db) as store:
        assert [r.run_id for r in store.list_runs()] == ["run-a"]  # nothing was recorded


def test_ui_refuses_to_bind_beyond_loopback_without_a_key(tmp_path: Path) -> None:
    refused = thinkact(["ui", "--host", "0.0.0.0", "--trace-db", str(tmp_path / "t.sqlite")],
                       tmp_path)
    assert refused.returncode == 2 and "needs --key-env" in refused.stderr
    unset = thinkact(["ui", "--host", "0.0.0.0", "--key-env", "NO_SUCH_KEY_VAR"], tmp_path)
    assert unset.returncode == 2 and "NO_SUCH_KEY_VAR" in unset.stderr
