"""Filter fields on who caused an event: process, thread, user, group, cgroup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kindling.server.catalog import Catalog
from kindling.server.drivers.base import PID_LIMIT
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


class _IdSet:
    """A set of integer ids matched against one column."""

    key = ""
    column = ""
    dtype: Any = np.uint32
    lowest = 0
    limit = 1 << 32
    what = "an id"

    def check(self, value: Sequence[int], where: str, catalog: Catalog) -> frozenset[int] | None:
        check_count(value, where)
        for i, number in enumerate(value):
            if not self.lowest <= number < self.limit:
                raise FilterError(
                    f"{where}[{i}]: {number} is not {self.what} "
                    f"(they run from {self.lowest} to {self.limit - 1})"
                )
        return frozenset(value) or None

    def index(self, values: Sequence[frozenset[int] | None], catalog: Catalog) -> FieldIndex:
        return SetIndex(self.column, values, self.dtype)


@register
class Pids(_IdSet):
    key, column, lowest, limit, what = "pids", "pids", 1, PID_LIMIT, "a process id"


@register
class Tids(_IdSet):
    key, column, lowest, limit, what = "tids", "tids", 1, PID_LIMIT, "a thread id"


@register
class Ppids(_IdSet):
    key, column, lowest, limit, what = "ppids", "ppids", 1, PID_LIMIT, "a process id"


class _TreeIndex:
    """Filters that each name process trees: an event matches when its
    process or one of its ancestors is a root of the filter's trees."""

    def __init__(self, values: Sequence[frozenset[int] | None]) -> None:
        self._pids = SetIndex("pids", values, np.uint32)
        self._ancestors = SetIndex("ancestors", values, np.uint32)
        self._free = free_bits(values)

    def bits(self, columns: EventColumns) -> Bits:
        bits = self._pids.bits(columns)
        ancestors = columns.ancestors
        flat = EventColumns.empty(0)
        flat.ancestors = ancestors.ravel()
        found = self._ancestors.bits(flat).reshape(ancestors.shape)
        # Zero entries (no more ancestors) match only filters without trees.
        found = np.where(ancestors == 0, self._free, found)
        bits |= np.bitwise_or.reduce(found, axis=1) if ancestors.shape[1] else self._free
        return bits


@register
class ProcessTrees(_IdSet):
    key, lowest, limit, what = "process_trees", 1, PID_LIMIT, "a process id"

    def index(self, values: Sequence[frozenset[int] | None], catalog: Catalog) -> FieldIndex:
        return _TreeIndex(values)


@register
class Uids(_IdSet):
    key, column, what = "uids", "uids", "a user id"


@register
class Gids(_IdSet):
    key, column, what = "gids", "gids", "a group id"


@register
class CgroupIds(_IdSet):
    key, column, dtype, lowest, limit, what = (
        "cgroup_ids",
        "cgroup_ids",
        np.uint64,
        1,
        1 << 64,
        "a cgroup id",
    )


@register
class ContainerIds:
    """Containers by Thread.container_id: the 12-digit short id or the full
    id, of which the first 12 digits are compared."""

    key = "container_ids"

    def check(self, value: Sequence[str], where: str, catalog: Catalog) -> frozenset[str] | None:
        check_count(value, where)
        ids = set()
        for i, given in enumerate(value):
            if not (12 <= len(given) <= 64) or any(c not in "0123456789abcdef" for c in given):
                raise FilterError(
                    f"{where}[{i}]: a container id is 12 to 64 lowercase hexadecimal digits"
                )
            ids.add(given[:12])
        return frozenset(ids) or None

    def index(self, values: Sequence[frozenset[str] | None], catalog: Catalog) -> FieldIndex:
        return _StringSetIndex("container_ids", values)


class _StringSetIndex:
    def __init__(self, column: str, values: Sequence[frozenset[str] | None]) -> None:
        self._column = column
        self._free = int(free_bits(values))
        self._masks: dict[str, int] = {}
        for j, chosen in enumerate(values):
            for value in chosen or ():
                self._masks[value] = self._masks.get(value, 0) | 1 << j

    def bits(self, columns: EventColumns) -> Bits:
        column = getattr(columns, self._column)
        if not len(column):
            return np.zeros(0, dtype=np.uint64)
        distinct, inverse = np.unique(column, return_inverse=True)
        masks = np.array(
            [self._masks.get(v, 0) | self._free for v in distinct.tolist()], dtype=np.uint64
        )
        bits: Bits = masks[inverse.ravel()]
        return bits
