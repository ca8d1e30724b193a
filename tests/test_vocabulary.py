"""One vocabulary: each rule said once in the engine, each face wording it in its own terms."""

from __future__ import annotations

import ast
import dataclasses
import re
import string
from pathlib import Path
from typing import Any

import pytest

import codex_mcp_swarm
from codex_mcp_swarm import cli
from codex_mcp_swarm.codex.shell import command_text
from codex_mcp_swarm.console.table import now_text
from codex_mcp_swarm.console.words import CONSOLE_WORDS
from codex_mcp_swarm.console.words import said as console_said
from codex_mcp_swarm.engine.doing import STATES, Doing, doing
from codex_mcp_swarm.engine.errors import ENGINE_WORDS, Code, TaskError, Term
from codex_mcp_swarm.engine.requests import worktree_request
from codex_mcp_swarm.engine.views import Reconnecting, StatusView, ToolView, UsageView
from codex_mcp_swarm.mcp import render
from codex_mcp_swarm.mcp.words import MCP_WORDS
from codex_mcp_swarm.mcp.words import said as mcp_said
from codex_mcp_swarm.web.words import BOARD_WORDS
from codex_mcp_swarm.web.words import said as board_said


def view(status: str, **facts: Any) -> StatusView:
    empty: dict[str, Any] = dict(
        thread_id=None, title="", elapsed_s=0.0, tool_calls=0, last_tool=None, reasoning=None
    )
    empty.update(message=None, todo=None, usage=UsageView(), warnings=())
    return StatusView(task_id="abcd11112222", status=status, cwd="/w", **{**empty, **facts})


TOOL = ToolView(
    kind="command", summary="/bin/bash -lc 'pytest -q'", status="in_progress", exit_code=None
)


def test_doing_says_every_state_once_for_every_face() -> None:
    cases = [
        (view("queued", queue_position=3), "queued (#3 in the queue)"),
        (view("queued"), "queued"),
        (view("starting", waiting_for="a free codex slot"), "waiting for a free codex slot"),
        (view("starting"), "starting Codex"),
        (view("running", cancel_requested=True, last_tool=TOOL), "cancelling"),
        (
            view(
                "running", last_tool=TOOL, reconnecting=Reconnecting(reason="timed out", attempt=2)
            ),
            "reconnecting to the model: timed out, attempt 2",
        ),
        (view("running", last_tool=TOOL, todo="1/3"), "running $ pytest -q · plan 1/3 done"),
        (
            view(
                "running",
                last_tool=dataclasses.replace(TOOL, status="completed"),
                reasoning="Hmm\nmore",
            ),
            "thinking: Hmm",
        ),
        (view("running", message="  I will\tlook  "), "said: I will look"),
        (view("running"), "running"),
        (view("failed", error="\nboom\nstack"), "boom"),
        (view("completed", message="All done.\nDetails"), "done: All done."),
        (view("cancelled"), "cancelled"),
    ]
    for facts, said in cases:
        assert doing(facts).text() == said, facts
        # The MCP progress line and the console say the same thing.
        assert render.doing(facts) == said
        assert now_text(facts) == said
    assert {doing(facts).state for facts, _ in cases} == set(STATES)
    long = doing(view("running", reasoning="x" * 200))
    assert long.text(limit=10) == "thinking: " + "x" * 9 + "…"
    assert Doing("tool", "update a.py").text() == "running update a.py"


def test_file_changes_read_relative_to_the_task_directory() -> None:
    change = ToolView(
        kind="file_change", summary="update /w/src/a.py", status="in_progress", exit_code=None
    )
    assert doing(view("running", last_tool=change)).text() == "running update src/a.py"
    search = ToolView(kind="web_search", summary="rich  live", status="in_progress", exit_code=None)
    assert doing(view("running", last_tool=search)).text() == "running search: rich live"


def test_one_command_text_takes_every_shell_wrapper_off() -> None:
    assert command_text("/bin/bash -lc 'pytest -q tests'") == "pytest -q tests"
    assert command_text("/usr/bin/zsh -lc 'ls -la'") == "ls -la"
    assert command_text("bash -lc \"echo 'hi'\"") == "echo 'hi'"
    assert command_text(["/bin/bash", "-lc", "echo 'a b'"]) == "echo 'a b'"
    assert command_text(["git", "status"]) == "git status"
    assert command_text("bash -lc 'unclosed") == "bash -lc 'unclosed"
    assert command_text("bash -lc echo two") == "bash -lc echo two"  # not one shell word
    assert command_text(None) == ""


# ---- errors: codes and facts in the engine, words in each face -------------------------------

SRC = Path(codex_mcp_swarm.__file__).parent
ENGINE_ERRORS = {"EngineError", "TaskError", "BackendError", "StoreError", "ForkServerError"}


