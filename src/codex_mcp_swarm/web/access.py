"""Who may use the board, and which requests may change anything.

Owns: how the server's bearer token (the one ``/mcp`` takes; ``cli`` loads it and the allowed
Host names and hands them over) is checked on the board, the board's login cookie
(set once from a ``?token=`` link or the login form: ``HttpOnly; SameSite=Strict``, holding a
digest of the token, never the token), the Host check (DNS-rebinding guard: loopback names, the
bound host and any ``--allowed-host``), and the rules for state-changing requests: POST only, an
``Origin`` equal to the page's own origin, and the per-process CSRF token the page reads from
the API and sends back in ``X-CSRF-Token``.

Must not: serve pages or touch tasks; it answers yes or no with a sentence.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

COOKIE = "codex_swarm_board"
CSRF_HEADER = "x-csrf-token"


def _host_name(value: str) -> str:
    """``127.0.0.1:8765`` -> ``127.0.0.1``; ``[::1]:80`` -> ``[::1]``."""
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


@dataclass
class Access:
    """The board's rules for one server process."""

    token: str | None
    hosts: list[str]
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def cookie_value(self) -> str:
        assert self.token is not None
        return hmac.new(self.token.encode(), b"codex-swarm board login", hashlib.sha256).hexdigest()

    def host_ok(self, headers: Mapping[str, str]) -> bool:
        host = headers.get("host", "")
        return bool(host) and _host_name(host.lower()) in {n.lower() for n in self.hosts}

    def token_ok(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def signed_in(self, headers: Mapping[str, str]) -> bool:
        """With no token set everyone on an allowed Host is; else the bearer header or cookie."""
        if self.token is None:
            return True
        bearer = headers.get("authorization", "")
        if bearer.startswith("Bearer ") and self.token_ok(bearer[len("Bearer ") :]):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and hmac.compare_digest(
            morsel.value.encode(), self.cookie_value.encode()
        )

    def login_cookie(self, secure: bool) -> str:
        """The ``Set-Cookie`` value that signs this browser in."""
        flags = "; Secure" if secure else ""
        return f"{COOKIE}={self.cookie_value}; Path=/; HttpOnly; SameSite=Strict{flags}"

    def same_origin(self, headers: Mapping[str, str], scheme: str) -> bool:
        """The request comes from a page of this very origin (the browser's ``Origin``)."""
        origin = headers.get("origin", "")
        host = headers.get("host", "")
        return bool(origin) and bool(host) and origin.lower() == f"{scheme}://{host}".lower()

    def change_refusal(self, method: str, headers: Mapping[str, str], scheme: str) -> str | None:
        """Why a state-changing request is refused, or ``None`` when it may go ahead."""
        if method != "POST":
            return "actions change state, so they must be sent as POST"
        if not self.same_origin(headers, scheme):
            return (
                "refused a cross-site request: actions must come from the board's own page "
                "(the Origin header must match the address the board is served on)"
            )
        if not hmac.compare_digest(headers.get(CSRF_HEADER, "").encode(), self.csrf.encode()):
            return (
                "refused: the request lacks the board's CSRF token; reload the board and try again"
            )
        return None
