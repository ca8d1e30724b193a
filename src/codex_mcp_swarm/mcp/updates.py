"""Resource update notifications: subscribers hear when a task (or the task list) changes.

Owns: who subscribed to what (``resources/subscribe`` per session for clients of the older era;
``subscriptions/listen`` streams, served by the SDK from our bus, in the 2026-07-28 era), and
the change feed that turns store updates into ``notifications/resources/updated``.

Runners write progress straight into the store, so the feed reads the store's ``updated_at``
column: at most one pass per :data:`MIN_INTERVAL`, which also rate-limits each URI, so a chatty
task cannot flood a client. A task's end wakes the feed at once (through the engine).

Must not: read task contents or know about tools. It names URIs; clients read them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated
from mcp.types import EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams

from ..engine import Engine

log = logging.getLogger(__name__)

MIN_INTERVAL = 1.0  # seconds between passes: at most one notification per URI per second
TASKS_URI = "codex-swarm:///tasks"


def task_uri(task_id: str) -> str:
    return f"{TASKS_URI}/{task_id}"


class ResourceUpdates:
    """The change feed. ``bus`` goes to ``MCPServer(subscriptions=...)``; the handlers serve
    the older era's ``resources/subscribe`` and ``resources/unsubscribe``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.bus = InMemorySubscriptionBus()
        self._legacy: dict[str, set[Any]] = {}  # uri -> sessions
        self._since = time.time()
        self._stack: contextlib.AsyncExitStack | None = None  # the feed's task group

    # ---- older era: resources/subscribe --------------------------------------------------------

    async def subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams
    ) -> EmptyResult:
        self._legacy.setdefault(str(params.uri), set()).add(ctx.session)
        return EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams
    ) -> EmptyResult:
        self._legacy.get(str(params.uri), set()).discard(ctx.session)
        return EmptyResult()

    # ---- the feed ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the feed in a task group of its own, held by an exit stack that :meth:`stop`
        unwinds (call both from the same task)."""
        self._since = time.time()
        async with contextlib.AsyncExitStack() as stack:
            group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(group.cancel_scope.cancel)  # unwound first: the feed ends
            group.start_soon(self._run)
            self._stack = stack.pop_all()

    async def stop(self) -> None:
        """Cancel the feed and wait for it; nothing of it runs after this returns."""
        stack, self._stack = self._stack, None
        if stack is not None:
            try:
                await stack.aclose()
            except Exception:
                log.exception("the resource update feed failed")

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.publish_changes()
            except Exception:
                log.exception("resource update pass failed")
            await self.engine.wait_for_change(MIN_INTERVAL)
            await anyio.sleep(max(0.0, MIN_INTERVAL - (time.monotonic() - started)))

    async def publish_changes(self) -> None:
        changed = await self.engine.changed_since(self._since)
        if not changed:
            return
        self._since = changed[-1][1]
        uris = [task_uri(task_id) for task_id, _at in changed] + [TASKS_URI]
        for uri in dict.fromkeys(uris):
            await self.bus.publish(ResourceUpdated(uri=uri))
            for session in list(self._legacy.get(uri, ())):
                try:
                    await session.send_resource_updated(uri)
                except Exception:  # the session is gone: forget it
                    self._legacy[uri].discard(session)
