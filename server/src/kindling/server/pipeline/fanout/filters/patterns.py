"""Filter fields matched by RE2 regular expressions: thread names (comms)
and executable paths (exes).

RE2 runs in time linear in the text, whatever the expression, so a
subscriber's pattern cannot make the service spin (Python's re backtracks).
A batch evaluates each distinct value once; the answers are remembered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import re2

from kindling.server.catalog import Catalog
from kindling.server.errors import shown
from kindling.server.pipeline.encode.batch import EventColumns
from kindling.server.pipeline.fanout.filters.base import (
    Bits,
    FieldIndex,
    FilterError,
    check_count,
    free_bits,
    register,
)

MAX_PATTERNS = 64
MAX_PATTERN_BYTES = 256
# Distinct thread names remembered per index, before it starts afresh.
MAX_REMEMBERED = 4096

_OPTIONS = re2.Options()
_OPTIONS.max_mem = 1 << 20  # an expression's compiled size, bounded
_OPTIONS.log_errors = False  # errors are the subscriber's to read, not the log's


class _PatternIndex:
    def __init__(self, column: str, values: Sequence[tuple[Any, ...] | None]) -> None:
        self._column = column
        self._free = int(free_bits(values))
        self._patterns = [(j, patterns) for j, patterns in enumerate(values) if patterns]
        self._known: dict[bytes | str, int] = {}

    def _mask(self, value: bytes | str) -> int:
        mask = self._known.get(value)
        if mask is None:
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            mask = self._free
            for j, patterns in self._patterns:
                if any(p.fullmatch(text) for p in patterns):
                    mask |= 1 << j
            if len(self._known) >= MAX_REMEMBERED:
                self._known.clear()
            self._known[value] = mask
        return mask

    def bits(self, columns: EventColumns) -> Bits:
        names, inverse = np.unique(getattr(columns, self._column), return_inverse=True)
        masks = np.array([self._mask(n) for n in names.tolist()], dtype=np.uint64)
        bits: Bits = masks[inverse] if len(names) else np.zeros(0, dtype=np.uint64)
        return bits


class _Patterns:
    key = ""
    column = ""

    def check(self, value: Sequence[str], where: str, catalog: Catalog) -> tuple[Any, ...] | None:
        check_count(value, where, MAX_PATTERNS)
        patterns = []
        for i, pattern in enumerate(value):
            if len(pattern.encode()) > MAX_PATTERN_BYTES:
                raise FilterError(
                    f"{where}[{i}]: a pattern is at most {MAX_PATTERN_BYTES} bytes long"
                )
            try:
                patterns.append(re2.compile(pattern, _OPTIONS))
            except re2.error as error:
                raise FilterError(
                    f"{where}[{i}]: {shown(pattern)} is not an RE2 regular expression ({error})"
                ) from None
        return tuple(patterns) or None

    def index(self, values: Sequence[tuple[Any, ...] | None], catalog: Catalog) -> FieldIndex:
        return _PatternIndex(self.column, values)


@register
class Comms(_Patterns):
    key, column = "comms", "comms"


@register
class Exes(_Patterns):
    key, column = "exes", "exes"
