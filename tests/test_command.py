"""TaskSpec -> argv, and the TOML encoding of settings (codex_mcp_swarm.codex.command)."""

from __future__ import annotations

import math
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_mcp_swarm.codex.command import (
    APPROVAL_POLICIES,
    SANDBOX_MODES,
    SpecError,
    TaskSpec,
    build_argv,
    check_config_key,
    is_uuid,
    parse_override,
    toml_value,
    with_output_schema,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CODEX = "/opt/codex"
UUID = "01a2119c-4ced-7b53-b1f0-bd8817e1fe24"


def spec(**kwargs: Any) -> TaskSpec:
    kwargs.setdefault("prompt", "do the thing")
    kwargs.setdefault("cwd", "/work/project")
    return TaskSpec(**kwargs).check()


def configs(argv: list[str]) -> list[str]:
    """The ``key=value`` part of every ``--config=`` token, in order."""
    return [a.removeprefix("--config=") for a in argv if a.startswith("--config=")]


def decode(token: str) -> tuple[str, Any]:
    """One ``key=<TOML>`` setting back to (key, value), the way Codex reads it."""
    key, _, value = token.partition("=")
    return key, tomllib.loads(f"v = {value}")["v"]


# --- argv ----------------------------------------------------------------------------------------


def test_minimal_argv() -> None:
    argv = build_argv(CODEX, spec())
    assert argv == [CODEX, "exec", "--json", "--cd=/work/project", "-"]


@pytest.mark.parametrize(
    "prompt",
    ["do the thing", "-", "--help", "-c model=evil", "--config=sandbox_mode=danger-full-access"],
)
def test_prompt_never_in_argv_and_argv_ends_with_stdin_marker(prompt: str) -> None:
    argv = build_argv(CODEX, spec(prompt=prompt, model="o3"))
    assert argv[-1] == "-"
    assert argv.count("-") == 1
    if prompt != "-":
        assert all(prompt not in a for a in argv)
    assert not any(a.startswith(("-c", "--help")) for a in argv)


def test_every_setting_is_one_config_token() -> None:
    s = spec(
        model="gpt-5 --dangerously-bypass-approvals-and-sandbox",
        sandbox="read-only",
        approval_policy="never",
        config={"model_reasoning_effort": "high", "shell_environment_policy.inherit": "all"},
        base_instructions="line one\nline two -c x=y",
        developer_instructions="dev",
        compact_prompt="compact",
    )
    argv = build_argv(CODEX, s, [("model_verbosity", '"low"')])
    assert argv[3] == "--cd=/work/project"
    settings = argv[4:-1]  # between "--cd=..." and "-"
    assert all(a.startswith("--config=") for a in settings)
    assert [decode(a.removeprefix("--config=")) for a in settings] == [
        ("model_verbosity", "low"),
        ("model_reasoning_effort", "high"),
        ("shell_environment_policy.inherit", "all"),
        ("model", "gpt-5 --dangerously-bypass-approvals-and-sandbox"),
        ("sandbox_mode", "read-only"),
        ("approval_policy", "never"),
        ("instructions", "line one\nline two -c x=y"),
        ("developer_instructions", "dev"),
        ("compact_prompt", "compact"),
    ]


def test_no_raw_newline_in_any_token() -> None:
    s = spec(base_instructions="a\nb\r\nc", config={"x": "tab\there"})
    assert all("\n" not in a and "\r" not in a and "\t" not in a for a in build_argv(CODEX, s))


def test_defaults_first_then_config_then_named_parameters_win() -> None:
    s = spec(
        model="named-model",
        sandbox="workspace-write",
        approval_policy="on-request",
        config={"model": "config-model", "sandbox_mode": "read-only", "approval_policy": "never"},
    )
    argv = build_argv(CODEX, s, [("model", '"default-model"'), ("sandbox_mode", '"read-only"')])
    models = [decode(c)[1] for c in configs(argv) if c.startswith("model=")]
    assert models == ["default-model", "config-model", "named-model"]
    sandboxes = [decode(c)[1] for c in configs(argv) if c.startswith("sandbox_mode=")]
    assert sandboxes == ["read-only", "read-only", "workspace-write"]
    approvals = [decode(c)[1] for c in configs(argv) if c.startswith("approval_policy=")]
    assert approvals == ["never", "on-request"]


def test_named_parameter_keys() -> None:
    s = spec(
        model="o3",
        sandbox="danger-full-access",
        approval_policy="on-failure",
        base_instructions="base",
        developer_instructions="dev",
        compact_prompt="cp",
    )
    assert dict(decode(c) for c in configs(build_argv(CODEX, s))) == {
        "model": "o3",
        "sandbox_mode": "danger-full-access",
        "approval_policy": "on-failure",
        "instructions": "base",
        "developer_instructions": "dev",
        "compact_prompt": "cp",
    }


def test_overrides_skip_unset_named_parameters() -> None:
    assert spec(config={"a": 1}).overrides() == [("a", "1")]
    assert spec().overrides() == []


def test_config_values_are_toml_typed() -> None:
    s = spec(config={"s": "true", "b": True, "i": 3, "f": 0.5, "l": ["a", 1], "t": {"k": "v"}})
    assert dict(decode(c) for c in configs(build_argv(CODEX, s))) == {
        "s": "true",
        "b": True,
        "i": 3,
        "f": 0.5,
        "l": ["a", 1],
        "t": {"k": "v"},
    }


def test_cd_profile_and_flags() -> None:
    argv = build_argv(
        CODEX,
        spec(cwd="/tmp/dir with space", profile="fast.v2"),
        skip_git_repo_check=True,
        ephemeral=True,
    )
    assert argv == [
        CODEX,
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--ephemeral",
        "--cd=/tmp/dir with space",
        "--profile=fast.v2",
        "-",
    ]


def test_cwd_starting_with_dash_stays_one_token() -> None:
    argv = build_argv(CODEX, spec(cwd="-rf"))
    assert "--cd=-rf" in argv
    assert "-rf" not in argv


def test_resume_argv_ends_with_resume_uuid_stdin() -> None:
    argv = build_argv(CODEX, spec(resume_thread_id=UUID, model="o3"), [("a", "1")])
    assert argv[-3:] == ["resume", UUID, "-"]
    # Options still come before the subcommand.
    assert argv.index("--config=a=1") < argv.index("resume")
    assert argv.index('--config=model="o3"') < argv.index("resume")


@pytest.mark.parametrize("bad", ["last", "--last", "", "01a2119c-4ced-7b53-b1f0", UUID + "0"])
def test_resume_rejects_non_uuid(bad: str) -> None:
    with pytest.raises(SpecError):
        spec(resume_thread_id=bad)
    # build_argv checks again, even for an unchecked spec.
    with pytest.raises(SpecError):
        build_argv(CODEX, TaskSpec(prompt="p", cwd="/", resume_thread_id=bad))


def test_build_argv_checks_default_keys() -> None:
    with pytest.raises(SpecError):
        build_argv(CODEX, spec(), [("--sandbox", '"danger-full-access"')])


def test_is_uuid() -> None:
    assert is_uuid(UUID)
    assert is_uuid(UUID.upper())
    assert not is_uuid("not-a-uuid")
    assert not is_uuid(UUID.replace("-", ""))


# --- TaskSpec.check -------------------------------------------------------------------------------


@pytest.mark.parametrize("sandbox", SANDBOX_MODES)
def test_check_accepts_sandbox_modes(sandbox: str) -> None:
    assert spec(sandbox=sandbox).sandbox == sandbox


@pytest.mark.parametrize("policy", [p for p in APPROVAL_POLICIES if p != "untrusted"])
def test_check_accepts_approval_policies(policy: str) -> None:
    assert spec(approval_policy=policy).approval_policy == policy


def test_values_the_pinned_codex_refuses_are_refused_with_what_to_use_instead() -> None:
    for refused in (
        lambda: spec(approval_policy="untrusted"),
        lambda: spec(config={"approval_policy": "untrusted"}),
        lambda: parse_override('approval_policy="untrusted"'),
    ):
        with pytest.raises(SpecError, match=r'refused by Codex 0\.171.*use "on-request"'):
            refused()


@pytest.mark.parametrize("sandbox", ["", "full", "READ-ONLY", "read_only", "--yolo"])
def test_check_rejects_bad_sandbox(sandbox: str) -> None:
    with pytest.raises(SpecError, match="sandbox"):
        spec(sandbox=sandbox)


@pytest.mark.parametrize("policy", ["", "always", "Never", "on_request"])
def test_check_rejects_bad_approval_policy(policy: str) -> None:
    with pytest.raises(SpecError, match="approval"):
        spec(approval_policy=policy)


@pytest.mark.parametrize("profile", ["../x", "-x", ".hidden", "", "a/b", "a b", "x" * 65])
def test_check_rejects_bad_profile(profile: str) -> None:
    with pytest.raises(SpecError, match="profile"):
        spec(profile=profile)


@pytest.mark.parametrize("profile", ["default", "fast", "my-profile_2", "v1.2", "x" * 64])
def test_check_accepts_good_profile(profile: str) -> None:
    assert spec(profile=profile).profile == profile


@pytest.mark.parametrize(
    "key", ["--foo", "a..b", "a b", "", ".a", "a.", "-a", "a=b", 'a"b', "a.-b", "a\tb"]
)
def test_check_rejects_bad_config_key(key: str) -> None:
    with pytest.raises(SpecError, match="config key"):
        spec(config={key: 1})
    with pytest.raises(SpecError):
        check_config_key(key)


@pytest.mark.parametrize("key", ["model", "a.b_c.d-e", "_x", "0", "features.web_search_request"])
def test_check_accepts_good_config_key(key: str) -> None:
    assert check_config_key(key) == key
    spec(config={key: 1})


def test_check_config_key_rejects_non_string() -> None:
    with pytest.raises(SpecError):
        check_config_key(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [None, [1, None], {"a": None}, object(), {1, 2}])
def test_check_rejects_unencodable_values(value: Any) -> None:
    with pytest.raises(SpecError):
        spec(config={"x": value})


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t", None, 3])
def test_check_rejects_empty_prompt(prompt: Any) -> None:
    with pytest.raises(SpecError, match="prompt"):
        spec(prompt=prompt)


def test_check_rejects_nul_in_prompt() -> None:
    with pytest.raises(SpecError, match="NUL"):
        spec(prompt="a\x00b")


def test_check_returns_the_spec() -> None:
    s = TaskSpec(prompt="p", cwd="/")
    assert s.check() is s


# --- toml_value -----------------------------------------------------------------------------------

# Text biased towards the characters an encoder gets wrong; no lone surrogates (TOML cannot hold
# them; see test_lone_surrogate_becomes_replacement_char).
tricky_chars = st.sampled_from(
    [
        *['"', "\\", "'", "\x7f", "\x00", "\x1b", "\x08", "\x0c", "\n", "\r", "\t", " "],
        *["=", ".", "#", "é", "€", "😀", "\u2028", "\u0085", "\ufeff", "\U0010ffff"],
        *["a", "Z", "0", "_", "-"],
    ]
)
any_char = st.characters(exclude_categories=["Cs"])
texts = st.text(st.one_of(tricky_chars, any_char), max_size=30)
bare_keys = st.from_regex(r"\A[A-Za-z0-9_-]{1,8}\Z")
scalars = st.one_of(
    texts,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
dict_keys = st.one_of(bare_keys, texts)
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(dict_keys, children, max_size=5),
    ),
    max_leaves=20,
)


