"""The README and the docs site: the short README names what the server really has, and the
generated reference pages (scripts/docs_reference.py, run by ``mkdocs build``) cover every tool,
parameter, command and flag. ``scripts/test`` builds the site with ``mkdocs build --strict``."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import docs_reference

from codex_mcp_swarm import cli


@pytest.fixture(scope="module")
def tools() -> list[dict[str, Any]]:
    return docs_reference.list_tools()


def test_readme_is_short_and_starts_with_the_two_commands() -> None:
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 200
    first_block = lines[lines.index("```sh") + 1 : lines.index("```")]
    assert [line.split()[0] for line in first_block] == ["scripts/start", "scripts/test"]
    assert lines.index("```sh") < 4  # right under the title


def test_readme_tool_table_lists_every_tool_of_the_server(tools: list[dict[str, Any]]) -> None:
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Tools", 1)[1]
    listed = re.findall(r"^\| `(codex\w*)` \|", table, re.MULTILINE)
    assert listed == [tool["name"] for tool in tools]


def test_readme_example_calls_fit_the_tools_schemas(tools: list[dict[str, Any]]) -> None:
    import json

    import jsonschema

    readme = (REPO / "README.md").read_text()
    block = readme.split("## Example", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]
    calls, at, decoder = [], 0, json.JSONDecoder()
    while block[at:].strip():
        at += len(block[at:]) - len(block[at:].lstrip())
        call, at = decoder.raw_decode(block, at)
        calls.append(call)
    assert [c["name"] for c in calls] == ["codex_async"] * 3 + ["codex_wait", "codex_land"]
    schemas = {tool["name"]: tool["inputSchema"] for tool in tools}
    for call in calls:
        schema = schemas[call["name"]]
        jsonschema.validate(call["arguments"], schema)
        assert set(call["arguments"]) <= set(schema["properties"]), call


def test_readme_links_point_at_docs_pages_that_exist() -> None:
    readme = (REPO / "README.md").read_text()
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (REPO / target).is_file(), target
    nav = (REPO / "mkdocs.yml").read_text()
    for page in (REPO / "docs").glob("*.md"):
        assert f" {page.name}" in nav, f"{page.name} is not in mkdocs.yml's nav"


def test_no_page_holds_merge_conflict_markers() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    for page in pages:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            assert not re.match(r"(<{7}|={7}|>{7})( |$)", line), f"{page.name}:{number}: {line}"


def test_the_tool_reference_covers_every_tool_and_parameter(tools: list[dict[str, Any]]) -> None:
    page = docs_reference.tools_markdown(tools, (REPO / "docs" / "tools.md").read_text())
    assert len(tools) >= 14
    for tool in tools:
        section = page.split(f"## `{tool['name']}`", 1)[1].split("\n## ", 1)[0]
        for name in tool["inputSchema"].get("properties", {}):
            assert f"| `{name}` |" in section, (tool["name"], name)
        first_sentence = tool["description"].split(". ")[0].split("`")[0][:40]
        assert first_sentence in section
        assert "More in the guide: [Tools](../tools.md#" in section, (
            f"docs/tools.md has no section heading that names `{tool['name']}`"
        )


def test_the_command_line_reference_covers_every_command_and_flag() -> None:
    page = docs_reference.cli_markdown()
    for name, parser in cli.parsers().items():
        assert f"## `{name}` {{#{name}}}" in page
        for action in parser._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}`" in page, (name, flag)
    assert set(cli.parsers()) == set(cli.COMMANDS)
