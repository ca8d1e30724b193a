"""The generated pages of the docs site: the tool reference and the command-line reference.

An MkDocs hook (``hooks:`` in mkdocs.yml): every ``mkdocs build`` starts the server over stdio,
asks it ``tools/list`` with the official MCP client, and writes ``reference/tools.md`` from the
tools' own names, descriptions, annotations and schemas; ``reference/command-line.md`` is written
from the argparse parsers in ``codex_mcp_swarm.cli``. Neither page is in git, so neither can
drift from the code. ``python scripts/docs_reference.py DIR`` writes both pages into DIR (to read
them without building the site).
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

TOOLS_PAGE = "reference/tools.md"
CLI_PAGE = "reference/command-line.md"
SETTINGS_GROUP = "server settings (as for serve)"

JSON = dict[str, Any]


async def _list_tools() -> list[JSON]:
    from mcp import Client, StdioServerParameters

    with tempfile.TemporaryDirectory(prefix="codex-swarm-docs-") as scratch:
        env = {
            **os.environ,
            # A store and Codex home of its own: building the docs touches no user state.
            "CODEX_SWARM_TASK_DIR": str(Path(scratch) / "tasks"),
            "CODEX_SWARM_WORKTREE_DIR": str(Path(scratch) / "worktrees"),
            "CODEX_HOME": scratch,
            # Listing tools runs no Codex: name one so that no per-user copy is installed.
            "CODEX_SWARM_CODEX_BIN": os.environ.get("CODEX_SWARM_CODEX_BIN") or "codex",
        }
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "codex_mcp_swarm"], env=env, cwd=scratch
        )
        async with Client(params) as client:
            listed = await client.list_tools()
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in listed.tools]


def list_tools() -> list[JSON]:
    """The running server's ``tools/list``, as the wire has it (camelCase keys)."""
    import anyio

    return anyio.run(_list_tools)


def _text(value: str) -> str:
    """Plain text for Markdown: HTML-escaped outside `code spans`, on one line."""
    parts = value.split("`")
    for i in range(0, len(parts), 2):
        parts[i] = html.escape(parts[i], quote=False)
    return "`".join(parts).replace("\n", " ").strip()


def _cell(value: str) -> str:
    return _text(value).replace("|", "\\|")


def _code(value: Any) -> str:
    text = value if isinstance(value, str) else _json(value)
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _resolve(schema: JSON, defs: JSON) -> JSON:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = defs.get(ref.removeprefix("#/$defs/"), {})
        return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _type(schema: JSON, defs: JSON) -> str:
    """A short type: ``string``, ``integer 1..5``, ``"merge" | "squash"``, ``list of string``."""
    schema = _resolve(schema, defs)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            kinds = [_type(s, defs) for s in schema[key] if s.get("type") != "null"]
            return " or ".join(dict.fromkeys(kinds)) or "null"
    if "const" in schema:
        return _json(schema["const"])
    if "enum" in schema:
        return " | ".join(_json(v) for v in schema["enum"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(str(k) for k in kind if k != "null")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}), defs)}"
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if low is not None or high is not None:
            above = "exclusiveMinimum" in schema and "minimum" not in schema
            return f"{kind} {'>' if above else ''}{'' if low is None else low}..{high or ''}"
    return str(kind)


def _fields_table(schema: JSON, defs: JSON, *, inputs: bool) -> list[str]:
    schema = _resolve(schema, defs)
    properties: JSON = schema.get("properties", {})
    if not properties:
        return ["No parameters." if inputs else "No fields.", ""]
    required = set(schema.get("required", []))
    rows = ["| name | type | meaning |", "| --- | --- | --- |"]
    for name, prop in properties.items():
        prop = _resolve(prop, defs)
        meaning = _cell(str(prop.get("description", "")))
        notes = []
        if name in required and inputs:
            notes.append("**required**")
        if inputs and "default" in prop and prop["default"] is not None:
            notes.append(f"default {_code(prop['default'])}")
        if notes:
            meaning = (meaning + " " if meaning else "") + "(" + ", ".join(notes) + ")"
        rows.append(f"| `{name}` | {_cell(_type(prop, defs))} | {meaning} |")
    return [*rows, ""]


def guide_sections(guide: str) -> dict[str, str]:
    """Tool name -> the anchor of the first ``##`` heading of the guide (docs/tools.md) that
    names it in backticks, slugged as MkDocs' table of contents does."""
    from markdown.extensions.toc import slugify

    found: dict[str, str] = {}
    for line in guide.splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
            for name in re.findall(r"`(codex\w*)`", title):
                found.setdefault(name, slugify(title.replace("`", ""), "-"))
    return found