def roundtrip(value: Any) -> Any:
    return tomllib.loads("v = " + toml_value(value))["v"]


def same(a: Any, b: Any) -> bool:
    """Equality that also checks types (so 1 != 1.0 != True) and float signs."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


@given(json_like)
def test_toml_value_roundtrips(value: Any) -> None:
    assert same(roundtrip(value), value)


@given(json_like)
def test_toml_value_is_one_line(value: Any) -> None:
    text = toml_value(value)
    assert "\n" not in text and "\r" not in text


@given(texts)
def test_toml_string_roundtrips(text: str) -> None:
    assert roundtrip(text) == text


@given(st.dictionaries(dict_keys, st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=8))
def test_toml_table_keys_roundtrip(value: dict[str, int]) -> None:
    assert roundtrip(value) == value


@given(st.floats(allow_nan=False))
def test_toml_float_roundtrips_exactly(value: float) -> None:
    assert same(roundtrip(value), value)


def test_bare_key_with_trailing_newline() -> None:
    assert roundtrip({"a\n": 1}) == {"a\n": 1}


@pytest.mark.parametrize(
    "field", [{"config": {"model\n": "o3"}}, {"profile": "x\n"}, {"resume_thread_id": UUID + "\n"}]
)
def test_trailing_newline_is_rejected(field: dict[str, Any]) -> None:
    with pytest.raises(SpecError):
        spec(**field)


def test_nan_and_inf() -> None:
    assert math.isnan(roundtrip(math.nan))
    assert roundtrip(math.inf) == math.inf
    assert roundtrip(-math.inf) == -math.inf


def test_lone_surrogate_becomes_replacement_char() -> None:
    assert roundtrip("a\ud800b\udfff") == "a\ufffdb\ufffd"
    assert roundtrip({"\udc80": 1}) == {"\ufffd": 1}


@pytest.mark.parametrize("text", ["true", "false", "1", "1.5", "[1]", "{a = 1}", "inf", "nan", ""])
def test_string_stays_string(text: str) -> None:
    assert roundtrip(text) == text
    assert toml_value(text) == f'"{text}"'


def test_scalars_encoding() -> None:
    assert toml_value(True) == "true"
    assert toml_value(False) == "false"
    assert toml_value(7) == "7"
    assert toml_value(-7) == "-7"
    assert toml_value("\x7f\x01") == '"\\u007F\\u0001"'
    assert toml_value('a"b\\c') == '"a\\"b\\\\c"'


def test_containers_encoding() -> None:
    assert toml_value([]) == "[]"
    assert toml_value({}) == "{}"
    assert toml_value((1, "a")) == '[1, "a"]'
    assert toml_value({"a-b_1": 1, "x.y": 2, "": 3}) == '{a-b_1 = 1, "x.y" = 2, "" = 3}'
    assert roundtrip({"x.y": {"z": [True]}}) == {"x.y": {"z": [True]}}


@pytest.mark.parametrize("value", [None, [None], {"a": {"b": None}}, object(), {1}, 1j])
def test_toml_value_rejects(value: Any) -> None:
    with pytest.raises(SpecError):
        toml_value(value)


# --- parse_override -------------------------------------------------------------------------------


def test_parse_override_raw_fallback() -> None:
    assert parse_override("model=o3") == ("model", '"o3"')
    assert parse_override("shell_environment_policy.inherit=all") == (
        "shell_environment_policy.inherit",
        '"all"',
    )


def test_parse_override_toml_values() -> None:
    assert parse_override("x=true") == ("x", "true")
    assert parse_override('model="o3"') == ("model", '"o3"')
    assert parse_override('x="true"') == ("x", '"true"')
    assert parse_override("x=42") == ("x", "42")
    assert parse_override("x=0.5") == ("x", "0.5")
    key, value = parse_override("x=[1,2]")
    assert key == "x"
    assert tomllib.loads(f"v = {value}")["v"] == [1, 2]
    key, value = parse_override("t={a = 1, b = 'q'}")
    assert tomllib.loads(f"v = {value}")["v"] == {"a": 1, "b": "q"}


def test_parse_override_strips_and_keeps_later_equals() -> None:
    assert parse_override(" model = o3 ") == ("model", '"o3"')
    assert parse_override("x=a=b") == ("x", '"a=b"')


@pytest.mark.parametrize("text", ["novalue", "", "--bad=1", "-c=1", "a..b=1", "a b=1", "=1"])
def test_parse_override_rejects(text: str) -> None:
    with pytest.raises(SpecError):
        parse_override(text)


@given(json_like)
def test_parse_override_of_encoded_value_is_identity(value: Any) -> None:
    key, text = parse_override("k=" + toml_value(value))
    assert key == "k"
    assert same(tomllib.loads(f"v = {text}")["v"], value)


# --- output schema --------------------------------------------------------------------------------

THREAD = "01a2119b-aec0-7301-897f-f913e13173fc"


def test_output_schema_goes_before_the_subcommand_so_a_continued_thread_keeps_it() -> None:
    argv = build_argv(CODEX, TaskSpec(prompt="p", cwd="/w", output_schema={"type": "object"}))
    with_schema = with_output_schema(argv, "/t/output-schema.json")
    assert with_schema[:3] == [CODEX, "exec", "--output-schema=/t/output-schema.json"]
    assert with_schema[3:] == argv[2:]
    resumed = build_argv(CODEX, TaskSpec(prompt="p", cwd="/w", resume_thread_id=THREAD))
    assert with_output_schema(resumed, "/s.json")[-3:] == ["resume", THREAD, "-"]


@pytest.mark.parametrize("schema", ["object", ["type"], {"x": float("nan")}, {"a": "b" * 100_001}])
def test_check_rejects_an_output_schema_that_is_no_json_object(schema: Any) -> None:
    with pytest.raises(SpecError, match="output_schema"):
        TaskSpec(prompt="p", cwd="/w", output_schema=schema).check()
