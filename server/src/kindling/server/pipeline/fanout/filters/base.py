"""How a filter field works, and the registry of fields.

A subscription's allow list (or deny list) holds at most 64 filters. Each
field builds one index over every filter of the list that sets it, and
answers per batch with a bit mask per event: bit j is set when filter j
accepts the event on that field (or does not set the field). An event
matches the list when the AND of every field's masks leaves a bit set.
So a batch costs each field one pass over its column (a table lookup, a
binary search, or one regex match per distinct value), however many
filters and values the list holds.

A new field is one small class here in the package, registered with
@register, plus its EventFilter field and its line in api/requests.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from kindling.server.catalog import Catalog
from kindling.server.pipeline.encode.batch import EventColumns

# At most this many filters per list: one bit each in a uint64.
MAX_FILTERS = 64
# At most this many values per list field of one filter.
MAX_VALUES = 4096

Bits = npt.NDArray[np.uint64]


class FilterError(ValueError):
    """A filter is invalid; the message names the offending field."""


class FieldIndex(Protocol):
    def bits(self, columns: EventColumns) -> Bits:
        """Per event, the filters that accept it on this field."""
        ...


class Field(Protocol):
    """One EventFilter field: `key` names it (in FilterSpec and in errors)."""

    key: str

    def check(self, value: Any, where: str, catalog: Catalog) -> Any:
        """The value normalised for index(), or None when the filter does not
        set the field; raises FilterError naming `where` when it is invalid."""
        ...

    def index(self, values: Sequence[Any], catalog: Catalog) -> FieldIndex:
        """An index over one list's filters: values[j] is filter j's checked
        value, None for the filters that do not set the field."""
        ...


FIELDS: list[Field] = []

F = TypeVar("F")


def register(cls: Callable[[], F]) -> Callable[[], F]:
    """Add a field class to the registry (fields are evaluated in order)."""
    FIELDS.append(cls())  # type: ignore[arg-type]
    return cls


def bit(j: int) -> np.uint64:
    return np.uint64(1 << j)


def free_bits(values: Sequence[Any]) -> np.uint64:
    """The bits of the filters that do not set a field."""
    mask = 0
    for j, value in enumerate(values):
        if value is None:
            mask |= 1 << j
    return np.uint64(mask)


def check_count(values: Sequence[Any], where: str, limit: int = MAX_VALUES) -> None:
    if len(values) > limit:
        raise FilterError(f"{where}: at most {limit} values per filter")


class SetIndex:
    """Filters that each name a set of values of one integer column: one
    sorted array of every value named, with the filters naming each."""

    def __init__(self, column: str, values: Sequence[frozenset[int] | None], dtype: Any) -> None:
        self._column = column
        self._free = free_bits(values)
        masks: dict[int, int] = {}
        for j, chosen in enumerate(values):
            for value in chosen or ():
                masks[value] = masks.get(value, 0) | 1 << j
        keys = sorted(masks)
        self._keys = np.array(keys, dtype=dtype)
        self._masks = np.array([masks[k] for k in keys], dtype=np.uint64)

    def bits(self, columns: EventColumns) -> Bits:
        column = getattr(columns, self._column)
        if not len(self._keys):
            return np.full(len(column), self._free, dtype=np.uint64)
        at = np.minimum(np.searchsorted(self._keys, column), len(self._keys) - 1)
        found = self._keys[at] == column
        bits: Bits = np.where(found, self._masks[at], np.uint64(0)) | self._free
        return bits


class TableIndex:
    """Filters on a small integer column (an event id, a category): a table
    of the filters accepting each value."""

    def __init__(self, column: str, values: Sequence[frozenset[int] | None], size: int) -> None:
        self._column = column
        self._free = free = free_bits(values)
        self._table = np.full(size, free, dtype=np.uint64)
        for j, chosen in enumerate(values):
            for value in chosen or ():
                self._table[value] |= bit(j)

    def bits(self, columns: EventColumns) -> Bits:
        column = getattr(columns, self._column).astype(np.intp)
        inside = column < len(self._table)
        table: Bits = self._table[np.where(inside, column, 0)]
        # Values beyond the table match only the filters that do not set the field.
        return np.where(inside, table, self._free)
