"""The board as an ASGI app: pages, a JSON API, server-sent events, and the action endpoints.

Owns: the board's URLs, the response headers every page gets (a strict Content-Security-Policy:
scripts and styles only from the board itself, nothing inline; no framing; no referrer), the
sign-in flow (``?token=`` link or login form -> cookie), and the live feed: one event stream per
open page that re-reads the store when its ``updated_at`` moves (at most twice a second) and
sends the swarm (with the landing queue: it is sent again when a landing moves), the open task
and its new timeline entries.

Everything it reads it awaits from the engine, which runs the store and git off the event loop.
The one thing it moves off the loop itself is its own rendering of the whole swarm (a few ms per
thousand tasks, re-sent on every change to every open page), through the engine's one helper,
``off_loop``: a board over ten thousand tasks must not hold up the MCP clients beside it.

Must not: hold task logic or HTML built from task text. Pages are static files; the script fills
them with ``textContent`` from the JSON API, so agent output never becomes markup.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..engine import Engine, LandingRow, TaskError, TaskRow, off_loop, valid_task_id
from . import actions, data
from .access import Access
from .words import said

log = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
FEED_INTERVAL = 0.5  # seconds between the live feed's looks at the store
KEEPALIVE = 15.0  # seconds of silence after which the stream sends a comment
STREAM_LIFE = 300.0  # seconds one event stream lasts before the browser reconnects on its own
PAGES = {"/": "swarm.html", "/login": "login.html"}


def _static(name: str) -> bytes | None:
    if "/" in name or name.startswith(".") or not name:
        return None
    item = resources.files(__package__).joinpath("static").joinpath(name)
    try:
        return item.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _page(name: str, status: int = 200) -> Response:
    body = _static(name)
    assert body is not None, name
    return Response(body, status, media_type="text/html; charset=utf-8")


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": "refused", "message": message}, status)


class _Headers:
    """ASGI middleware: the security headers on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.encode(), v.encode())
                    for k, v in SECURITY_HEADERS.items()
                    if k.encode() not in present
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


