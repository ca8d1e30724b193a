"""Argv of ``codex exec fork`` / ``review`` and of a steered task's continuation
(codex_mcp_swarm.codex.command)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_mcp_swarm.codex.command import (
    ReviewTarget,
    SpecError,
    TaskSpec,
    build_argv,
    continue_argv,
    exec_prefix,
)

CODEX = "/opt/codex"
UUID = "01a2119c-4ced-7b53-b1f0-bd8817e1fe24"
SHA = "107450aab50f546a71f2f0a70f87833c1310e26a"


def spec(**kwargs: Any) -> TaskSpec:
    kwargs.setdefault("prompt", "do the thing")
    kwargs.setdefault("cwd", "/work/project")
    return TaskSpec(**kwargs).check()


def test_fork_argv_ends_with_fork_uuid_stdin() -> None:
    argv = build_argv(CODEX, spec(fork_thread_id=UUID, model="o3"))
    assert argv[-3:] == ["fork", UUID, "-"]
    assert argv[:3] == [CODEX, "exec", "--json"]
    assert '--config=model="o3"' in argv
    assert argv.index("--cd=/work/project") < argv.index("fork")


@pytest.mark.parametrize("bad", ["last", "--help", "-", UUID + "x", "../x", ""])
def test_fork_rejects_non_uuid(bad: str) -> None:
    with pytest.raises(SpecError, match="not a UUID"):
        spec(fork_thread_id=bad)
    with pytest.raises(SpecError):
        build_argv(CODEX, TaskSpec(prompt="p", cwd="/w", fork_thread_id=bad))


def test_fork_and_resume_exclude_each_other() -> None:
    with pytest.raises(SpecError, match="at most one"):
        spec(fork_thread_id=UUID, resume_thread_id=UUID)
    with pytest.raises(SpecError):
        build_argv(
            CODEX, TaskSpec(prompt="p", cwd="/w", fork_thread_id=UUID, resume_thread_id=UUID)
        )


def test_review_against_a_base_commit() -> None:
    argv = build_argv(CODEX, spec(review=ReviewTarget(base=SHA), sandbox="read-only"))
    assert argv[-2:] == ["review", f"--base={SHA}"]
    assert '--config=sandbox_mode="read-only"' in argv


def test_review_of_uncommitted_changes() -> None:
    argv = build_argv(CODEX, spec(review=ReviewTarget(uncommitted=True)))
    assert argv[-2:] == ["review", "--uncommitted"]


def test_custom_review_reads_its_request_from_stdin() -> None:
    argv = build_argv(CODEX, spec(prompt="-rf everything", review=ReviewTarget(custom=True)))
    assert argv[-2:] == ["review", "-"]
    assert "-rf everything" not in argv


@pytest.mark.parametrize(
    "target",
    [
        ReviewTarget(),
        ReviewTarget(base=SHA, uncommitted=True),
        ReviewTarget(base="main"),
        ReviewTarget(base="--uncommitted"),
        ReviewTarget(base=SHA[:12]),
        ReviewTarget(base=SHA.upper()),
        ReviewTarget(custom=True, base=SHA),
    ],
)
def test_review_targets_are_checked(target: ReviewTarget) -> None:
    with pytest.raises(SpecError):
        spec(review=target)
    with pytest.raises(SpecError):
        build_argv(CODEX, TaskSpec(prompt="p", cwd="/w", review=target))


def test_review_cannot_resume() -> None:
    with pytest.raises(SpecError):
        spec(review=ReviewTarget(base=SHA), resume_thread_id=UUID)


@pytest.mark.parametrize(
    "extra",
    [{}, {"resume_thread_id": UUID}, {"fork_thread_id": UUID}, {"review": ReviewTarget(base=SHA)}],
)
def test_exec_prefix_keeps_every_setting_and_drops_the_subcommand(extra: dict[str, Any]) -> None:
    full = build_argv(
        CODEX, spec(model="o3", profile="fast", config={"a.b": "-"}, **extra), [("x", "1")]
    )
    prefix = exec_prefix(full)
    assert (
        prefix
        == build_argv(CODEX, spec(model="o3", profile="fast", config={"a.b": "-"}), [("x", "1")])[
            :-1
        ]
    )
    assert continue_argv(prefix, UUID) == [*prefix, "resume", UUID, "-"]


@given(
    st.text(min_size=1).filter(
        lambda t: (
            t.strip()
            and "\x00" not in t
            and not t.startswith(("-", "exec", "/opt", "resume", UUID))
        )
    )
)
def test_steer_message_never_in_argv(message: str) -> None:
    prefix = exec_prefix(build_argv(CODEX, spec(prompt=message)))
    assert message not in continue_argv(prefix, UUID)


@pytest.mark.parametrize("bad", ["last", "--all", "-"])
def test_continue_argv_rejects_non_uuid(bad: str) -> None:
    with pytest.raises(SpecError):
        continue_argv([CODEX, "exec", "--json"], bad)
