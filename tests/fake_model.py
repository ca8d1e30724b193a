"""A scriptable fake of the OpenAI Responses API on loopback, for driving the real Codex CLI.

The script lives in the prompt itself, so the server is stateless and any test (or the benchmark)
can use it by writing a prompt. A line of the form

    SCRIPT: [{"shell": "echo hi"}, {"message": "done"}]

in the last user message that has one makes each model request answer with the next step. The step
is chosen by counting the tool results (``function_call_output`` items) that follow that message, so
retries and resumed threads pick the right step without any server state. Without a script the
model answers ``ok: <first line of the prompt>``.

A step is an object with any of these keys (applied in this order):
    delay: seconds to wait before answering
    error: an HTTP status to answer with (e.g. 500, 429, 400) instead of a stream
    fail_times: with ``error``: answer with the error only the first N times this step of this
        prompt is asked for, then normally (the one stateful knob, for retry tests)
    hang: seconds to stall after ``response.created`` (an idle model)
    reasoning: text of a reasoning summary item
    shell: a command for Codex's ``exec_command`` tool
    yield_ms: with ``shell``: ``yield_time_ms``, how long Codex waits for the command before
        it answers the model with the output so far (Codex's default is 10 s: a ``sleep 30``
        meant to keep a task running must raise it, or the turn ends after 10 s)
    patch: a patch body for ``apply_patch`` (the lines between Begin and End Patch)
    message: the final assistant message (ends the turn)
    mcp: a list of MCP tool calls made in one response (parallel tool calls), each
        ``{"namespace": "mcp__codex_swarm", "name": "codex_async", "arguments": {...}}``; Codex
        offers an MCP server's tools as one ``namespace`` tool and runs ``function_call`` items
        that name it. Such a step is answered once all its calls have their outputs.
    truncate: true to close the stream before ``response.completed``
A step with none of ``shell``, ``patch``, ``mcp`` or ``message`` ends the turn with message "done".

A review request of ``codex exec review`` (its developer message holds Codex's review guidelines)
without a script is answered like a reviewer: first the ``git diff <commit>`` its prompt asks for,
then findings in Codex's review JSON, one per file that diff showed (title ``[P2] Check <path>``).

Run standalone with ``python tests/fake_model.py --port 0`` (prints the port).
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_SCRIPT_RE = re.compile(r"^SCRIPT:\s*(\[.*\])\s*$", re.MULTILINE)
_REVIEW_DIFF_RE = re.compile(r"Run `(git diff [0-9a-f]{7,64})`")
_DIFF_FILE_RE = re.compile(r"^diff --git a/(\S+) b/", re.MULTILINE)
_ids = itertools.count(1)


def _message_text(item: dict[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return ""


def choose_step(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Pick the step a request should get; also return the prompt text it was keyed on."""
    items = body.get("input") or []
    anchor = -1
    prompt = ""
    steps: list[dict[str, Any]] | None = None
    for i, item in enumerate(items):
        if item.get("type") == "message" and item.get("role") == "user":
            text = _message_text(item)
            if "<environment_context>" in text or text.startswith("# AGENTS.md"):
                continue
            anchor, prompt = i, text
            match = _SCRIPT_RE.search(text)
            steps = json.loads(match.group(1)) if match else None
    if steps is None and _is_review(items):
        return _review_step(items, anchor, prompt), prompt
    if steps is None:
        first = prompt.strip().splitlines()[0] if prompt.strip() else ""
        return {"message": f"ok: {first}"}, prompt
    done = sum(1 for item in items[anchor + 1 :] if item.get("type") == "function_call_output")
    for step in steps:
        # A step is answered by one tool output, or one per call for a step of parallel calls.
        cost = max(1, len(step.get("mcp") or ()))
        if done < cost:
            return step, prompt
        done -= cost
    return {"message": "done"}, prompt


def _is_review(items: list[dict[str, Any]]) -> bool:
    return any(
        item.get("type") == "message"
        and item.get("role") == "developer"
        and _message_text(item).startswith("# Review guidelines")
        for item in items
    )


def _review_step(items: list[dict[str, Any]], anchor: int, prompt: str) -> dict[str, Any]:
    outputs = [
        str(item.get("output", ""))
        for item in items[anchor + 1 :]
        if item.get("type") == "function_call_output"
    ]
    match = _REVIEW_DIFF_RE.search(prompt)
    if match and not outputs:
        return {"shell": match.group(1)}
    files = _DIFF_FILE_RE.findall("\n".join(outputs))
    findings = [
        {
            "title": f"[P2] Check {path}",
            "body": f"The change to `{path}` needs a second look.",
            "confidence_score": 0.5,
            "priority": 2,
            "code_location": {"absolute_file_path": path, "line_range": {"start": 1, "end": 1}},
        }
        for path in files
    ]
    verdict = {
        "findings": findings,
        "overall_correctness": "patch is correct",
        "overall_explanation": f"fake review of {len(files)} file(s)",
        "overall_confidence_score": 0.5,
    }
    return {"message": json.dumps(verdict)}


