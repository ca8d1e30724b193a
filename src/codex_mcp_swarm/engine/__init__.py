"""The engine's public surface: everything a face (``mcp``, ``console``, ``web``) may use.

Owns: the names in ``__all__``: :class:`Engine`, whose awaitable methods (``launch``, ``reply``,
``steer``, ``fork``, ``review``, ``land``, ``merge``, ``cleanup``, ``diff`` and the queries
``get``, ``get_many``, ``list``, ``status``...) each run their own blocking work off the event
loop; the records and views it hands out; its errors; the limits of its arguments; and, for
synchronous console commands that have no event loop, the store they read and the
``*_sync`` twins of the engine's methods. One module is named whole: ``doing`` (what a task is
doing now, worded once for every face), imported as ``from codex_mcp_swarm.engine import doing``.

Faces import from here and nowhere else in the engine; an import-linter contract keeps them out
of the store and its codec, the backends, procs, branches, the fork server and the runner's
modules (runner, supervisor, task files, line framing, retry, rehearsal). A face that needs
something more asks for it to be named here.

Names are imported on first use (module ``__getattr__``): every runner process imports this
package (it is started as ``python -m codex_mcp_swarm.engine.runner``) and must not pay for
the whole engine. Type checkers see ordinary imports.

Must not: hold logic of its own.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .admission import credentials_problem
    from .backends.base import BackendError
    from .backends.local import STARTING_GRACE
    from .branches import diff as branch_diff
    from .branches import outcome_of as branch_outcome
    from .branches import require_worktree, worktree_of
    from .codec import extra_to_dict
    from .errors import ENGINE_WORDS, Code, EngineError, TaskError, Term, spelt
    from .landing import LandRequest
    from .landings import is_landing_id
    from .offload import off_loop
    from .phases import ACTIVE, FAILED, PHASES, SUPERVISED, TERMINAL, Phase, is_terminal
    from .plan import Checkout, Limits, WorktreeRequest
    from .procs import same_process
    from .records import (
        AutoLand,
        CheckFailed,
        CleanupReport,
        Collision,
        Conflicted,
        ConflictPair,
        DiffReport,
        Landed,
        LandingProgress,
        LandingRow,
        LandReport,
        Merged,
        MergeReport,
        Overlap,
        Resolving,
        Skipped,
        TaskExtra,
        as_data,
    )
    from .requests import worktree_request
    from .steering import MAX_FORKS, MESSAGE_LIMIT, Steered
    from .store import Store, StoreError, TaskRow, make_private_dir, valid_task_id
    from .tasks import Engine, Newest, Status, new_task_id
    from .views import (
        FileView,
        LandingMarkView,
        LandingView,
        ListingView,
        MergedView,
        NodeView,
        Reconnecting,
        ResultView,
        StatusView,
        SteeredView,
        ToolView,
        UsageView,
        WorktreeRef,
        WorktreeView,
        branch_of,
        elapsed,
        landing_view,
        listing_view,
        result_view,
        status_view,
        steered_view,
        usage_view,
        worktree_view,
    )

# name -> the module (relative to this package) that defines it, and its name there if another
_HOMES = {
    "TaskError": ".errors",
    "EngineError": ".errors",
    "Code": ".errors",
    "Term": ".errors",
    "ENGINE_WORDS": ".errors",
    "spelt": ".errors",
    "credentials_problem": ".admission",
    "DiffReport": ".records",
    "BackendError": ".backends.base",
    "STARTING_GRACE": ".backends.local",
    "branch_diff": ".branches:diff",
    "branch_outcome": ".branches:outcome_of",
    "require_worktree": ".branches",
    "worktree_of": ".branches",
    "LandRequest": ".landing",
    "is_landing_id": ".landings",
    "LandingProgress": ".records",
    "LandingRow": ".records",
    "landing_view": ".views",
    "FileView": ".views",
    "LandingMarkView": ".views",
    "LandingView": ".views",
    "ListingView": ".views",
    "MergedView": ".views",
    "NodeView": ".views",
    "Reconnecting": ".views",
    "ResultView": ".views",
    "StatusView": ".views",
    "SteeredView": ".views",
    "ToolView": ".views",
    "UsageView": ".views",
    "WorktreeRef": ".views",
    "WorktreeView": ".views",
    "off_loop": ".offload",
    "ACTIVE": ".phases",
    "PHASES": ".phases",
    "SUPERVISED": ".phases",
    "FAILED": ".phases",
    "is_terminal": ".phases",
    "TERMINAL": ".phases",
    "Phase": ".phases",
    "Checkout": ".plan",
    "Limits": ".plan",
    "WorktreeRequest": ".plan",
    "same_process": ".procs",
    "worktree_request": ".requests",
    "AutoLand": ".records",
    "CheckFailed": ".records",
    "Overlap": ".records",
    "ConflictPair": ".records",
    "Collision": ".records",
    "CleanupReport": ".records",
    "Conflicted": ".records",
    "Landed": ".records",
    "LandReport": ".records",
    "Merged": ".records",
    "MergeReport": ".records",
    "Resolving": ".records",
    "Skipped": ".records",
    "TaskExtra": ".records",
    "as_data": ".records",
    "extra_to_dict": ".codec",
    "MAX_FORKS": ".steering",
    "MESSAGE_LIMIT": ".steering",
    "Steered": ".steering",
    "Store": ".store",
    "StoreError": ".store",
    "TaskRow": ".store",
    "make_private_dir": ".store",
    "valid_task_id": ".store",
    "Engine": ".tasks",
    "Newest": ".tasks",
    "Status": ".tasks",
    "new_task_id": ".tasks",
    "branch_of": ".views",
    "elapsed": ".views",
    "listing_view": ".views",
    "result_view": ".views",
    "status_view": ".views",
    "steered_view": ".views",
    "usage_view": ".views",
    "worktree_view": ".views",
}

__all__ = [
    "ACTIVE",
    "ENGINE_WORDS",
    "FAILED",
    "MAX_FORKS",
    "MESSAGE_LIMIT",
    "PHASES",
    "STARTING_GRACE",
    "SUPERVISED",
    "TERMINAL",
    "AutoLand",
    "BackendError",
    "CheckFailed",
    "Checkout",
    "CleanupReport",
    "Code",
    "Collision",
    "ConflictPair",
    "Conflicted",
    "DiffReport",
    "Engine",
    "EngineError",
    "FileView",
    "LandReport",
    "LandRequest",
    "Landed",
    "LandingMarkView",
    "LandingProgress",
    "LandingRow",
    "LandingView",
    "Limits",
    "ListingView",
    "MergeReport",
    "Merged",
    "MergedView",
    "Newest",
    "NodeView",
    "Overlap",
    "Phase",
    "Reconnecting",
    "Resolving",
    "ResultView",
    "Skipped",
    "Status",
    "StatusView",
    "Steered",
    "SteeredView",
    "Store",
    "StoreError",
    "TaskError",
    "TaskExtra",
    "TaskRow",
    "Term",
    "ToolView",
    "UsageView",
    "WorktreeRef",
    "WorktreeRequest",
    "WorktreeView",
    "as_data",
    "branch_diff",
    "branch_of",
    "branch_outcome",
    "credentials_problem",
    "elapsed",
    "extra_to_dict",
    "is_landing_id",
    "is_terminal",
    "landing_view",
    "listing_view",
    "make_private_dir",
    "new_task_id",
    "off_loop",
    "require_worktree",
    "result_view",
    "same_process",
    "spelt",
    "status_view",
    "steered_view",
    "usage_view",
    "valid_task_id",
    "worktree_of",
    "worktree_request",
    "worktree_view",
]


if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        module, _, there = home.partition(":")
        value = getattr(importlib.import_module(module, __name__), there or name)
        globals()[name] = value
        return value
