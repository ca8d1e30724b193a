"""Admission (engine/admission.py): what a new task must pass and what it starts with, from
settings, specs and a temp store made by hand. No Codex, no subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_stubs import THREAD, add_task

from codex_mcp_swarm.codex.command import TaskSpec
from codex_mcp_swarm.engine import admission
from codex_mcp_swarm.engine.errors import Code, TaskError
from codex_mcp_swarm.engine.plan import Limits
from codex_mcp_swarm.engine.store import Store
from codex_mcp_swarm.mcp.words import said as mcp_said
from codex_mcp_swarm.settings import MAX_DEPTH, Settings


def settings_in(tmp_path: Path, **flags: object) -> Settings:
    return Settings.build(task_dir=str(tmp_path / "tasks"), environ={}, **flags)  # type: ignore[arg-type]


def test_the_title_is_the_first_line_that_says_something() -> None:
    assert admission.title_of("\n\n  Fix the flaky test  \nin tests/") == "Fix the flaky test"
    assert admission.title_of("x" * 500) == "x" * 120
    assert admission.title_of("   \n") == ""


def test_a_swarm_nested_too_deep_is_refused() -> None:
    admission.check_depth(MAX_DEPTH - 1)
    with pytest.raises(TaskError) as refused:
        admission.check_depth(MAX_DEPTH)
    assert refused.value.code == Code.NOT_ALLOWED and refused.value.facts["depth"] == MAX_DEPTH


def test_the_working_directory_must_exist_be_absolute_and_inside_the_allowed_roots(
    tmp_path: Path,
) -> None:
    inside, outside = tmp_path / "allowed" / "repo", tmp_path / "elsewhere"
    inside.mkdir(parents=True)
    outside.mkdir()
    settings = settings_in(tmp_path, allowed_roots=[str(tmp_path / "allowed")])
    assert admission.check_cwd(settings, str(inside)) == str(inside.resolve())
    for cwd, says in (
        ("relative/path", "must be an absolute path"),
        (str(tmp_path / "missing"), "does not exist"),
        (str(tmp_path / "allowed" / "file"), "is not a directory"),
        (str(outside), "outside the directories this server allows"),
    ):
        (tmp_path / "allowed" / "file").touch()
        with pytest.raises(TaskError, match=says) as refused:
            admission.check_cwd(settings, cwd)
        assert refused.value.facts["cwd"] == cwd
    link = tmp_path / "allowed" / "link"
    link.symlink_to(outside)  # a way out through a link is still outside
    with pytest.raises(TaskError) as refused:
        admission.check_cwd(settings, str(link))
    assert refused.value.code == Code.NOT_ALLOWED


def test_the_sandbox_ceiling_holds_and_the_sandbox_becomes_explicit(tmp_path: Path) -> None:
    free = settings_in(tmp_path)
    spec = TaskSpec(prompt="p", cwd=str(tmp_path))
    assert admission.apply_ceiling(free, spec) is spec  # no ceiling: nothing changes
    held = settings_in(tmp_path, sandbox_ceiling="workspace-write")
    assert admission.apply_ceiling(held, spec).sandbox == "read-only"  # the default, named
    from_config = TaskSpec(prompt="p", cwd="/", config={"sandbox_mode": "workspace-write"})
    made = admission.apply_ceiling(held, from_config)
    assert made.sandbox == "workspace-write" and "sandbox_mode" not in made.config
    with pytest.raises(TaskError) as refused:
        admission.apply_ceiling(held, TaskSpec(prompt="p", cwd="/", sandbox="danger-full-access"))
    assert refused.value.code == Code.NOT_ALLOWED
    assert refused.value.facts == {"asked": "danger-full-access", "ceiling": "workspace-write"}
    roots = {"sandbox_workspace_write": {"writable_roots": ["/"]}}
    for config in (roots, {"sandbox_workspace_write.writable_roots": ["/"]}):
        with pytest.raises(TaskError, match="writable_roots"):
            admission.apply_ceiling(held, TaskSpec(prompt="p", cwd="/", config=config))
    server_wide = settings_in(
        tmp_path, sandbox_ceiling="read-only", overrides=['sandbox_mode="workspace-write"']
    )
    with pytest.raises(TaskError, match="stronger than this server allows"):
        admission.apply_ceiling(server_wide, spec)


def test_an_admitted_spec_is_checked_resolved_and_refused_in_words(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    spec = admission.admit_spec(settings, TaskSpec(prompt="p", cwd=str(tmp_path / ".")))
    assert spec.cwd == str(tmp_path.resolve())
    with pytest.raises(TaskError, match="prompt must be a non-empty string"):
        admission.admit_spec(settings, TaskSpec(prompt="  ", cwd=str(tmp_path)))
    ephemeral = settings_in(tmp_path, ephemeral=True)
    resume = TaskSpec(prompt="p", cwd=str(tmp_path), resume_thread_id=THREAD)
    with pytest.raises(TaskError, match="ephemeral sessions") as refused:
        admission.admit_spec(ephemeral, resume)
    assert refused.value.code == Code.NOT_ALLOWED
    assert mcp_said(refused.value).startswith("this server runs with --ephemeral: Codex keeps")


def test_limits_are_the_tasks_own_else_its_parents_else_the_servers(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, timeout=600.0, idle_timeout=120.0, retries=2)
    assert admission.resolve_limits(settings, None, None) == Limits(600.0, 120.0, 2)
    store = Store(tmp_path / "tasks")
    add_task(store, "aaaa10")
    parent = store.get("aaaa10")
    assert parent is not None
    own = Limits(timeout=30.0, idle_timeout=0, retries=None)
    # 0 switches the idle timeout off; an unset count is the parent's (it ran with 0 retries)
    assert parent.plan.limits.retries == 0
    assert admission.resolve_limits(settings, own, parent) == Limits(30.0, None, 0)
    assert admission.resolve_limits(settings, own, None) == Limits(30.0, None, 2)


def test_only_the_swarm_servers_the_codex_config_enables_are_named(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[mcp_servers.swarm]\ncommand = "/opt/codex-mcp-swarm/scripts/start"\n\n'
        '[mcp_servers.viauvx]\ncommand = "uvx"\nargs = ["codex-mcp-swarm"]\n\n'
        '[mcp_servers.off]\ncommand = "uvx"\nargs = ["codex_mcp_swarm"]\nenabled = false\n\n'
        '[mcp_servers.other]\ncommand = "npx"\nargs = ["some-server"]\n'
    )
    assert admission.nested_swarm_servers(config) == ["swarm", "viauvx"]
    assert admission.nested_swarm_servers(tmp_path / "missing.toml") == []
    config.write_text("not = [toml")
    assert admission.nested_swarm_servers(config) == []


def test_a_reply_continues_its_thread_with_the_last_tasks_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex-home"))
    settings = settings_in(tmp_path)
    store = Store(tmp_path / "tasks")
    add_task(
        store,
        "aaaa11",
        thread_id=THREAD,
        task={"model": "gpt-5.5", "output_schema": {"type": "object"}},
    )
    with pytest.raises(TaskError) as busy:
        admission.reply_spec(settings, store, THREAD, "and now the docs")
    assert busy.value.code == Code.NOT_YET and busy.value.facts["task_id"] == "aaaa11"
    store.finish("aaaa11", phase="completed", exit_code=0)
    spec, previous = admission.reply_spec(settings, store, THREAD, "and now the docs")
    assert previous is not None and previous.id == "aaaa11"
    assert (spec.prompt, spec.model, spec.cwd) == ("and now the docs", "gpt-5.5", "/work")
    assert spec.resume_thread_id == THREAD and spec.output_schema is None  # not inherited
    with pytest.raises(TaskError, match="is not a UUID"):
        admission.reply_spec(settings, store, "not-a-thread", "p")


def test_a_reply_to_a_thread_this_server_never_ran_reads_its_session_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "codex-home"
    monkeypatch.setenv("CODEX_HOME", str(home))
    settings, store = settings_in(tmp_path), Store(tmp_path / "tasks")
    other = "0199a2b3-c4d5-7e6f-8a9b-0c1d2e3f4a5c"
    with pytest.raises(TaskError) as unknown:
        admission.reply_spec(settings, store, other, "p")
    assert unknown.value.code == Code.UNKNOWN_THREAD
    day = home / "sessions" / "2026" / "12" / "02"
    day.mkdir(parents=True)
    meta = {"type": "session_meta", "payload": {"id": other, "cwd": "/srv/project"}}
    (day / f"rollout-2026-12-02T05-00-00-{other}.jsonl").write_text(json.dumps(meta) + "\n")
    spec, previous = admission.reply_spec(settings, store, other, "go on")
    assert previous is None and spec.cwd == "/srv/project" and spec.resume_thread_id == other


def test_missing_credentials_are_said_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex-home"))
    for name in ("OPENAI_API_KEY", "CODEX_API_KEY", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = settings_in(tmp_path)
    problem = admission.credentials_problem(settings)
    assert problem is not None and problem.code == Code.UNAVAILABLE
    assert "OPENAI_API_KEY" in str(problem)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert admission.credentials_problem(settings) is None
    ray = settings_in(tmp_path, backend="ray")  # Codex runs on the workers: nothing to say
    monkeypatch.delenv("OPENAI_API_KEY")
    assert admission.credentials_problem(ray) is None
