"""Filter fields on who caused an event: process, thread, user, group, cgroup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kindling.server.catalog import Catalog
from kindling.server.drivers.base import PID_LIMIT
from kindling.server.pipeline.fanout.filters.base import (
    FieldIndex,
    FilterError,
    SetIndex,
    check_count,
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
