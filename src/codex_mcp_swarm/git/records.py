"""The git layer's result records as JSON-ready dicts.

Owns: :class:`ToDict`, the ``to_dict()`` every result dataclass of this package inherits
(paths become strings, nested records and lists are converted).

Must not: run git or hold any behaviour beyond the conversion.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return value


class ToDict:
    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = _jsonable(self)
        return result
