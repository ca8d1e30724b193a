"""The MCP face: builds the server over the engine and registers every tool module.

Owns: the server's lifespan (the engine and resource-update notifications), the SDK extensions
and middleware (the Tasks layer; argument errors as sentences and unknown arguments refused),
the list of tool modules, and making every tool's definition lean (``schemas.lean``) once all
are registered.
What the server says in the handshake is in ``handshake``; answers and their caps in
``answers``; text for people in ``render``; parameter types in ``schemas``.

Adding tools: write a module with ``register(face: Face) -> None`` (see ``face`` and
``launch_tools`` for the pattern) and add it to ``TOOL_MODULES`` below: one line.

Must not: hold task logic or define tools itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from mcp.server import MCPServer
from mcp.types import SubscribeRequestParams, UnsubscribeRequestParams

from .. import __version__
from ..engine import Engine
from ..settings import Settings
from . import fork as fork_tool
from . import land as land_tool
from . import launch_tools, query_tools, resources, worktree_tools
from . import review as review_tool
from . import steer as steer_tool
from .arguments import argument_errors
from .face import Face
from .handshake import INSTRUCTIONS, SERVER_NAME
from .schemas import inline, lean
from .tasks import SwarmTasks
from .updates import ResourceUpdates


def _steering(face: Face) -> None:
    """codex_steer, codex_fork and codex_review (engine.steering)."""
    steer_tool.register(face.mcp, face.engine, face.answer)
    fork_tool.register(face.mcp, face.engine, face.answer)
    review_tool.register(
        face.mcp, face.engine, face.answer, face.task_answer, face.wait_with_progress
    )


def _landing(face: Face) -> None:
    """codex_land (engine.landing)."""
    land_tool.register(face.mcp, face.engine, face.budget, face.settings.land_sync_limit)


# Each registers its tools (or resources) on a Face; the order is the order of tools/list.
TOOL_MODULES: tuple[Callable[[Face], None], ...] = (
    launch_tools.register,
    query_tools.register,
    _steering,
    worktree_tools.register,
    _landing,
    resources.register,
)


def build_server(settings: Settings, engine: Engine | None = None) -> MCPServer:
    """The MCP server over an engine (created here unless given)."""
    engine = engine or Engine(settings)
    updates = ResourceUpdates(engine)

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[Engine]:
        first = engine.users == 0
        await engine.start()
        if first:
            await updates.start()
        try:
            yield engine
        finally:
            if engine.users == 1:
                await updates.stop()
            await engine.stop()

    def validator_of(name: str) -> Any:
        tool = mcp._tool_manager.get_tool(name)
        return tool.fn_metadata.validate_arguments if tool is not None else None

    def parameters_of(name: str) -> Any:
        tool = mcp._tool_manager.get_tool(name)
        return set(tool.parameters.get("properties", {})) if tool is not None else None

    tasks_extension = SwarmTasks(engine)
    mcp = MCPServer(
        SERVER_NAME,
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        extensions=[tasks_extension],
        middleware=[
            tasks_extension.legacy_middleware,
            argument_errors(validator_of, parameters_of),
        ],
        subscriptions=updates.bus,
    )
    # The SDK serves subscriptions/listen (2026-07-28) from our bus but has no handler for the
    # older era's resources/subscribe: register ours on its low-level server.
    lowlevel = mcp._lowlevel_server
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, updates.subscribe)
    lowlevel.add_request_handler(
        "resources/unsubscribe", UnsubscribeRequestParams, updates.unsubscribe
    )

    face = Face(mcp, engine, settings)
    tasks_extension.bind(face.task_answer)
    for register in TOOL_MODULES:
        register(face)
    for tool in mcp._tool_manager.list_tools():
        tool.parameters = lean(tool.parameters)
        if tool.fn_metadata.output_schema is not None:
            tool.fn_metadata.output_schema = lean(
                inline(tool.fn_metadata.output_schema), nulls=True
            )
            tool.__dict__.pop("output_schema", None)  # a cached copy of the old one
    return mcp