class Board:
    """The board over one engine (the HTTP server's, or the ``board`` command's own)."""

    def __init__(self, engine: Engine, access: Access) -> None:
        self.engine = engine
        self.access = access

    # ---- the gate ----------------------------------------------------------------------------

    def _gate(self, request: Request) -> Response | None:
        """Refuse a request from a foreign Host, or one not signed in when a token is set."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not self.access.host_ok(headers):
            return _refuse(
                421, "refused: this Host is not allowed (pass --allowed-host to name another)"
            )
        if self.access.signed_in(headers):
            return None
        given = request.query_params.get("token")
        if given is not None and request.method == "GET" and self.access.token_ok(given):
            rest = {k: v for k, v in request.query_params.items() if k != "token"}
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, 303)
            response.headers["set-cookie"] = self.access.login_cookie(request.url.scheme == "https")
            return response
        if request.url.path.startswith("/api/"):
            return _refuse(
                401,
                "refused: this board needs the server's token. Open the board once with "
                "?token=<token> or sign in at /login",
            )
        return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", 303)

    def guarded(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            refused = self._gate(request)
            return refused if refused is not None else await handler(request)

        return endpoint

    def changing(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """An action: signed in, POST, same origin, CSRF token."""

        async def endpoint(request: Request) -> Response:
            refused = self._gate(request)
            if refused is not None:
                return refused if request.url.path.startswith("/api/") else _refuse(401, "refused")
            headers = {k.lower(): v for k, v in request.headers.items()}
            why = self.access.change_refusal(request.method, headers, request.url.scheme)
            if why is not None:
                return _refuse(403, why)
            return await handler(request)

        return endpoint

    # ---- pages and the API -------------------------------------------------------------------

    async def static(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        body = _static(name)
        suffix = name[name.rfind(".") :] if "." in name else ""
        if body is None or suffix not in STATIC_TYPES or suffix == ".html":
            return Response("not found", 404, media_type="text/plain")
        return Response(body, media_type=STATIC_TYPES[suffix])

    async def login_page(self, request: Request) -> Response:
        if self.access.token is None:
            return RedirectResponse("/", 303)
        return _page("login.html")

    async def login(self, request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not self.access.host_ok(headers) or not self.access.same_origin(
            headers, request.url.scheme
        ):
            return _refuse(403, "refused a cross-site sign-in")
        form = await request.form()
        token = str(form.get("token") or "")
        target = str(form.get("next") or "/")
        if not target.startswith("/") or target.startswith("//") or "\\" in target:
            target = "/"  # only the board's own paths: never another site
        if self.access.token is None or not self.access.token_ok(token):
            return RedirectResponse("/login?failed=1", 303)
        response = RedirectResponse(target, 303)
        response.headers["set-cookie"] = self.access.login_cookie(request.url.scheme == "https")
        return response

    async def swarm_page(self, request: Request) -> Response:
        return _page("swarm.html")

    async def task_page(self, request: Request) -> Response:
        return _page("task.html")

    async def repo_page(self, request: Request) -> Response:
        return _page("repo.html")

    async def _row(self, request: Request) -> Any:
        task_id = str(request.path_params["task_id"])
        if not valid_task_id(task_id):
            return _refuse(404, f"{task_id!r} is not a task id")
        try:
            return await self.engine.get(task_id)
        except TaskError as exc:
            return _refuse(404, said(exc))

    async def _swarm(self, landings: list[LandingRow] | None = None) -> dict[str, Any]:
        rows = await self.engine.list()
        out = await off_loop(data.swarm, rows, await self.engine.queue_positions(rows))
        if landings is None:
            landings = await data.landing_rows(self.engine)
        out["landings"] = await off_loop(data.landings, landings)
        return out

    async def _detail(self, row: TaskRow) -> dict[str, Any]:
        positions = await self.engine.queue_positions([row])
        return data.task_detail(row, positions.get(row.id))

    async def api_swarm(self, request: Request) -> Response:
        out = await self._swarm()
        out["csrf"] = self.access.csrf
        return JSONResponse(out)

    async def api_task(self, request: Request) -> Response:
        row = await self._row(request)
        if isinstance(row, Response):
            return row
        out = await self._detail(row)
        out["csrf"] = self.access.csrf
        return JSONResponse(out)

    async def api_diff(self, request: Request) -> Response:
        row = await self._row(request)
        if isinstance(row, Response):
            return row
        diff = await data.task_diff(self.engine, row)
        diff["conflicts"] = await data.conflicts(self.engine, row)
        return JSONResponse(diff)

    async def api_repo(self, request: Request) -> Response:
        repo = request.query_params.get("path", "")
        out = await data.repository(self.engine, repo)
        if out is None:
            return _refuse(404, f"no task ran in {repo!r}; the swarm page lists the repositories")
        out["csrf"] = self.access.csrf
        return JSONResponse(out)

    async def stream(self, request: Request) -> Response:
        task_id = request.query_params.get("task")
        if task_id is not None and not valid_task_id(task_id):
            return _refuse(404, f"{task_id!r} is not a task id")
        try:
            cursor = int(request.query_params.get("cursor") or 0)
        except ValueError:
            cursor = 0
        return StreamingResponse(
            self._feed(request, task_id, cursor),
            media_type="text/event-stream",
            headers={"x-accel-buffering": "no"},
        )

    async def _feed(self, request: Request, task_id: str | None, cursor: int) -> AsyncIterator[str]:
        """``swarm`` (every task), ``task`` (the open one) and ``timeline`` (its new entries)
        events, each sent when the store says something changed since the last look."""
        since = -1.0
        landed_stamp: tuple[tuple[str, float], ...] | None = None
        ends = time.monotonic() + STREAM_LIFE
        quiet_since = time.monotonic()
        yield "retry: 1000\n\n"
        while time.monotonic() < ends and not await request.is_disconnected():
            sent = False
            changed = await self.engine.changed_since(since)
            landings = await data.landing_rows(self.engine)
            stamp = tuple((r.id, r.updated_at) for r in landings)
            if changed or since < 0 or stamp != landed_stamp:
                if changed or since < 0:
                    since = changed[-1][1] if changed else time.time() - 1
                landed_stamp = stamp
                yield _event("swarm", await self._swarm(landings))
                sent = True
                row = None
                if task_id is not None:
                    with contextlib.suppress(TaskError):  # not (or no longer) known
                        row = await self.engine.get(task_id)
                if row is not None:
                    yield _event("task", await self._detail(row))
            if task_id is not None:
                page = await data.events_page(self.engine, task_id, cursor)
                if page["cursor"] != cursor:
                    cursor = page["cursor"]
                    yield _event("timeline", page)
                    sent = True
                    if page["more"]:
                        continue
            if sent:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"  # a comment: proxies and browsers see the stream live
            await self.engine.wait_for_change(FEED_INTERVAL)

    async def act(self, request: Request) -> Response:
        task_id = str(request.path_params["task_id"])
        action = str(request.path_params["action"])
        if not valid_task_id(task_id):
            return _refuse(404, f"{task_id!r} is not a task id")
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            return _refuse(400, "the request body must be JSON")
        if not isinstance(body, dict):
            return _refuse(400, "the request body must be a JSON object")
        if action == "cancel":
            out = await actions.cancel(self.engine, task_id)
        elif action == "cleanup":
            out = await actions.cleanup(self.engine, task_id)
        elif action == "land":
            check = body.get("check")
            if check is not None and not isinstance(check, str):
                return _refuse(400, "check must be a shell command (a string)")
            out = await actions.land(self.engine, task_id, check=(check or "").strip() or None)
        elif action == "queue":
            check = body.get("check")
            if check is not None and not isinstance(check, str):
                return _refuse(400, "check must be a shell command (a string)")
            out = await actions.queue(self.engine, task_id, check=(check or "").strip() or None)
        else:
            return _refuse(404, f"unknown action {action!r}: cancel, cleanup, land or queue")
        return JSONResponse(out, 200 if out["ok"] else 409)

    async def wrong_method(self, request: Request) -> Response:
        return _refuse(405, "actions change state, so they must be sent as POST")

    def app(self) -> ASGIApp:
        g, c = self.guarded, self.changing
        routes = [
            Route("/", g(self.swarm_page)),
            Route("/task/{task_id}", g(self.task_page)),
            Route("/repo", g(self.repo_page)),
            Route("/login", self.login_page, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/static/{name}", self.static),
            Route("/api/tasks", g(self.api_swarm)),
            Route("/api/tasks/{task_id}", g(self.api_task)),
            Route("/api/tasks/{task_id}/diff", g(self.api_diff)),
            Route("/api/repo", g(self.api_repo)),
            Route("/api/stream", g(self.stream)),
            Route("/api/tasks/{task_id}/{action}", c(self.act), methods=["POST"]),
            Route("/api/tasks/{task_id}/{action}", g(self.wrong_method), methods=["GET", "PUT"]),
        ]
        return _Headers(Starlette(routes=routes))


def _event(name: str, payload: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"


def board_app(engine: Engine, access: Access) -> ASGIApp:
    return Board(engine, access).app()
