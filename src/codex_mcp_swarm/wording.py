"""Short wording of task facts that every face shares (MCP answers, the console).

Owns: how a duration, a token count, a Ray worker node, a worktree task's merge outlook and a
cleanup read.
Must not: know any face (no MCP tool names, no terminal styles) or read the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine.records import CleanupReport
    from .engine.views import NodeView, UsageView, WorktreeView


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def node_text(node: NodeView) -> str:
    """A Ray worker node in a few characters: host, address and a short node id."""
    parts = [node.hostname or "?"]
    if node.address:
        parts.append(node.address)
    if node.node_id:
        parts.append(node.node_id[:8])
    return " ".join(parts)


def tokens(usage: UsageView) -> str:
    """The tokens of a task's own turn: ``5000 in (1200 cached), 830 out`` (empty: none yet)."""
    turn = usage.turn or {}
    if not turn:
        return ""
    text = f"{turn.get('input_tokens', 0)} in"
    if turn.get("cached_input_tokens"):
        text += f" ({turn['cached_input_tokens']} cached)"
    text += f", {turn.get('output_tokens', 0)} out"
    return text


def worktree_outlook(wt: WorktreeView) -> list[str]:
    """Merged, merges cleanly, or conflicts; and any problem with the worktree."""
    lines = []
    if wt.merged is not None:
        lines.append(f"merged into {wt.merged.target} ({wt.merged.strategy})")
    elif wt.merges_cleanly is True:
        lines.append(f"merges cleanly into {wt.base_branch}")
    elif wt.merges_cleanly is False:
        lines.append(f"CONFLICTS with {wt.base_branch}: {', '.join(wt.conflicts)}")
    if wt.error:
        lines.append(wt.error)
    if wt.removed_worktree:
        lines.append("worktree removed" + (", branch deleted" if wt.removed_branch else ""))
    return lines


def cleanup_line(item: CleanupReport) -> str:
    """One cleaned-up task: what was removed, what was kept and why, what was lost."""
    done = []
    if item.removed_worktree:
        done.append("worktree removed")
    if item.deleted_branch:
        done.append(f"branch {item.branch} deleted")
    line = f"{item.task_id}: " + (", ".join(done) or "nothing removed")
    if item.kept_reason:
        line += f"; kept: {item.kept_reason}"
    if item.lost_commits:
        line += "; LOST commits: " + "; ".join(item.lost_commits)
    return line