def _sse(event: str, data: dict[str, Any]) -> bytes:
    data = {"type": event, **data}
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _output_items(step: dict[str, Any]) -> list[dict[str, Any]]:
    n = next(_ids)
    out: list[dict[str, Any]] = []
    if "reasoning" in step:
        out.append(
            {
                "type": "reasoning",
                "id": f"rs_{n}",
                "summary": [{"type": "summary_text", "text": step["reasoning"]}],
            }
        )
    cmd = None
    if "shell" in step:
        cmd = step["shell"]
    elif "patch" in step:
        cmd = "apply_patch <<'EOF'\n*** Begin Patch\n" + step["patch"] + "\n*** End Patch\nEOF\n"
    if step.get("mcp"):
        for i, call in enumerate(step["mcp"]):
            out.append(
                {
                    "type": "function_call",
                    "id": f"fc_{n}_{i}",
                    "call_id": f"call_{n}_{i}",
                    "namespace": call["namespace"],
                    "name": call["name"],
                    "arguments": json.dumps(call.get("arguments") or {}),
                }
            )
    elif cmd is not None:
        out.append(
            {
                "type": "function_call",
                "id": f"fc_{n}",
                "call_id": f"call_{n}",
                "name": "exec_command",
                "arguments": json.dumps(
                    {
                        "cmd": cmd,
                        **({"yield_time_ms": step["yield_ms"]} if "yield_ms" in step else {}),
                    }
                ),
            }
        )
    else:
        out.append(
            {
                "type": "message",
                "id": f"msg_{n}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": step.get("message", "done")}],
            }
        )
    return out


class FakeModel:
    """The server: ``start()`` in a thread; ``base_url`` for Codex; ``requests`` it saw."""

    def __init__(self, latency: float = 0.0, host: str = "127.0.0.1", port: int = 0) -> None:
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], int] = {}
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                # Codex may ask for /models; answer with an empty list.
                body = json.dumps({"data": [], "models": []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                with model._lock:
                    model.requests.append(body)
                step, prompt = choose_step(body)
                time.sleep(float(step.get("delay", model.latency)))
                if "fail_times" in step:
                    key = (prompt, json.dumps(step, sort_keys=True))
                    with model._lock:
                        seen = model._failures.get(key, 0)
                        model._failures[key] = seen + 1
                    if seen >= int(step["fail_times"]):
                        step = {k: v for k, v in step.items() if k != "error"}
                if "error" in step:
                    status = int(step["error"])
                    payload = json.dumps(
                        {"error": {"message": f"fake model error {status}", "type": "server_error"}}
                    ).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                rid = f"resp_{next(_ids)}"
                response = {"id": rid, "object": "response", "status": "in_progress", "output": []}
                try:
                    self.wfile.write(_sse("response.created", {"response": response}))
                    self.wfile.flush()
                    if "hang" in step:
                        time.sleep(float(step["hang"]))
                    items = _output_items(step)
                    for index, item in enumerate(items):
                        self.wfile.write(
                            _sse(
                                "response.output_item.added", {"output_index": index, "item": item}
                            )
                        )
                        self.wfile.write(
                            _sse("response.output_item.done", {"output_index": index, "item": item})
                        )
                    if step.get("truncate"):
                        self.wfile.flush()
                        return
                    usage = {
                        "input_tokens": 100,
                        "input_tokens_details": {"cached_tokens": 20},
                        "output_tokens": 10,
                        "output_tokens_details": {"reasoning_tokens": 3},
                        "total_tokens": 110,
                    }
                    done = {**response, "status": "completed", "output": items, "usage": usage}
                    self.wfile.write(_sse("response.completed", {"response": done}))
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeModel:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def offered_namespace(body: dict[str, Any], namespace: str) -> dict[str, Any] | None:
    """The ``namespace`` tool (an MCP server's tools, as Codex offers them) in a request body."""
    for tool in body.get("tools") or []:
        if tool.get("type") == "namespace" and tool.get("name") == namespace:
            return dict(tool)
    return None


def sent_chars(value: Any) -> int:
    """Characters of ``value`` as Codex sends it: compact JSON, non-ASCII unescaped."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def script(*steps: dict[str, Any], text: str = "task") -> str:
    """A prompt that makes the fake model play ``steps``."""
    return f"{text}\nSCRIPT: {json.dumps(list(steps))}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    server = FakeModel(latency=args.latency, port=args.port)
    print(server.port, flush=True)
    server._server.serve_forever()


if __name__ == "__main__":
    main()
