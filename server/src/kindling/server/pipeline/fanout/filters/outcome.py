"""Filter fields on how a call ended: its return value, its latency, and
whether the event carries a payload."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from kindling.server.catalog import Catalog
from kindling.server.pipeline.encode.batch import EventColumns
from kindling.server.pipeline.fanout.filters.base import (
    Bits,
    FieldIndex,
    FilterError,
    SetIndex,
    check_count,
    free_bits,
    register,
)
from kindling.server.pipeline.fanout.filters.spec import ReturnValueSpec


class _AtLeast:
    """Filters j that each want column >= threshold[j]: the thresholds
    sorted, with the filters accepting each value up to them."""

    def __init__(self, column: str, thresholds: Sequence[int | None], dtype: Any) -> None:
        self._column = column
        self._free = free_bits(thresholds)
        pairs = sorted((t, j) for j, t in enumerate(thresholds) if t is not None)
        self._keys = np.array([t for t, _ in pairs], dtype=dtype)
        # _masks[k]: the filters whose threshold is keys[k] or lower.
        self._masks = np.bitwise_or.accumulate(np.array([1 << j for _, j in pairs], np.uint64))

    def bits(self, columns: EventColumns) -> Bits:
        column = getattr(columns, self._column)
        if not len(self._keys):
            return np.full(len(column), self._free, dtype=np.uint64)
        at = np.searchsorted(self._keys, column, side="right") - 1
        bits: Bits = np.where(at >= 0, self._masks[np.maximum(at, 0)], np.uint64(0)) | self._free
        return bits


class _AtMost:
    """Filters j that each want column <= limit[j]."""

    def __init__(self, column: str, limits: Sequence[int | None], dtype: Any) -> None:
        self._column = column
        self._free = free_bits(limits)
        pairs = sorted((t, j) for j, t in enumerate(limits) if t is not None)
        self._keys = np.array([t for t, _ in pairs], dtype=dtype)
        # _masks[k]: the filters whose limit is keys[k] or higher.
        ones = np.array([1 << j for _, j in pairs], np.uint64)
        self._masks = np.bitwise_or.accumulate(ones[::-1])[::-1]

    def bits(self, columns: EventColumns) -> Bits:
        column = getattr(columns, self._column)
        if not len(self._keys):
            return np.full(len(column), self._free, dtype=np.uint64)
        at = np.searchsorted(self._keys, column, side="left")
        inside = at < len(self._keys)
        bits: Bits = (
            np.where(inside, self._masks[np.minimum(at, len(self._keys) - 1)], np.uint64(0))
            | self._free
        )
        return bits


class _ReturnValueIndex:
    def __init__(self, values: Sequence[ReturnValueSpec | None]) -> None:
        self._errors = free_bits([v if v is not None and v.errors_only else None for v in values])
        self._values = SetIndex(
            "return_values",
            [frozenset(v.values) if v and v.values else None for v in values],
            np.int64,
        )
        self._min = _AtLeast("return_values", [v.min if v else None for v in values], np.int64)
        self._max = _AtMost("return_values", [v.max if v else None for v in values], np.int64)

    def bits(self, columns: EventColumns) -> Bits:
        failed: npt.NDArray[np.bool_] = columns.return_values < 0
        # Filters without errors_only accept successes too.
        bits: Bits = np.where(failed, ~np.uint64(0), self._errors)
        bits &= self._values.bits(columns)
        bits &= self._min.bits(columns)
        bits &= self._max.bits(columns)
        return bits


@register
class ReturnValue:
    key = "return_value"

    def check(self, value: ReturnValueSpec | None, where: str, catalog: Catalog) -> Any:
        if value is None:
            return None
        check_count(value.values, f"{where}.values")
        if value.min is not None and value.max is not None and value.min > value.max:
            raise FilterError(f"{where}: min {value.min} is more than max {value.max}")
        if not (
            value.errors_only or value.values or value.min is not None or value.max is not None
        ):
            return None
        return value

    def index(self, values: Sequence[ReturnValueSpec | None], catalog: Catalog) -> FieldIndex:
        return _ReturnValueIndex(values)


@register
class MinLatency:
    key = "min_latency_ns"

    def check(self, value: int, where: str, catalog: Catalog) -> int | None:
        return value or None

    def index(self, values: Sequence[int | None], catalog: Catalog) -> FieldIndex:
        return _AtLeast("latencies", values, np.uint64)


class _PayloadIndex:
    def __init__(self, values: Sequence[bool | None]) -> None:
        free = int(free_bits(values))
        self._with = np.uint64(free | sum(1 << j for j, v in enumerate(values) if v is True))
        self._without = np.uint64(free | sum(1 << j for j, v in enumerate(values) if v is False))

    def bits(self, columns: EventColumns) -> Bits:
        bits: Bits = np.where(columns.has_payload, self._with, self._without)
        return bits


@register
class HasPayload:
    key = "has_payload"

    def check(self, value: bool | None, where: str, catalog: Catalog) -> bool | None:
        return value

    def index(self, values: Sequence[bool | None], catalog: Catalog) -> FieldIndex:
        return _PayloadIndex(values)