def _engine_sources() -> list[Path]:
    return sorted((SRC / "engine").rglob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are docstrings (a module's, a class's, a function's)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and (doc := ast.get_docstring(node, clean=False)) is not None
        ):
            first = node.body[0]
            assert isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            assert first.value.value == doc
            found.add(id(first.value))
    return found


def _strings(path: Path) -> list[str]:
    """Every string the code of ``path`` holds (f-strings' literal parts too), no docstrings."""
    tree = ast.parse(path.read_text())
    skip = _docstrings(tree)
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


def _tool_names() -> set[str]:
    names: set[str] = set()
    for path in (SRC / "mcp").glob("*.py"):
        names |= set(re.findall(r'name="(codex_[a-z_]+)"', path.read_text()))
    assert {"codex_reply", "codex_list", "codex_wait", "codex_async"} <= names
    return names


def _server_flags() -> set[str]:
    """The server's settings flags (``--ephemeral``), which every command takes."""
    flags = {name for flag in cli._SETTINGS_FLAGS for name in flag.names if name.startswith("--")}
    assert {"--ephemeral", "--backend", "--codex-bin", "--ray-address", "--git-remote"} <= flags
    return flags


def _command_flags() -> set[str]:
    """The console's own flags (the commands' own, not the server's settings flags)."""
    server = {name for flag in cli._SETTINGS_FLAGS for name in flag.names}
    flags: set[str] = set()
    for command in cli.COMMANDS:
        if command == "serve":
            continue
        for action in cli._command_parser(command)._actions:
            flags |= {o for o in action.option_strings if o.startswith("--")}
    flags -= server | {"--help", "--json"}
    assert {"--worktree", "--base-ref", "--check", "--count", "--target"} <= flags
    return flags


def _sql(text: str) -> bool:
    return bool(re.search(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|WHERE)\b", text))


def test_no_engine_string_names_a_tool_an_argument_or_a_command() -> None:
    forbidden = [re.compile(rf"\b{name}\b") for name in _tool_names()]
    forbidden += [re.compile(re.escape(f"codex-mcp-swarm {c}") + r"\b") for c in cli.COMMANDS]
    flags = _command_flags() | _server_flags()
    forbidden += [re.compile(re.escape(flag) + r"(?![\w-])") for flag in flags]
    # The MCP face's argument spellings that are not plain words (worktree: true, threadId).
    spelt = [w for w in MCP_WORDS.values() if re.fullmatch(r"(with )?\w+(: true)?", w)]
    arguments = [w.removeprefix("with ") for w in spelt if "_" in w or ":" in w or w != w.lower()]
    assert {"worktree: true", "threadId", "base_ref", "task_id"} <= set(arguments)
    forbidden += [re.compile(rf"(?<![\w{{]){re.escape(a)}(?![\w}}])") for a in arguments]
    found = []
    for path in [*_engine_sources(), *sorted((SRC / "git").glob("*.py"))]:
        for text in _strings(path):
            if " " not in text or _sql(text) or text.startswith("usage: runner "):
                continue  # a key, a name, a query or the runner's usage: no words for a person
            # Another program's command line (`ray start --head --port PORT`) is its own.
            text = re.sub(r"`(?!codex-mcp-swarm|codex_)[^`]*`", "`...`", text)
            for pattern in forbidden:
                if pattern.search(text):
                    found.append(f"{path.relative_to(SRC)}: {pattern.pattern!r} in {text!r}")
    assert not found, "\n".join(found)


def _template(node: ast.expr, constants: dict[str, str]) -> str | None:
    """The template an error is built with: a literal, a sum of literals, or a module constant
    (``None`` when it is built at run time, as _check_text does with the argument's term)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _template(node.left, constants), _template(node.right, constants)
        return left + right if left is not None and right is not None else None
    assert not isinstance(node, ast.JoinedStr), "an f-string is no template: pass the facts"
    return None


def test_every_engine_error_is_a_template_of_its_facts_and_terms() -> None:
    checked = 0
    for path in _engine_sources():
        tree = ast.parse(path.read_text())
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in ENGINE_ERRORS:
                continue
            where = f"{path.relative_to(SRC)}:{node.lineno}"
            template = _template(node.args[0], constants)
            if template is None:
                continue
            facts = {k.arg for k in node.keywords if k.arg is not None} - {"code"}
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
            names = {re.split(r"[.\[!:]", f)[0] for f in fields}
            assert names <= facts | set(Term.__members__), (where, names - facts)
            checked += 1
    assert checked > 50


def test_each_face_spells_every_term_and_a_spelling_may_use_the_facts() -> None:
    for words in (ENGINE_WORDS, MCP_WORDS, CONSOLE_WORDS, BOARD_WORDS):
        assert set(words) == set(Term)
    error = TaskError("Start {LAUNCH} {WORKTREE_FROM} instead.", code=Code.GONE, branch="b1")
    assert str(error) == "Start a new task in a worktree made from its branch 'b1' instead."
    assert mcp_said(error) == (
        "Start a new task (codex or codex_async) with worktree: true and base_ref 'b1' instead."
    )
    assert console_said(error) == (
        "Start a new task (`codex-mcp-swarm run`) with --worktree --base-ref b1 instead."
    )
    assert error.code is Code.GONE and error.facts == {"branch": "b1"}
    # Facts are data, never templates: braces in them stay as they are.
    odd = TaskError("{LIST} has no {name!r}", code=Code.UNKNOWN_TASK, name="{x}")
    assert board_said(odd) == "the task list has no '{x}'"
    # An error carried inside another is spelt with the same words.
    outer = TaskError("started 1 of 2 ({reason})", code=Code.PARTIAL, reason=odd)
    assert mcp_said(outer) == "started 1 of 2 (codex_list has no '{x}')"
    assert console_said(ValueError("plain")) == "plain"


def test_mcp_and_the_console_word_the_same_refusal_each_its_own_way() -> None:
    with pytest.raises(TaskError) as refused:
        worktree_request(False, "main", False)
    error = refused.value
    assert error.code is Code.INVALID
    assert mcp_said(error) == "base_ref and include_uncommitted only apply with worktree: true"
    assert console_said(error) == (
        "--base-ref and --include-uncommitted only apply with --worktree"
    )
    assert str(error) == (
        "base ref and carrying uncommitted changes only apply in a worktree of its own"
    )
    unknown = TaskError(
        "unknown task id {task_id!r}; {LIST} shows the known tasks",
        code=Code.UNKNOWN_TASK,
        task_id="abcdef123456",
    )
    assert mcp_said(unknown).endswith("; codex_list shows the known tasks")
    assert console_said(unknown).endswith("; `codex-mcp-swarm tasks` shows the known tasks")
    assert board_said(unknown).endswith("; the task list shows the known tasks")


def test_uncommitted_changes_come_only_from_head_in_each_face_s_words() -> None:
    assert worktree_request(True, "HEAD", True) is not None
    with pytest.raises(TaskError) as refused:
        worktree_request(True, "main", True)
    assert mcp_said(refused.value) == (
        "include_uncommitted carries the changes of the checkout on top of its HEAD, so it only "
        "works from there: leave out base_ref (got 'main') or drop include_uncommitted"
    )
    assert "leave out --base-ref (got 'main')" in console_said(refused.value)


def test_every_engine_error_derives_from_the_one_root() -> None:
    from codex_mcp_swarm.engine.backends.base import BackendError
    from codex_mcp_swarm.engine.errors import EngineError
    from codex_mcp_swarm.engine.forkserver import ForkServerError
    from codex_mcp_swarm.engine.store import StoreError

    for kind in (TaskError, BackendError, StoreError, ForkServerError):
        assert issubclass(kind, EngineError)
    gone = StoreError("invalid task id {task_id!r}", code=Code.INVALID, task_id="{x}")
    assert isinstance(gone, RuntimeError) and str(gone) == "invalid task id '{x}'"
    assert gone.facts == {"task_id": "{x}"}


def test_every_face_words_engine_errors_through_its_own_words() -> None:
    """A face that catches an engine error shows it through ``said`` (its spelling), never as
    ``str(exc)``, an f-string of it or a patched sentence (``str(exc).replace(...)``)."""
    caught = ENGINE_ERRORS - {"ForkServerError"}
    found = []
    for face in ("mcp", "console", "web"):
        for path in sorted((SRC / face).glob("*.py")):
            for handler in ast.walk(ast.parse(path.read_text())):
                if not isinstance(handler, ast.ExceptHandler) or handler.name is None:
                    continue
                types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                if not any(getattr(t, "id", getattr(t, "attr", None)) in caught for t in types):
                    continue
                for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
                    plain = (
                        isinstance(node, ast.Call) and getattr(node.func, "id", None) == "str"
                    ) or isinstance(node, ast.FormattedValue)
                    args = (
                        node.args if isinstance(node, ast.Call) else [getattr(node, "value", None)]
                    )
                    if plain and any(getattr(a, "id", None) == handler.name for a in args):
                        found.append(f"{path.relative_to(SRC)}:{handler.lineno}")
    assert not found, found


def test_no_module_but_phases_spells_out_a_group_of_phases() -> None:
    """Every layer asks engine.phases (ACTIVE, TERMINAL, SUPERVISED, FAILED, is_terminal)."""
    from codex_mcp_swarm.engine.phases import FAILED, PHASES, SUPERVISED, TERMINAL

    assert FAILED < TERMINAL and set(PHASES) >= SUPERVISED
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "phases.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 2:
                words = [e.value for e in node.elts if isinstance(e, ast.Constant)]
                if len(words) == len(node.elts) and set(words) <= set(PHASES):
                    found.append(f"{path.relative_to(SRC)}:{node.lineno} {words}")
    assert not found, found


def test_an_engine_error_survives_a_trip_to_another_process() -> None:
    import pickle

    from codex_mcp_swarm.engine.forkserver import ForkServerError

    error = TaskError("unknown {THREAD_ID} {thread_id}", code=Code.UNKNOWN_THREAD, thread_id="{a}")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is TaskError and str(back) == str(error) == "unknown thread id {a}"
    assert (back.code, back.facts, mcp_said(back)) == (
        Code.UNKNOWN_THREAD,
        {"thread_id": "{a}"},
        "unknown threadId {a}",
    )
    failed = pickle.loads(pickle.dumps(ForkServerError("{reason}", maybe_started=True, reason="x")))
    assert failed.maybe_started and str(failed) == "x"
