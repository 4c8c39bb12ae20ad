"""The web UI: a JSON API over the trace store, a live event stream, and the static page.

``create_ui_app`` returns an ASGI app meant to be mounted at ``/ui`` (``thinkact ui`` and
``thinkact serve`` both do). Every request, static files and the event stream included,
passes the server's ``Access`` rule first, with two differences: the page's own origin may
send requests (the browser adds ``Origin`` to its POSTs), and the page itself (``/`` and
``/static/*``: package files, no data) loads without the bearer key, so that a browser can
show the key prompt; every ``/api`` route still needs the key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from thinkact.eval.store import default_eval_db
from thinkact.server.openai_app import Access
from thinkact.traces.sqlite import SQLiteTraceStore
from thinkact.ui import queries
from thinkact.ui.evals import eval_report, list_evals, sweep_of
from thinkact.ui.launch import LaunchError, RunForm, fork_run, resume_run, start_run

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
POLL_S = 0.2  # how often the live stream looks for new events in the store


class Guarded:
    """An ASGI app behind ``Access``: a refused request never reaches ``app``. GETs of the
    page's own files (``shell``: paths, ``folder/*`` for a folder's files) need no key; the
    Host and Origin rules still hold for them."""

    def __init__(self, app: ASGIApp, access: Access, shell: tuple[str, ...] = ()) -> None:
        self.app, self.access = app, replace(access, same_origin=True)
        self.open, self.shell = replace(self.access, api_key=None), shell

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            post = scope["method"] not in ("GET", "HEAD")
            root = scope.get("root_path", "")
            path = scope["path"][len(root):] if scope["path"].startswith(root) else scope["path"]
            public = not post and any(path == p or (p.endswith("/*") and path.startswith(
                p[:-1]) and "/" not in path[len(p) - 1:]) for p in self.shell)
            refused = (self.open if public else self.access).refusal(Request(scope), post)
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ForkForm(BaseModel):
    step: int
    message: str | None = None


def _asset(name: str) -> Response:
    files = resources.files("thinkact.ui") / "static"
    if "/" in name or name.startswith(".") or not (files / name).is_file():
        raise HTTPException(404, f"no asset {name!r}")
    kind = _TYPES.get(Path(name).suffix, "application/octet-stream")
    return Response((files / name).read_bytes(), media_type=kind,
                    headers={"Cache-Control": "no-cache"})


def _known(store: SQLiteTraceStore, run_id: str) -> str:
    if not store.has_run(run_id):
        raise HTTPException(404, f"no run {run_id!r}")
    return run_id


SHELL = ("/", "/static/*")  # the page and its assets (a folder's files): no data in them
CUSTOM = ("base_url", "script")  # form fields that pick where requests go or what answers


def _found(what: str, name: str, read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``read()``, its ``KeyError`` answered as a 404 that names ``what``."""
    try:
        return read()
    except KeyError:
        raise HTTPException(404, f"no {what} {name!r}") from None


