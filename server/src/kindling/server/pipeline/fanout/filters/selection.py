"""A subscription's compiled selection: which events of a batch it takes,
and what the kernel must capture for it (pushdown)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from kindling.server.catalog import Catalog
from kindling.server.pipeline.encode.batch import EventBatch
from kindling.server.pipeline.encode.mask import EventMask, compile_mask
from kindling.server.pipeline.fanout.filters.base import (
    FIELDS,
    MAX_FILTERS,
    FieldIndex,
    FilterError,
)
from kindling.server.pipeline.fanout.filters.event_type import certain_ids, possible_ids
from kindling.server.pipeline.fanout.filters.spec import FilterSpec, SelectionSpec
from kindling.server.pipeline.plan import Demand, PayloadMode

# The id of events whose name the catalogue does not know (replays).
UNKNOWN_EVENT = 0

# Fields the kernel can narrow its work by (the rest are for the service).
_PUSHED_DOWN = frozenset({"names", "sources", "categories", "pids", "cgroup_ids"})
_EVENT_TYPE = frozenset({"names", "sources", "categories"})


@dataclass(frozen=True)
class CheckedFilter:
    """One filter's checked values by field key (None: not set)."""

    values: dict[str, Any]

    def get(self, key: str) -> Any:
        return self.values[key]

    def sets_only(self, keys: frozenset[str]) -> bool:
        return all(v is None or k in keys for k, v in self.values.items())


def own_events(catalog: Catalog) -> frozenset[int]:
    """What an allow filter naming no event selects: the probe's own events.
    The generic syscall events are delivered only where they are named: a
    stream that wants "everything" must not make the kernel trace every
    syscall of the machine (and attach hundreds of tracepoints). Id 0 is
    an event whose name the catalogue does not know (a replay of a newer
    probe's recording)."""
    return frozenset(s.id for s in catalog.specs if not s.generic) | {UNKNOWN_EVENT}


class FilterList:
    """An allow or deny list, compiled: one index per field some filter sets
    (and for allow lists always one on names, see own_events)."""

    def __init__(self, checked: Sequence[CheckedFilter], catalog: Catalog, *, allow: bool) -> None:
        if allow:
            own = own_events(catalog)
            checked = [
                f if f.get("names") is not None else CheckedFilter({**f.values, "names": own})
                for f in checked
            ]
        self.filters = tuple(checked)
        self._all = np.uint64((1 << len(checked)) - 1)
        self._indexes: list[FieldIndex] = []
        for field in FIELDS:
            values = [f.get(field.key) for f in checked]
            if any(v is not None for v in values):
                self._indexes.append(field.index(values, catalog))

    def __bool__(self) -> bool:
        return bool(self.filters)

    def matches(self, batch: EventBatch) -> npt.NDArray[np.bool_]:
        bits = np.full(len(batch), self._all, dtype=np.uint64)
        for index in self._indexes:
            bits &= index.bits(batch.columns)
        matched: npt.NDArray[np.bool_] = bits != 0
        return matched


class Selection:
    """The events a subscription takes from each batch: those matching an
    allow filter (every event, with none) and no deny filter; and what of
    them it takes: their payloads or not, the fields its mask keeps (None:
    every field)."""

    def __init__(
        self,
        allow: FilterList,
        deny: FilterList,
        payload: PayloadMode,
        catalog: Catalog,
        fields: EventMask | None = None,
    ) -> None:
        self.allow = allow
        self.deny = deny
        self.payload = payload
        self.fields = fields
        self._catalog = catalog

    def mask(self, batch: EventBatch) -> npt.NDArray[np.bool_]:
        selected = self.allow.matches(batch)
        if self.deny and selected.any():
            selected &= ~self.deny.matches(batch)
        return selected

    def demands(self, all_ids: frozenset[int]) -> list[Demand]:
        """What this selection can ever select, one Demand per allow filter:
        the kernel must capture at least that."""
        denied: set[int] = set()
        for f in self.deny.filters:
            if f.sets_only(_EVENT_TYPE):
                denied |= certain_ids(
                    self._catalog, f.get("names"), f.get("sources"), f.get("categories")
                )
        demands = []
        for f in self.allow.filters:
            events = possible_ids(
                self._catalog, f.get("names"), f.get("sources"), f.get("categories")
            )
            events = (events & all_ids) - denied
            if events:
                demands.append(Demand(events, f.get("pids"), f.get("cgroup_ids"), self.payload))
        return demands

    def denied_pids(self) -> frozenset[int]:
        """Processes this selection never selects, whatever the event."""
        denied: set[int] = set()
        for f in self.deny.filters:
            if f.get("pids") is not None and f.sets_only(frozenset({"pids"})):
                denied |= f.get("pids")
        return frozenset(denied)


def check_filter(spec: FilterSpec, where: str, catalog: Catalog) -> CheckedFilter:
    known = {f.name for f in fields(FilterSpec)}
    values = {}
    for field in FIELDS:
        assert field.key in known, field.key
        values[field.key] = field.check(getattr(spec, field.key), f"{where}.{field.key}", catalog)
    return CheckedFilter(values)


def _check_list(specs: Sequence[FilterSpec], where: str, catalog: Catalog) -> list[CheckedFilter]:
    if len(specs) > MAX_FILTERS:
        raise FilterError(f"{where}: at most {MAX_FILTERS} filters")
    return [check_filter(s, f"{where}[{i}]", catalog) for i, s in enumerate(specs)]


def compile_selection(spec: SelectionSpec, catalog: Catalog) -> Selection:
    """Check a subscription's filters and compile them, once per
    subscription; raises FilterError naming the first invalid field."""
    # An empty allow list allows what one filter with nothing set allows.
    allow = _check_list(spec.allow or (FilterSpec(),), "allow_list", catalog)
    deny = _check_list(spec.deny, "deny_list", catalog)
    return Selection(
        FilterList(allow, catalog, allow=True),
        FilterList(deny, catalog, allow=False),
        spec.payload,
        catalog,
        compile_mask(spec.fields, catalog.max_id + 1),
    )
