"""Filter fields on what an event is: its name, its source, its category."""

from __future__ import annotations

from collections.abc import Sequence

from kindling.event.v1 import event_pb2
from kindling.server.catalog import Catalog
from kindling.server.errors import shown
from kindling.server.pipeline.fanout.filters.base import (
    FieldIndex,
    FilterError,
    TableIndex,
    check_count,
    register,
)

# The categories I/O on a descriptor can take (catalog.EventSpec.category_from_fd).
FD_CATEGORIES = frozenset({event_pb2.CATEGORY_FILE, event_pb2.CATEGORY_NET, event_pb2.CATEGORY_IPC})


@register
class Names:
    key = "names"

    def check(self, value: Sequence[str], where: str, catalog: Catalog) -> frozenset[int] | None:
        check_count(value, where)
        ids = set()
        for i, name in enumerate(value):
            spec = catalog.by_name.get(name)
            if spec is None:
                raise FilterError(
                    f"{where}[{i}]: unknown event name {shown(name)}; {catalog.known_events()}"
                )
            ids.add(spec.id)
        return frozenset(ids) or None

    def index(self, values: Sequence[frozenset[int] | None], catalog: Catalog) -> FieldIndex:
        return TableIndex("event_ids", values, catalog.max_id + 1)


def enum_values(value: Sequence[int], where: str, enum: type, what: str) -> frozenset[int] | None:
    check_count(value, where)
    known = set(enum.values()) - {0}  # type: ignore[attr-defined]
    for i, number in enumerate(value):
        if number not in known:
            names = ", ".join(enum.Name(n) for n in sorted(known))  # type: ignore[attr-defined]
            raise FilterError(f"{where}[{i}]: {number} is not {what}; use one of {names}")
    return frozenset(value) or None


@register
class Sources:
    key = "sources"

    def check(self, value: Sequence[int], where: str, catalog: Catalog) -> frozenset[int] | None:
        return enum_values(value, where, event_pb2.Source, "a source")

    def index(self, values: Sequence[frozenset[int] | None], catalog: Catalog) -> FieldIndex:
        # A source is the event type's: a table over event ids.
        by_id = [
            None if chosen is None else frozenset(s.id for s in catalog.specs if s.source in chosen)
            for chosen in values
        ]
        return TableIndex("event_ids", by_id, catalog.max_id + 1)


@register
class Categories:
    key = "categories"

    def check(self, value: Sequence[int], where: str, catalog: Catalog) -> frozenset[int] | None:
        return enum_values(value, where, event_pb2.Category, "a category")

    def index(self, values: Sequence[frozenset[int] | None], catalog: Catalog) -> FieldIndex:
        return TableIndex("categories", values, max(event_pb2.Category.values()) + 1)


def possible_ids(
    catalog: Catalog,
    names: frozenset[int] | None,
    sources: frozenset[int] | None,
    categories: frozenset[int] | None,
) -> frozenset[int]:
    """The events a filter setting these fields can match."""
    ids = set(catalog.by_id) if names is None else set(names) & catalog.by_id.keys()
    if sources is not None:
        ids = {i for i in ids if catalog.by_id[i].source in sources}
    if categories is not None:
        ids = {i for i in ids if _categories(catalog, i) & categories}
    return frozenset(ids)


def certain_ids(
    catalog: Catalog,
    names: frozenset[int] | None,
    sources: frozenset[int] | None,
    categories: frozenset[int] | None,
) -> frozenset[int]:
    """The events a filter setting only these fields matches whatever
    their context: a deny filter removes them from the kernel's work."""
    ids = set(catalog.by_id) if names is None else set(names) & catalog.by_id.keys()
    if sources is not None:
        ids = {i for i in ids if catalog.by_id[i].source in sources}
    if categories is not None:
        ids = {i for i in ids if _categories(catalog, i) <= categories}
    return frozenset(ids)


def _categories(catalog: Catalog, event_id: int) -> frozenset[int]:
    spec = catalog.by_id[event_id]
    return FD_CATEGORIES | {spec.category} if spec.category_from_fd else frozenset({spec.category})