def create_ui_app(store: SQLiteTraceStore, access: Access | None = None,
                  eval_db: Path | None = None, custom_endpoints: bool = False) -> Guarded:
    """The UI over ``store`` (and the evals of ``eval_db``, default: the data dir's); runs
    started from the page record into the same trace database. The playground refuses the
    ``CUSTOM`` fields unless ``custom_endpoints``: a base URL would send this server's
    provider keys wherever the page says, and a script names a file here to read."""
    app = FastAPI(title="thinkact ui", docs_url=None, redoc_url=None, openapi_url=None)
    evals_at = eval_db or default_eval_db()

    @app.get("/api/settings")
    def settings() -> dict[str, Any]:
        return {"custom_endpoints": custom_endpoints, "custom_fields": list(CUSTOM)}

    @app.get("/", response_model=None)
    def index() -> Response:
        return _asset("index.html")

    @app.get("/static/{name}", response_model=None)
    def asset(name: str) -> Response:
        return _asset(name)

    @app.get("/api/runs")
    def runs(q: str = "", status: str = "", limit: int = 200) -> list[dict[str, Any]]:
        return queries.list_runs(store, q, status, min(max(limit, 1), 2000))

    @app.get("/api/runs/{run_id}")
    def run(run_id: str) -> dict[str, Any]:
        return queries.run_summary(store, _known(store, run_id))

    @app.get("/api/runs/{run_id}/steps")
    def steps(run_id: str, first: int = 1, last: int = 100) -> list[dict[str, Any]]:
        if last < first or last - first >= 1000:
            raise HTTPException(400, "steps: give first <= last, at most 1000 steps")
        return queries.step_events(store, _known(store, run_id), first, last)

    @app.get("/api/runs/{run_id}/search")
    def search(run_id: str, q: str = "") -> list[int]:
        return queries.search_steps(store, _known(store, run_id), q)

    @app.get("/api/runs/{run_id}/stream", response_model=None)
    async def stream(run_id: str, after: int = 0) -> EventSourceResponse:
        return EventSourceResponse(_follow(store, _known(store, run_id), after), ping=15)

    @app.get("/api/groups/{group}")
    def group(group: str) -> dict[str, Any]:
        return _found("heavy group", group, lambda: queries.heavy_group(store, group))

    @app.get("/api/groups/{group}/stream", response_model=None)
    async def group_stream(group: str) -> EventSourceResponse:
        if not (await asyncio.to_thread(queries.group_progress, store, group))[0]:
            raise HTTPException(404, f"no heavy group {group!r}")
        return EventSourceResponse(_follow_group(store, group), ping=15)

    @app.get("/api/compare")
    def compare(a: str, b: str) -> dict[str, Any]:
        return queries.compare(store, _known(store, a), _known(store, b))

    @app.get("/api/evals")
    def evals() -> list[dict[str, Any]]:
        return list_evals(evals_at)

    @app.get("/api/evals/{eval_id}")
    def eval_(eval_id: str) -> dict[str, Any]:
        return _found("eval", eval_id, lambda: eval_report(evals_at, eval_id))

    @app.get("/api/sweeps/{sweep_id}")
    def sweep(sweep_id: str) -> dict[str, Any]:
        return _found("sweep", sweep_id, lambda: sweep_of(evals_at, sweep_id))

    @app.post("/api/runs", response_model=None)
    async def start(form: RunForm) -> Any:
        given = [f for f in CUSTOM if getattr(form, f) not in (None, "")]
        if given and not custom_endpoints:
            return JSONResponse({"error": f"{given[0]!r} refused: this UI was started without "
                                 "--allow-custom-endpoints", "field": given[0]},
                                status_code=400)
        return await _launch(lambda: start_run(store.path, form), heavy=bool(form.heavy))

    @app.post("/api/runs/{run_id}/resume", response_model=None)
    async def resume(run_id: str) -> Any:
        return await _launch(lambda: resume_run(store.path, _known(store, run_id)))

    @app.post("/api/runs/{run_id}/fork", response_model=None)
    async def fork(run_id: str, form: ForkForm) -> Any:
        return await _launch(lambda: fork_run(store, _known(store, run_id), form.step,
                                              form.message))

    return Guarded(app, access or Access(), SHELL)


async def _launch(work: Any, heavy: bool = False) -> JSONResponse:
    try:
        run_id = await asyncio.to_thread(work)
    except LaunchError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"run_id": run_id, "heavy": heavy})


async def _follow(store: SQLiteTraceStore, run_id: str, after: int
                  ) -> AsyncIterator[dict[str, str]]:
    """Every event recorded after ``after``, as it reaches the store (whichever process
    writes it); ends with an ``end`` event once the run is no longer running."""
    seq, quiet = after, 0
    while True:
        rows = await asyncio.to_thread(queries.events_after, store, run_id, seq)
        for row in rows:
            seq = row["seq"]
            yield {"event": "event", "id": str(seq), "data": json.dumps(row)}
        if rows:
            quiet = 0
            continue
        quiet += 1
        if quiet % 5 == 1:  # about once a second: has the run ended (or its writer died)?
            info = await asyncio.to_thread(store.run_info, run_id)
            if info["status"] != "running" or not store.writer_alive(run_id):
                yield {"event": "end", "data": json.dumps({"status": info["status"]})}
                return
        await asyncio.sleep(POLL_S)


async def _follow_group(store: SQLiteTraceStore, group: str) -> AsyncIterator[dict[str, str]]:
    """A ``change`` event whenever a run of the heavy group records something, an ``end``
    event once none of them can change any more."""
    seen: list[Any] = []
    while True:
        now, open_ = await asyncio.to_thread(queries.group_progress, store, group)
        if now != seen:
            seen = now
            yield {"event": "change", "data": json.dumps({"runs": len(now)})}
        if not open_:
            yield {"event": "end", "data": "{}"}
            return
        await asyncio.sleep(POLL_S)


def ui_root(store: SQLiteTraceStore, access: Access | None = None,
            eval_db: Path | None = None, custom_endpoints: bool = False) -> FastAPI:
    """``thinkact ui``'s app: the UI at ``/ui`` and ``/`` sending there."""
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    guard = replace(access or Access(), same_origin=True, api_key=None)  # a redirect only

    @root.get("/", response_model=None)
    def home(request: Request) -> Response:
        refused = guard.refusal(request, post=False)
        return refused if refused is not None else RedirectResponse("/ui/")

    root.mount("/ui", create_ui_app(store, access, eval_db, custom_endpoints))
    return root
