"""Bounded label sets: a metric attribute keeps at most N distinct values per scope.

OpenTelemetry's SDK also caps each metric's attribute sets, but it folds
the overflow of every attribute into one series; a budget per attribute
keeps the rest of a series' labels meaningful ("_other" only where the
values were too many).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["LabelBudget"]

_Scope = TypeVar("_Scope", bound=Hashable)


class LabelBudget(Generic[_Scope]):
    """The first ``limit`` distinct values of each scope pass; later new ones become ``other``.

    Scopes themselves are bounded too (``max_scopes``): past it the oldest is forgotten,
    so a churn of services cannot grow memory without end.
    """

    def __init__(self, limit: int, other: str, max_scopes: int = 4096) -> None:
        if limit < 0:
            raise ValueError(f"limit: {limit} is negative")
        self.limit = limit
        self.other = other
        self._max_scopes = max_scopes
        self._seen: dict[_Scope, set[str]] = {}

    def admit(self, scope: _Scope, value: str) -> str:
        """``value`` if the scope has room for it (or has it already), else ``other``."""
        values = self._seen.get(scope)
        if values is None:
            if len(self._seen) >= self._max_scopes:
                del self._seen[next(iter(self._seen))]
            values = self._seen[scope] = set()
        if value in values:
            return value
        if len(values) >= self.limit:
            return self.other
        values.add(value)
        return value
