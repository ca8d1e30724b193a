"""The command line's own logic, without Codex: dispatch, filters, table, event lines, doctor."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codex_mcp_swarm import cli
from codex_mcp_swarm.codex.events import parse_line
from codex_mcp_swarm.console import doctor
from codex_mcp_swarm.console.common import clean, command_text, parse_statuses, short_number
from codex_mcp_swarm.console.follow import event_line
from codex_mcp_swarm.console.table import summary_line, task_line, task_table
from codex_mcp_swarm.engine.records import TaskExtra
from codex_mcp_swarm.engine.store import Store
from codex_mcp_swarm.git import Worktree
from codex_mcp_swarm.settings import Settings

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]


def test_the_tested_codex_version_is_the_pinned_one() -> None:
    assert (REPO / ".codex-version").read_text().strip() == doctor.TESTED_CODEX_VERSION


@pytest.mark.parametrize(
    ("argv", "command", "rest"),
    [
        ([], None, []),
        (["-c", "model=o3"], None, ["-c", "model=o3"]),
        (["serve", "-c", "x=y"], None, ["serve", "-c", "x=y"]),
        (["-c", "x=y", "serve"], None, ["-c", "x=y", "serve"]),
        (["tasks", "--json"], "tasks", ["--json"]),
        (["--task-dir", "/t", "tasks"], "tasks", ["--task-dir", "/t"]),
        (["-c", "tasks", "watch"], "watch", ["-c", "tasks"]),  # a flag's value is not a command
        (["--skip-git-repo-check", "run", "a", "b"], "run", ["--skip-git-repo-check", "a", "b"]),
        (["run", "--", "show"], "run", ["--", "show"]),
        (["--", "tasks"], None, ["--", "tasks"]),
    ],
)
def test_the_command_is_found_before_or_after_the_server_flags(
    argv: list[str], command: str | None, rest: list[str]
) -> None:
    assert cli.split_command(argv) == (command, rest)


def test_no_command_still_means_serve_with_the_same_flags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = cli._parser().parse_args(["-c", "model=o3", "--max-parallel", "3"])
    assert args.command == "serve" and args.overrides == ["model=o3"] and args.max_parallel == 3
    assert cli.main(["-c", "no-equals-sign"]) == 2  # checked before serving, as before
    assert "expected key=value" in capsys.readouterr().err
    assert cli.main(["serve", "--max-parallel", "0"]) == 2


def test_bad_console_flags_are_one_sentence_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["tasks", "--task-dir", str(tmp_path), "--status", "sleeping"]) == 2
    assert "--status 'sleeping' is not one of" in capsys.readouterr().err
    assert cli.main(["tasks", "--task-dir", str(tmp_path), "--repo", str(tmp_path / "no")]) == 2
    assert "is not an existing directory" in capsys.readouterr().err
    assert cli.main(["run", "--base-ref", "main", "x", "--task-dir", str(tmp_path)]) == 2
    assert "only apply with --worktree" in capsys.readouterr().err


def test_server_flags_given_to_doctor_are_repeated_in_client_config() -> None:
    parser = cli._command_parser("doctor")
    args = parser.parse_args(
        ["-c", "model=o3", "-c", "x=1", "--task-dir", "/t", "--skip-git-repo-check", "--json"]
    )
    assert cli.settings_argv(args) == [
        "-c",
        "model=o3",
        "-c",
        "x=1",
        "--skip-git-repo-check",
        "--task-dir",
        "/t",
    ]


def test_status_words() -> None:
    assert parse_statuses([]) is None
    assert parse_statuses(["active"]) == frozenset({"queued", "starting", "running"})
    assert parse_statuses(["failed,lost", "completed"]) == frozenset(
        {"failed", "lost", "completed"}
    )


def test_text_from_models_and_commands_is_made_safe_and_short() -> None:
    assert clean("a\x1b]0;evil\x07b\n  c") == "a\ufffd]0;evil\ufffdb c"
    assert clean("x" * 20, 10) == "x" * 9 + "…"
    assert "\n" in clean("one\ntwo", one_line=False)
    assert command_text("/bin/bash -lc 'pytest -q tests'") == "pytest -q tests"
    assert command_text("bash -lc \"echo 'hi'\"") == "echo 'hi'"
    assert command_text("git status") == "git status"
    assert [short_number(n) for n in (950, 5120, 12_400, 1_250_000)] == [
        "950",
        "5.1k",
        "12k",
        "1.2M",
    ]


def _line(event: dict[str, object]) -> str:
    parsed = parse_line(json.dumps(event))
    assert parsed is not None
    text = event_line(parsed)
    return "" if text is None else text.plain


def test_each_codex_event_reads_as_one_line() -> None:
    command = {"id": "1", "type": "command_execution", "command": "/bin/bash -lc 'make test'"}
    assert _line({"type": "thread.started", "thread_id": "abc"}) == "thread abc started"
    assert _line({"type": "item.started", "item": {**command, "status": "in_progress"}}) == (
        "$ make test"
    )
    done = {**command, "status": "failed", "exit_code": 2}
    assert _line({"type": "item.completed", "item": done}) == "$ make test -> exit 2"
    change = {"type": "file_change", "changes": [{"kind": "update", "path": "a.py"}]}
    assert _line({"type": "item.completed", "item": {**change, "status": "completed"}}) == (
        "edit: update a.py"
    )
    message = {"type": "agent_message", "text": "Done.\nDetails follow.\nMore."}
    assert _line({"type": "item.completed", "item": message}) == ("message: Done. (+2 more lines)")
    todo = {"type": "todo_list", "items": [{"text": "a", "completed": True}, {"text": "b"}]}
    assert _line({"type": "item.updated", "item": todo}) == "plan: 1/2 done; next: b"
    usage = {"input_tokens": 10, "output_tokens": 2}
    assert _line({"type": "turn.completed", "usage": usage}) == (
        "turn completed (10 tokens in, 2 out)"
    )
    assert _line({"type": "turn.failed", "error": {"message": "quota"}}) == "turn failed: quota"
    reconnect = "Reconnecting... waiting for network (Connection failed: error sending request)"
    assert _line({"type": "error", "message": reconnect}) == (
        "reconnecting to the model: Connection failed: error sending request"
    )
    assert _line({"type": "error", "message": "boom"}) == "error: boom"
    assert _line({"type": "item.updated", "item": {**command, "status": "in_progress"}}) == ""
    assert event_line(parse_line("not json")) is not None  # type: ignore[arg-type]


def _store_with_tasks(tmp_path: Path) -> tuple[Store, dict[str, str]]:
    store = Store(tmp_path / "tasks")
    here, there = tmp_path / "here", tmp_path / "there"
    made = {}
    worktree = Worktree(
        path=tmp_path / "worktrees" / "x",
        branch="cs/b",
        repo=there,
        base_ref="HEAD",
        base_commit="0" * 40,
        base_branch=None,
        carried_commit=None,
        subdir="",
    )
    for name, cwd, extra in (
        ("a", here / "sub", TaskExtra()),
        ("b", tmp_path / "worktrees" / "x", TaskExtra(worktree=worktree)),
        ("c", tmp_path / "elsewhere", TaskExtra()),
    ):
        task_id = f"task{name}00000001"
        store.create(
            task_id,
            spec={},
            cwd=str(cwd),
            title=f"Prompt {name}\nsecond line",
            owner="test",
            extra=extra,
        )
        made[name] = task_id
    store.claim_queued(2)  # a and b start
    store.set_running(made["b"], os.getpid(), time.time())
    progress = {
        "tool_calls": 3,
        "last_tool": {"kind": "command", "summary": "bash -lc 'pytest -q'", "status": "failed"},
        "message": "Tests fail.",
        "usage": {"input_tokens": 5120, "output_tokens": 830},
    }
    store.set_progress(made["a"], progress)
    store.finish(made["a"], phase="failed", error="the model gave up", progress=progress)
    return store, made


def test_tasks_lists_newest_first_and_filters_by_status_and_repo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for every column, wherever it runs
    _store, ids = _store_with_tasks(tmp_path)
    base = ["tasks", "--task-dir", str(tmp_path / "tasks")]
    assert cli.main(base) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "ID" in lines[0] and "LAST ACTION" in lines[0] and "PROMPT" in lines[0]
    order = [next(i for i, line in enumerate(lines) if ids[n] in line) for n in "cba"]
    assert order == sorted(order), "newest first"
    failed = next(line for line in lines if ids["a"] in line)
    assert "failed" in failed and "$ pytest -q" in failed and "5.1k in · 830 out" in failed
    assert "Prompt a" in failed and "second line" not in out
    assert "1 running · 1 queued · 0 done · 1 failed" in out

    assert cli.main([*base, "--status", "failed"]) == 0
    out = capsys.readouterr().out
    assert ids["a"] in out and ids["b"] not in out and ids["c"] not in out
    (tmp_path / "there").mkdir()
    assert cli.main([*base, "--repo", str(tmp_path / "there"), "--json"]) == 0
    assert [v["task_id"] for v in json.loads(capsys.readouterr().out)] == [ids["b"]]
    (tmp_path / "here").mkdir(exist_ok=True)
    assert cli.main([*base, "--repo", str(tmp_path / "here"), "--json"]) == 0
    assert [v["task_id"] for v in json.loads(capsys.readouterr().out)] == [ids["a"]]
    assert cli.main([*base, "--limit", "1"]) == 0
    assert "2 older task(s) not shown" in capsys.readouterr().out


def test_reading_commands_do_not_create_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing-here"
    assert cli.main(["tasks", "--task-dir", str(missing)]) == 0
    assert "No tasks in" in capsys.readouterr().out
    assert cli.main(["show", "abcdef123456", "--task-dir", str(missing)]) == 1
    assert "unknown task id" in capsys.readouterr().err
    assert cli.main(["cancel", "abcdef123456", "--task-dir", str(missing)]) == 1
    assert not missing.exists()


def test_columns_give_way_on_narrow_terminals_and_the_board_has_a_now_line(
    tmp_path: Path,
) -> None:
    store, _ids = _store_with_tasks(tmp_path)
    views = [task_line(store, row) for row in store.list()]

    def headers(width: int, live: bool) -> list[str]:
        return [str(c.header) for c in task_table(views, width, live=live).columns]

    assert headers(200, False) == [
        "ID",
        "PHASE",
        "ELAPSED",
        "TOOLS",
        "LAST ACTION",
        "TOKENS",
        "BRANCH",
        "PROMPT",
    ]
    assert headers(60, False) == ["ID", "PHASE", "ELAPSED", "PROMPT"]
    assert "LAST ACTION" not in headers(150, True)
    running = next(v for v in views if v.view.status == "running")
    assert running.doing == "running"
    queued = next(v for v in views if v.view.status == "queued")
    assert queued.doing == "queued (#1 in the queue)"
    assert summary_line(views).plain.startswith("1 running · 1 queued · 0 done · 1 failed")


def _settings(tmp_path: Path, **kwargs: object) -> Settings:
    return Settings.build(task_dir=str(tmp_path / "tasks"), environ={}, **kwargs)  # type: ignore[arg-type]


def test_doctor_login_sources_and_their_fixes(tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    home.mkdir()
    settings = _settings(tmp_path)
    env = {"CODEX_HOME": str(home)}
    missing = doctor.check_login(settings, env)
    assert missing.status == doctor.FAIL and "codex login" in str(missing.fix)
    assert doctor.check_login(settings, {**env, "OPENAI_API_KEY": "sk-secret"}).status == "ok"
    assert "sk-secret" not in repr(
        doctor.check_login(settings, {**env, "OPENAI_API_KEY": "sk-secret"})
    )
    (home / "auth.json").write_text('{"tokens": "secret"}')
    found = doctor.check_login(settings, env)
    assert found.status == "ok" and "secret" not in found.detail
    (home / "config.toml").write_text(
        'model_provider = "corp"\n[model_providers.corp]\nenv_key = "CORP_KEY"\n'
    )
    needs = doctor.check_login(settings, env)
    assert needs.status == doctor.FAIL and needs.fix == (
        "Set CORP_KEY in the environment your MCP client starts the server with."
    )
    assert doctor.check_login(settings, {**env, "CORP_KEY": "k"}).status == "ok"
    other = _settings(tmp_path, overrides=["model_provider=openai"])
    assert doctor.check_login(other, env).status == "ok"  # auth.json serves the openai provider
    (home / "config.toml").write_text("model = [broken")
    assert "cannot be read as TOML" in doctor.check_login(settings, env).detail


def test_doctor_names_a_config_value_the_pinned_codex_refuses(tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    home.mkdir()
    env = {"CODEX_HOME": str(home)}
    assert doctor.check_codex_config(env).status == "ok"
    (home / "config.toml").write_text(
        'approval_policy = "untrusted"\n[profiles.fast]\napproval_policy = "untrusted"\n'
    )
    found = doctor.check_codex_config(env)
    assert found.status == doctor.FAIL
    assert 'approval_policy = "untrusted"; profiles.fast.approval_policy' in found.detail
    assert 'use "on-request"' in str(found.fix)


def test_doctor_task_dir_problems(tmp_path: Path) -> None:
    fresh = doctor.check_task_dir(_settings(tmp_path))
    assert fresh.status == "ok" and "does not exist yet" in fresh.detail
    (tmp_path / "tasks").mkdir(mode=0o755)
    os.chmod(tmp_path / "tasks", 0o755)
    shared = doctor.check_task_dir(_settings(tmp_path))
    assert shared.status == doctor.FAIL and shared.fix == f"Run `chmod 700 {tmp_path / 'tasks'}`."
    os.chmod(tmp_path / "tasks", 0o700)
    assert doctor.check_task_dir(_settings(tmp_path)).status == "ok"
    blocker = tmp_path / "file"
    blocker.write_text("")
    under_file = Settings.build(task_dir=str(blocker / "tasks"), environ={})
    assert doctor.check_task_dir(under_file).status == doctor.FAIL
    assert "--task-dir" in str(doctor.check_task_dir(under_file).fix)


def test_client_config_is_valid_json_toml_and_shell() -> None:
    env = {"CODEX_SWARM_TASK_DIR": "/t d", "CODEX_SWARM_DEPTH": "1", "OPENAI_API_KEY": "sk"}
    config = doctor.client_config(["-c", 'model="o3"'], env)
    toml = tomllib.loads(config["codex_toml"])["mcp_servers"]["codex-swarm"]
    assert toml["args"][-2:] == ["-c", 'model="o3"'] and toml["tool_timeout_sec"] == 1800
    assert toml["env"] == {"CODEX_SWARM_TASK_DIR": "/t d"}  # no internal vars, no secrets
    server = config["claude_code_json"]["mcpServers"]["codex-swarm"]
    assert [server["command"], *server["args"]] == [toml["command"], *toml["args"]]
    words = shlex.split(config["claude_code_command"])
    assert words[:4] == ["claude", "mcp", "add", "codex-swarm"]
    assert words[words.index("--") + 1 :] == [toml["command"], *toml["args"]]
    assert "OPENAI_API_KEY" not in json.dumps(config)


def test_doctor_reports_active_tasks_whose_runner_is_gone(tmp_path: Path) -> None:
    store = Store(tmp_path / "tasks")
    store.create("deadbeef0001", spec={}, cwd=str(tmp_path), title="t", owner="x")
    store.claim_queued(1)
    store.set_runner("deadbeef0001", 2**22 + 12345, time.time() - 100)  # no such process
    checks = doctor.check_processes(_settings(tmp_path))
    assert [c.status for c in checks] == [doctor.FAIL]
    assert checks[0].fix == (
        "Run `codex-mcp-swarm cancel deadbeef0001`: it records the task as lost and stops "
        "whatever it left running."
    )


def _readme_codex_block() -> dict[str, Any]:
    import re

    readme = (REPO / "README.md").read_text()
    block = next(
        b for b in re.findall(r"```toml\n(.*?)```", readme, re.DOTALL) if "mcp_servers" in b
    )
    return dict(tomllib.loads(block)["mcp_servers"]["codex-swarm"])


def test_doctor_prints_the_codex_block_the_readme_and_the_e2e_test_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(doctor.ENV_ENTRY, str(REPO / "scripts" / "start"))  # as scripts/start does
    printed = tomllib.loads(doctor.client_config(["-c", "model=gpt-5.5"], {})["codex_toml"])
    entry = printed["mcp_servers"]["codex-swarm"]
    readme = _readme_codex_block()
    readme["command"] = readme["command"].replace("/path/to/codex-mcp-swarm", str(REPO))
    assert entry == readme
    assert doctor.client_block_problems(entry) == []


def test_doctor_warns_about_a_codex_block_that_lacks_what_it_needs(tmp_path: Path) -> None:
    env = {"CODEX_HOME": str(tmp_path)}
    assert doctor.check_codex_client(env).status == doctor.OK  # no config at all
    (tmp_path / "config.toml").write_text(
        '[mcp_servers.swarm]\ncommand = "uvx"\n'
        'args = ["--from", "/src/codex-mcp-swarm", "codex-mcp-swarm"]\ntool_timeout_sec = 1800\n'
    )
    old = doctor.check_codex_client(env)
    assert old.status == doctor.WARN
    assert "default_tools_approval_mode" in old.detail and "required = true" in old.detail
    assert "[mcp_servers.swarm]" in old.detail
    (tmp_path / "config.toml").write_text(
        '[mcp_servers.codex-swarm]\ncommand = "/x/scripts/start"\nrequired = true\n'
        "tool_timeout_sec = 1800\n"
        + "".join(
            f'[mcp_servers.codex-swarm.tools.{t}]\napproval_mode = "approve"\n'
            for t in doctor.APPROVAL_TOOLS
        )
    )
    assert doctor.check_codex_client(env).status == doctor.OK  # per-tool approval works too
    (tmp_path / "config.toml").write_text('[mcp_servers.other]\ncommand = "npx"\n')
    assert doctor.check_codex_client(env).status == doctor.OK


def test_worktrees_default_to_beside_the_task_dir(tmp_path: Path) -> None:
    given = Settings.build(task_dir=str(tmp_path / "state" / "tasks"), environ={})
    assert given.worktree_dir == (tmp_path / "state" / "worktrees").resolve()
    from_env = Settings.build(environ={"CODEX_SWARM_TASK_DIR": str(tmp_path / "t" / "tasks")})
    assert from_env.worktree_dir == (tmp_path / "t" / "worktrees").resolve()
    default = Settings.build(environ={"XDG_STATE_HOME": str(tmp_path / "xdg")})
    assert default.worktree_dir == default.task_dir.parent / "worktrees"
    explicit = Settings.build(
        task_dir=str(tmp_path / "tasks"), environ={"CODEX_SWARM_WORKTREE_DIR": str(tmp_path / "w")}
    )
    assert explicit.worktree_dir == (tmp_path / "w").resolve()


@pytest.mark.e2e  # the watch command as a process
def test_piped_watch_prints_the_current_table_once_then_changes(tmp_path: Path) -> None:
    import signal
    import subprocess

    store, made = _store_with_tasks(tmp_path)
    store.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "codex_mcp_swarm", "watch", "--task-dir", str(tmp_path / "tasks")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert proc.stdout is not None and proc.stderr is not None

    def read_until(done: Callable[[str], bool]) -> str:
        text = ""
        while not done(text) and (line := proc.stdout.readline()):  # type: ignore[union-attr]
            text += line
        return text

    # Each step waits for what watch printed, not for a guessed time.
    table = read_until(lambda text: all(task_id in text for task_id in made.values()))
    Store(tmp_path / "tasks").finish(made["c"], phase="cancelled", error="not needed")
    change = read_until(lambda text: made["c"] in text)
    proc.send_signal(signal.SIGTERM)  # ends like Ctrl-C
    out = table + change + proc.stdout.read()
    err = proc.stderr.read()
    assert proc.wait(timeout=30) == 0, err
    for task_id in made.values():  # finished ones too: the table, not only changes
        assert table.count(task_id) == 1, table
    assert "running" in table and "failed" in table
    # Then one line per change, never the table again.
    assert "cancelled" in change.splitlines()[-1], change
    assert [out.count(made[n]) for n in "abc"] == [1, 1, 2], out
    assert out.count(" done · ") == 1, out  # the summary under the table, once


def test_a_command_in_uvs_cache_becomes_a_uvx_command_for_clients(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``uvx --from <clone> codex-mcp-swarm setup ...`` runs from uv's cache, which uv may clean:
    the configuration names ``uvx --from <where it was installed from>`` instead."""
    program = tmp_path / "uv" / "archive-v0" / "abc" / "bin" / "codex-mcp-swarm"
    program.parent.mkdir(parents=True)
    program.write_text("")
    monkeypatch.delenv(doctor.ENV_ENTRY, raising=False)
    monkeypatch.setattr(sys, "argv", [str(program), "setup", "codex"])
    config = doctor.client_config(["-c", "model=gpt-5.5"], {})
    server = config["claude_code_json"]["mcpServers"]["codex-swarm"]
    assert Path(server["command"]).name == "uvx"
    # This test's package is installed from the clone (an editable install): its directory.
    assert server["args"] == ["--from", str(REPO), "codex-mcp-swarm", "-c", "model=gpt-5.5"]
    assert "note" not in config
