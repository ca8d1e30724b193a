"""The engine's errors: one root, a code for each kind of refusal, the facts, and words any face
can spell its own way.

Owns: :class:`EngineError` (the root every engine error derives from: ``StoreError``,
``BackendError`` and ``ForkServerError`` in their modules) and :class:`TaskError` (a request the
engine refuses); :class:`Code` (what kind of refusal); :class:`Term` (the things
a message may tell the caller to use: an action such as a reply, or an argument such as the
worktree switch) and :data:`ENGINE_WORDS`, the engine's own plain spelling of each.

An error is a template, its facts and a code. ``{task_id}`` in a template is a fact;
``{REPLY}`` (upper case) is a :class:`Term`, which each face spells in its own words: the MCP
face names its tools and arguments (``codex_reply``, ``worktree: true``), the console its
commands and flags, the board its buttons; a setting of the server itself (``{EPHEMERAL}``)
is spelt as whoever starts the server names it (its flag). ``str(error)`` is the engine's
spelling, which names no face and no flag; :meth:`EngineError.words` gives a face's. A face
spelling may use the facts too (``codex-mcp-swarm watch {task_id}``). A fact that is itself an
:class:`EngineError` is spelt with the same words.

Must not: name any face's tools, arguments, commands or buttons, or the server's flags (only
the faces' own modules do: ``mcp.words``, ``console.words``, ``web.words``).
"""

from __future__ import annotations

import enum
import string
from collections.abc import Mapping
from typing import Any, TypeVar

E = TypeVar("E", bound="EngineError")


class Code(str, enum.Enum):
    """What kind of refusal an error is (a face may act on it, a test may assert it)."""

    INVALID = "invalid"  # an argument is malformed or out of range
    UNKNOWN_TASK = "unknown_task"
    UNKNOWN_THREAD = "unknown_thread"
    ENDED = "ended"  # the task has already ended
    NOT_YET = "not_yet"  # not possible yet (still running, busy, no thread yet): try later
    UNSUPPORTED = "unsupported"  # not possible for this task (a review, an old version)
    NOT_ALLOWED = "not_allowed"  # this server's settings forbid it (ceiling, roots, ephemeral)
    NO_WORKTREE = "no_worktree"  # the task has no worktree and branch
    GONE = "gone"  # what it needs was removed (its worktree, branch or node)
    OTHER_BACKEND = "other_backend"  # only a server of another backend can do it
    PARTIAL = "partial"  # some of the work was done, the rest could not start
    UNAVAILABLE = "unavailable"  # a part the engine needs is missing or failing (Codex, Ray)
    GIT = "git"  # git refused or failed (the reason says what)


class Term(str, enum.Enum):
    """A thing a message tells the caller to use or name; each face spells it. The template
    writes it in upper case: ``{REPLY}``."""

    # Actions: noun phrases (``continue its thread with {REPLY} instead``).
    REPLY = "REPLY"  # continue a finished task's thread
    LAUNCH = "LAUNCH"  # start a new task
    LIST = "LIST"  # see the known tasks and their ids
    DIFF = "DIFF"  # see a worktree task's branch against its base
    WAIT = "WAIT"  # learn when a task ends
    SETUP_CHECK = "SETUP_CHECK"  # check Codex, its login, git and the store on this machine
    # Arguments, as a caller names them: bare nouns (``{CWD} {cwd!r} does not exist``).
    TASK_ID = "TASK_ID"
    THREAD_ID = "THREAD_ID"
    PROMPT = "PROMPT"
    MESSAGE = "MESSAGE"
    INSTRUCTIONS = "INSTRUCTIONS"
    COUNT = "COUNT"
    CWD = "CWD"
    SANDBOX = "SANDBOX"
    BASE_REF = "BASE_REF"
    INCLUDE_UNCOMMITTED = "INCLUDE_UNCOMMITTED"
    CHECK = "CHECK"
    STRATEGY = "STRATEGY"
    TARGET = "TARGET"
    # Launch switches, with their preposition (``it was not started {WORKTREE}``).
    WORKTREE = "WORKTREE"  # run in a worktree of its own
    WORKTREE_FROM = "WORKTREE_FROM"  # ... made from the branch ``{branch}``
    # The server's own settings, as whoever starts it sets them (``this server runs with
    # {EPHEMERAL}``, ``start the server with {CODEX_BIN}``).
    EPHEMERAL = "EPHEMERAL"  # Codex keeps no session files
    BACKEND = "BACKEND"  # a server of the backend ``{backend}`` (a noun phrase)
    CODEX_BIN = "CODEX_BIN"  # the Codex binary to run
    RAY_ADDRESS = "RAY_ADDRESS"  # the Ray cluster to join
    GIT_REMOTE = "GIT_REMOTE"  # the git remote the Ray backend moves code through
    TASK_DIR = "TASK_DIR"  # where the task store and logs live


