"""The store's codec for a task row's ``extra``: :class:`~.records.TaskExtra` to JSON and back;
and the typed reading of a row's recorded spec (:func:`task_spec_of`).

Owns: the JSON shape of the ``extra`` column, and of a landing's request, progress and report
(the ``landings`` table's JSON columns); nothing else knows them. Decoding tolerates
every row ever written: a missing key takes the record's default, a key this version does not
know is kept as it was (a newer server may share the task dir), and a record whose required
parts are missing or malformed is dropped with a log line rather than failing the read.
Encoding writes only what is set (``backend`` always: the store's queries select on it).

Must not: read or write the store (:mod:`.store` calls this), or hold any rule about tasks.
The git layer is loaded only to decode a row that has a worktree.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..codex.command import ReviewTarget, TaskSpec
from .plan import Checkout
from .records import (
    AutoLand,
    CheckFailed,
    Conflicted,
    HomeTrip,
    Landed,
    LandingMark,
    LandingProgress,
    LandReport,
    LandRequest,
    Merged,
    Node,
    RayRecord,
    Resolving,
    SentHome,
    Skipped,
    TaskExtra,
    as_data,
)

if TYPE_CHECKING:
    from ..git import Outcome, Worktree

__all__ = ["extra_from_json", "extra_to_dict", "extra_to_json", "task_spec_of"]

log = logging.getLogger(__name__)

# Keys of the stored object, in the order they are written.
_KEYS = (
    "backend",
    "worktree",
    "outcome",
    "outcome_error",
    "commit",
    "merged",
    "removed_worktree",
    "removed_branch",
    "checkout",
    "node",
    "ray",
    "ray_notes",
    "waiting_for",
    "paths",
    "paths_repo",
    "land_target",
    "resolves",
    "resolves_paths",
    "resolved_by",
    "auto_land",
    "landing",
    "home",
)


class _Malformed(ValueError):
    pass


# ---- decoding --------------------------------------------------------------------------------


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _need(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _Malformed(f"{key} is missing")
    return value


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _strs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(item) for item in value if item is not None)


def _worktree(data: Mapping[str, Any]) -> Worktree:
    from ..git import Worktree

    base_commit = _need(data, "base_commit")
    return Worktree(
        path=Path(_need(data, "path")),
        branch=_need(data, "branch"),
        repo=Path(_need(data, "repo")),
        base_ref=_str(data.get("base_ref")) or base_commit,
        base_commit=base_commit,
        base_branch=_str(data.get("base_branch")),
        carried_commit=_str(data.get("carried_commit")),
        subdir=_str(data.get("subdir")) or "",
    )


def _outcome(data: Mapping[str, Any]) -> Outcome:
    from ..git import FileChange, Outcome

    files = [
        FileChange(
            path=str(f["path"]),
            insertions=_int(f.get("insertions")),
            deletions=_int(f.get("deletions")),
        )
        for f in data.get("files") or []
        if isinstance(f, dict) and f.get("path")
    ]
    cleanly = data.get("merges_cleanly")
    return Outcome(
        branch=_str(data.get("branch")) or "",
        base_commit=_str(data.get("base_commit")) or "",
        head_commit=_need(data, "head_commit"),
        committed=bool(data.get("committed")),
        files=files,
        insertions=_int(data.get("insertions")) or 0,
        deletions=_int(data.get("deletions")) or 0,
        target=_str(data.get("target")),
        target_commit=_str(data.get("target_commit")),
        merges_cleanly=cleanly if isinstance(cleanly, bool) else None,
        conflicts=list(_strs(data.get("conflicts"))),
    )


def _merged(data: Mapping[str, Any]) -> Merged:
    return Merged(
        target=_need(data, "target"),
        commit=_str(data.get("commit")),
        strategy=_str(data.get("strategy")) or "merge",
        message=_str(data.get("message")) or "",
        at=_float(data.get("at")),
        landed=bool(data.get("landed")),
        via=_str(data.get("via")),
        landing=_str(data.get("landing")),
        conflicts=_strs(data.get("conflicts")),
    )


def _checkout(data: Mapping[str, Any]) -> Checkout:
    return Checkout(
        repo=_need(data, "repo"),
        commit=_need(data, "commit"),
        subdir=_str(data.get("subdir")) or "",
        of_task=_str(data.get("of_task")) or "",
    )


def _node(data: Mapping[str, Any]) -> Node:
    return Node(
        node_id=_str(data.get("node_id")),
        address=_str(data.get("address")),
        hostname=_str(data.get("hostname")),
        pid=_int(data.get("pid")),
    )


def _ray(data: Mapping[str, Any]) -> RayRecord:
    return RayRecord(
        actor=_str(data.get("actor")) or "",
        events_base=_int(data.get("events_base")) or 0,
        relaunches=_int(data.get("relaunches")) or 0,
    )


def _auto_land(data: Mapping[str, Any]) -> AutoLand:
    return AutoLand(
        target=_str(data.get("target")),
        check=_str(data.get("check")),
        strategy=_str(data.get("strategy")) or "merge",
        on_failure=_str(data.get("on_failure")) or "report",
    )


def _landing_mark(data: Mapping[str, Any]) -> LandingMark:
    return LandingMark(
        state=_need(data, "state"),
        landing_id=_str(data.get("landing_id")),
        commit=_str(data.get("commit")),
        reply=_str(data.get("reply")),
        reason=_str(data.get("reason")),
    )


def _home(data: Mapping[str, Any]) -> HomeTrip:
    request = data.get("request")
    if not isinstance(request, dict):
        raise _Malformed("request is missing")
    return HomeTrip(
        request=_request(request), attempt=_int(data.get("attempt")) or 1, root=_need(data, "root")
    )


_RECORDS: dict[str, Any] = {
    "auto_land": _auto_land,
    "landing": _landing_mark,
    "home": _home,
    "worktree": _worktree,
    "outcome": _outcome,
    "merged": _merged,
    "checkout": _checkout,
    "node": _node,
    "ray": _ray,
}


def _record(data: Mapping[str, Any], key: str) -> Any:
    value = data.get(key)
    if not isinstance(value, dict):
        return None
    try:
        return _RECORDS[key](value)
    except (_Malformed, KeyError, TypeError, ValueError) as exc:
        log.warning("a stored %s record is malformed and is ignored (%s): %r", key, exc, value)
        return None


def extra_from_json(text: str | bytes | None) -> TaskExtra:
    """The record stored as ``text`` (empty or missing: the defaults)."""
    if not text:
        return _EMPTY
    if len(text) <= _REMEMBERED:
        # Records are immutable, so equal texts share one: most rows hold a backend and little
        # else, and a finished task's record rarely changes while lists read it again and again.
        return _remembered(text)
    return _decode(text)


_EMPTY = TaskExtra()
_REMEMBERED = 4096  # characters: longer records (many files) are decoded each time


@functools.lru_cache(maxsize=2048)
def _remembered(text: str | bytes) -> TaskExtra:
    return _decode(text)


def _decode(text: str | bytes) -> TaskExtra:
    try:
        data = json.loads(text)
    except ValueError:
        log.warning("a stored task record is not JSON and is ignored: %r", text[:200])
        return TaskExtra()
    if not isinstance(data, dict):
        return TaskExtra()
    return TaskExtra(
        backend=_str(data.get("backend")) or "local",
        worktree=_record(data, "worktree"),
        outcome=_record(data, "outcome"),
        outcome_error=_str(data.get("outcome_error")),
        commit=_str(data.get("commit")),
        merged=_record(data, "merged"),
        removed_worktree=bool(data.get("removed_worktree")),
        removed_branch=bool(data.get("removed_branch")),
        checkout=_record(data, "checkout"),
        node=_record(data, "node"),
        ray=_record(data, "ray"),
        ray_notes=_strs(data.get("ray_notes")),
        waiting_for=_str(data.get("waiting_for")),
        paths=_strs(data.get("paths")),
        paths_repo=_str(data.get("paths_repo")),
        land_target=_str(data.get("land_target")),
        resolves=_str(data.get("resolves")),
        resolves_paths=_strs(data.get("resolves_paths")),
        resolved_by=_str(data.get("resolved_by")),
        auto_land=_record(data, "auto_land"),
        landing=_record(data, "landing"),
        home=_record(data, "home"),
        unknown={k: v for k, v in data.items() if k not in _KEYS},
    )


# ---- encoding --------------------------------------------------------------------------------


def _worktree_data(wt: Worktree) -> dict[str, Any]:
    # Every key, None included: older versions read them with plain indexing.
    return {
        "path": str(wt.path),
        "branch": wt.branch,
        "repo": str(wt.repo),
        "base_ref": wt.base_ref,
        "base_commit": wt.base_commit,
        "base_branch": wt.base_branch,
        "carried_commit": wt.carried_commit,
        "subdir": wt.subdir,
    }


def _merged_data(merged: Merged) -> dict[str, Any]:
    data: dict[str, Any] = {
        "merged": True,  # older versions' shape (a MergeResult's fields)
        "commit": merged.commit,
        "strategy": merged.strategy,
        "target": merged.target,
        "conflicts": list(merged.conflicts),
        "message": merged.message,
        "at": merged.at,
    }
    if merged.landed:
        data["landed"] = True
    if merged.via:
        data["via"] = merged.via
    if merged.landing:
        data["landing"] = merged.landing
    return data


def extra_to_dict(extra: TaskExtra) -> dict[str, Any]:
    """The record as stored (unset parts left out): also what a face shows as the whole
    stored record of a task."""
    data: dict[str, Any] = dict(extra.unknown)
    data["backend"] = extra.backend
    if extra.worktree is not None:
        data["worktree"] = _worktree_data(extra.worktree)
    if extra.outcome is not None:
        data["outcome"] = as_data(extra.outcome)
    if extra.merged is not None:
        data["merged"] = _merged_data(extra.merged)
    for key in _KEYS:
        if key in data:
            continue
        value = getattr(extra, key)
        if value is None or value is False or value == ():
            continue
        data[key] = as_data(value)
    return data


def extra_to_json(extra: TaskExtra) -> str:
    return json.dumps(extra_to_dict(extra))


# ---- landings --------------------------------------------------------------------------------


def request_to_json(request: LandRequest) -> str:
    return json.dumps(as_data(request))


def request_from_json(text: str) -> LandRequest:
    return _request(json.loads(text))


def _request(data: Mapping[str, Any]) -> LandRequest:
    ids = data.get("task_ids")
    parallel = data.get("check_parallel")
    return LandRequest(
        task_ids=tuple(str(i) for i in ids) if isinstance(ids, list) else None,
        cwd=_str(data.get("cwd")),
        target=_str(data.get("target")),
        strategy=str(data.get("strategy") or "merge"),
        check=_str(data.get("check")),
        check_timeout=float(data.get("check_timeout") or 900.0),
        check_parallel=parallel if isinstance(parallel, int) else None,
        resolve=bool(data.get("resolve")),
        on_failure=_str(data.get("on_failure")) or "report",
        attempts=_int(data.get("attempts")) or 2,
    )


def progress_to_json(progress: LandingProgress) -> str:
    return json.dumps(as_data(progress))


def progress_from_json(text: str | None) -> LandingProgress:
    if not text:
        return LandingProgress()
    try:
        data = json.loads(text)
    except ValueError:
        return LandingProgress()
    return LandingProgress(
        checking=_strs(data.get("checking")),
        decided=_int(data.get("decided")) or 0,
        total=_int(data.get("total")) or 0,
        landed=_strs(data.get("landed")),
        last_line=str(data.get("last_line") or ""),
    )


def report_to_json(report: LandReport) -> str:
    return json.dumps(as_data(report))


def report_from_json(text: str | None) -> LandReport | None:
    if not text:
        return None
    try:
        data = json.loads(text)
        return LandReport(
            landed=tuple(Landed(**item) for item in data.get("landed") or []),
            conflicted=tuple(
                Conflicted(
                    task_id=item["task_id"],
                    paths=tuple(item.get("paths") or ()),
                    colliding_tasks=tuple(item.get("colliding_tasks") or ()),
                )
                for item in data.get("conflicted") or []
            ),
            check_failed=tuple(CheckFailed(**item) for item in data.get("check_failed") or []),
            skipped=tuple(Skipped(**item) for item in data.get("skipped") or []),
            resolving=tuple(Resolving(**item) for item in data.get("resolving") or []),
            target=_str(data.get("target")),
            new_tip=_str(data.get("new_tip")),
            tips={str(k): str(v) for k, v in (data.get("tips") or {}).items()},
            checkout=_str(data.get("checkout")),
            repository=str(data.get("repository") or ""),
            strategy=str(data.get("strategy") or "merge"),
            check=_str(data.get("check")),
            check_seconds=float(data.get("check_seconds") or 0.0),
            check_prepare_seconds=float(data.get("check_prepare_seconds") or 0.0),
            seconds=float(data.get("seconds") or 0.0),
            lines=tuple(str(line) for line in data.get("lines") or ()),
            sent_home=tuple(SentHome(**item) for item in data.get("sent_home") or []),
            check_rounds=_int(data.get("check_rounds")) or 0,
            check_runs=_int(data.get("check_runs")) or 0,
            check_cached=_int(data.get("check_cached")) or 0,
            check_speculative=_int(data.get("check_speculative")) or 0,
            git_seconds=float(data.get("git_seconds") or 0.0),
        )
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("a stored landing report is malformed and is ignored (%s)", exc)
        return None


# ---- the recorded spec -----------------------------------------------------------------------


def task_spec_of(spec: Mapping[str, Any]) -> TaskSpec:
    """What a task was asked to do, from its recorded spec (``{"task": ..., "launch": ...}``;
    the oldest rows hold the task's fields alone). Unknown keys are ignored and missing ones
    take their defaults; the spec was checked when it was recorded."""
    inner = spec.get("task")
    data: Mapping[str, Any] = inner if isinstance(inner, dict) else spec
    review = data.get("review")
    config = data.get("config")
    schema = data.get("output_schema")
    return TaskSpec(
        prompt=_str(data.get("prompt")) or "",
        cwd=_str(data.get("cwd")) or "",
        model=_str(data.get("model")),
        sandbox=_str(data.get("sandbox")),
        approval_policy=_str(data.get("approval_policy")),
        profile=_str(data.get("profile")),
        config=dict(config) if isinstance(config, dict) else {},
        base_instructions=_str(data.get("base_instructions")),
        developer_instructions=_str(data.get("developer_instructions")),
        compact_prompt=_str(data.get("compact_prompt")),
        resume_thread_id=_str(data.get("resume_thread_id")),
        fork_thread_id=_str(data.get("fork_thread_id")),
        review=(
            ReviewTarget(
                base=_str(review.get("base")),
                uncommitted=bool(review.get("uncommitted")),
                custom=bool(review.get("custom")),
            )
            if isinstance(review, dict)
            else None
        ),
        output_schema=dict(schema) if isinstance(schema, dict) else None,
    )
