"""Where a task's supervisor runs. See :mod:`.base` for the interface every backend implements.

``local`` (the default): one runner process per task on this machine (:mod:`.local`).
``ray``: one detached actor per task on a Ray cluster's worker nodes (:mod:`.ray`); Ray is
imported only when this backend is chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...settings import Settings
    from ..store import Store
    from .base import Backend

BACKENDS = ("local", "ray")


def make_backend(settings: Settings, store: Store, ended: Callable[[str], None]) -> Backend:
    """The backend ``settings.backend`` names, constructed (not started)."""
    name = getattr(settings, "backend", "local")
    if name == "local":
        from .local import LocalBackend

        return LocalBackend(store, settings, ended)
    if name == "ray":
        from .ray import RayBackend

        return RayBackend(store, settings, ended)
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