def tools_markdown(tools: list[JSON], guide: str = "") -> str:
    sections = guide_sections(guide)
    lines = [
        "# Tool reference",
        "",
        "Generated from the server's own `tools/list` when the site is built: each tool's",
        "description, annotations and parameters exactly as a client receives them.",
        "The guide to what they do together is [Tools](../tools.md).",
        "",
        "| tool | what it does |",
        "| --- | --- |",
    ]
    for tool in tools:
        first = str(tool.get("description", "")).split(". ")[0].rstrip(".")
        lines.append(f"| [`{tool['name']}`](#{tool['name']}) | {_cell(first)} |")
    lines.append("")
    for tool in tools:
        name = tool["name"]
        lines += [f"## `{name}` {{#{name}}}", ""]
        lines += [_text(p) + "\n" for p in str(tool.get("description", "")).split("\n\n")]
        if name in sections:
            lines += [f"More in the guide: [Tools](../tools.md#{sections[name]}).", ""]
        hints = tool.get("annotations", {})
        shown = [k for k in ("readOnlyHint", "destructiveHint", "idempotentHint") if hints.get(k)]
        if shown:
            lines += ["Annotations: " + ", ".join(f"`{k}`" for k in shown) + ".", ""]
        inputs: JSON = tool.get("inputSchema", {})
        lines += ["**Parameters**", ""]
        lines += _fields_table(inputs, inputs.get("$defs", {}), inputs=True)
        output: JSON | None = tool.get("outputSchema")
        if output:
            lines += ['??? note "Result fields (`structuredContent`)"', ""]
            table = _fields_table(output, output.get("$defs", {}), inputs=False)
            lines += ["    " + row if row else "" for row in table]
    return "\n".join(lines) + "\n"


def _flags(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(f"`{name}`" for name in action.option_strings)
        if action.nargs != 0:
            metavar = action.metavar or (
                "{" + ",".join(map(str, action.choices)) + "}"
                if action.choices
                else action.dest.upper()
            )
            names += f" `{metavar if isinstance(metavar, str) else ' '.join(metavar)}`"
        return names
    metavar = action.metavar or action.dest
    return f"`{metavar if isinstance(metavar, str) else ' '.join(metavar)}`"


def _action_row(action: argparse.Action) -> str:
    meaning = _cell(action.help or "") if action.help != argparse.SUPPRESS else ""
    notes = []
    if action.choices and action.option_strings:
        notes.append("one of " + ", ".join(f"`{c}`" for c in action.choices))
    if action.required or (not action.option_strings and action.nargs in (None, "+")):
        notes.append("**required**")
    default = action.default
    shown_default = default not in (None, False, [], argparse.SUPPRESS)
    if action.option_strings and shown_default and str(default) not in (action.help or ""):
        notes.append(f"default `{default}`")
    if isinstance(action, argparse._AppendAction) and "repeatable" not in (action.help or ""):
        notes.append("repeatable")
    if notes:
        meaning = (meaning + " " if meaning else "") + "(" + "; ".join(notes) + ")"
    return f"| {_flags(action)} | {meaning} |"


def _groups(parser: argparse.ArgumentParser) -> list[tuple[str, list[argparse.Action]]]:
    shown = []
    for group in parser._action_groups:
        actions = [
            a
            for a in group._group_actions
            if not isinstance(a, argparse._HelpAction) and a.dest != "command"
        ]
        if actions:
            shown.append((group.title or "", actions))
    return shown


def _table(actions: list[argparse.Action]) -> list[str]:
    return ["| argument | meaning |", "| --- | --- |", *map(_action_row, actions), ""]


def _usage(parser: argparse.ArgumentParser, shared: set[str]) -> str:
    """The parser's usage line with the shared server settings folded into one word."""
    own = [a for a in parser._actions if a.dest not in shared]
    formatter = parser._get_formatter()
    formatter.add_usage(parser.usage, own, parser._mutually_exclusive_groups, prefix="")
    return formatter.format_help().strip() + " [server settings]"


def cli_markdown() -> str:
    from codex_mcp_swarm import cli

    parsers = cli.parsers()
    lines = [
        "# Command-line reference",
        "",
        "Generated from the program's own argparse parsers when the site is built. The guide",
        "with examples is [Command line](../command-line.md).",
        "",
        "| command | what it does |",
        "| --- | --- |",
    ]
    lines += [f"| [`{name}`](#{name}) | {_cell(text)} |" for name, text in cli.COMMANDS.items()]
    lines.append("")
    settings = next(
        actions
        for parser in parsers.values()
        for title, actions in _groups(parser)
        if title == SETTINGS_GROUP
    )
    shared = {action.dest for action in settings}
    for name, parser in parsers.items():
        lines += [f"## `{name}` {{#{name}}}", "", _text(parser.description or "") + "", ""]
        usage = _usage(parser, shared)
        lines += ["```text", usage, "```", ""]
        for title, actions in _groups(parser):
            own = [a for a in actions if a.dest not in shared]
            if own:
                lines += [f"{title.capitalize()}:", "", *_table(own)]
        lines += ["With every [server setting](#server-settings).", ""]
    lines += [
        "## Server settings {#server-settings}",
        "",
        "Every command takes these, so `--task-dir` (or `CODEX_SWARM_TASK_DIR`) points them",
        "all at the same store.",
        "",
        *_table(settings),
    ]
    return "\n".join(lines) + "\n"


def on_files(files: Any, config: Any) -> Any:
    """MkDocs hook: add the two generated pages to the site."""
    from mkdocs.structure.files import File

    guide = (Path(config["docs_dir"]) / "tools.md").read_text(encoding="utf-8")
    pages = ((TOOLS_PAGE, tools_markdown(list_tools(), guide)), (CLI_PAGE, cli_markdown()))
    for path, content in pages:
        files.append(File.generated(config, path, content=content))
    return files


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    guide = (Path(__file__).parents[1] / "docs" / "tools.md").read_text(encoding="utf-8")
    for page, text in (
        (TOOLS_PAGE, tools_markdown(list_tools(), guide)),
        (CLI_PAGE, cli_markdown()),
    ):
        (out / page).parent.mkdir(parents=True, exist_ok=True)
        (out / page).write_text(text)
        print(out / page)