#: The engine's own spelling: plain words that name no face.
ENGINE_WORDS: Mapping[Term, str] = {
    Term.REPLY: "a reply",
    Term.LAUNCH: "a new task",
    Term.LIST: "the task list",
    Term.DIFF: "its diff",
    Term.WAIT: "its status",
    Term.SETUP_CHECK: "the set-up check",
    Term.TASK_ID: "task id",
    Term.THREAD_ID: "thread id",
    Term.PROMPT: "prompt",
    Term.MESSAGE: "message",
    Term.INSTRUCTIONS: "instructions",
    Term.COUNT: "count",
    Term.CWD: "working directory",
    Term.SANDBOX: "sandbox",
    Term.BASE_REF: "base ref",
    Term.INCLUDE_UNCOMMITTED: "carrying uncommitted changes",
    Term.CHECK: "check",
    Term.STRATEGY: "strategy",
    Term.TARGET: "target",
    Term.WORKTREE: "in a worktree of its own",
    Term.WORKTREE_FROM: "in a worktree made from its branch {branch!r}",
    Term.EPHEMERAL: "ephemeral sessions",
    Term.BACKEND: "a server of the {backend} backend",
    Term.CODEX_BIN: "another Codex binary (CODEX_SWARM_CODEX_BIN)",
    Term.RAY_ADDRESS: "the cluster's address (RAY_ADDRESS)",
    Term.GIT_REMOTE: "another git remote (CODEX_SWARM_GIT_REMOTE)",
    Term.TASK_DIR: "the task dir (CODEX_SWARM_TASK_DIR)",
}


class _Words(Mapping[str, Any]):
    """What a template's fields name: a term, spelt (and filled with the facts), or a fact."""

    def __init__(self, facts: Mapping[str, Any], spelling: Mapping[Term, str]) -> None:
        self.facts = facts
        self.spelling = spelling

    def __getitem__(self, key: str) -> Any:
        if key in Term.__members__:
            return _render(self.spelling[Term(key)], self.facts, self.spelling)
        value = self.facts[key]
        return value.words(self.spelling) if isinstance(value, EngineError) else value

    def __iter__(self) -> Any:
        return iter(self.facts)

    def __len__(self) -> int:
        return len(self.facts)


def _render(template: str, facts: Mapping[str, Any], spelling: Mapping[Term, str]) -> str:
    return string.Formatter().vformat(template, (), _Words(facts, spelling))


class EngineError(Exception):
    """The root of the engine's errors: a ``code``, the ``facts`` (task id, phase, ...) and a
    ``template`` in which :class:`Term` fields are spelt by whoever shows it."""

    default_code = Code.INVALID

    def __init__(self, template: str, *, code: Code | None = None, **facts: Any) -> None:
        self.template = template
        self.code = code if code is not None else self.default_code
        self.facts = facts
        super().__init__(self.words(ENGINE_WORDS))

    def words(self, spelling: Mapping[Term, str]) -> str:
        """The message in a face's words (``spelling`` maps every :class:`Term` to them)."""
        return _render(self.template, self.facts, spelling)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (to another process: a Ray worker's answer) as it is, not formatted again."""
        return (_restore, (type(self), self.args, dict(self.__dict__)))

    @classmethod
    def because(cls: type[E], exc: BaseException, *, code: Code | None = None, **facts: Any) -> E:
        """This kind of error saying what ``exc`` says (an engine error keeps its terms)."""
        if isinstance(exc, EngineError):
            return cls(exc.template, code=code or exc.code, **{**exc.facts, **facts})
        return cls("{reason}", code=code, reason=str(exc), **facts)


def _restore(cls: type[E], args: tuple[Any, ...], state: dict[str, Any]) -> E:
    error = Exception.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class TaskError(EngineError):
    """A request the engine cannot carry out; the message says what to do instead."""


def spelt(exc: BaseException, spelling: Mapping[Term, str]) -> str:
    """What ``exc`` says, in ``spelling``'s words when it is an engine error."""
    return exc.words(spelling) if isinstance(exc, EngineError) else str(exc)
