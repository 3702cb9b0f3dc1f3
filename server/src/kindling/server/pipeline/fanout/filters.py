"""Subscriber filters: validated once at Subscribe, applied per batch with numpy.

Semantics follow SubscribeRequest: an event is selected when it matches at
least one allow filter (or the allow list is empty) and no deny filter; a
filter matches when the event satisfies each of its non-empty fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kindling.probe.v1 import probe_pb2
from kindling.server.catalog import Catalog
from kindling.server.drivers.base import PID_LIMIT
from kindling.server.errors import shown
from kindling.server.pipeline.encode.batch import EventBatch
from kindling.server.pipeline.plan import Demand, PayloadMode

MAX_FILTERS = 64
MAX_VALUES = 4096


class FilterError(ValueError):
    """A filter is invalid; the message names the offending field."""


@dataclass(frozen=True)
class CompiledFilter:
    event_ids: npt.NDArray[np.uint16] | None = None  # None: any event
    pids: npt.NDArray[np.uint32] | None = None  # None: any process
    cgroups: npt.NDArray[np.uint64] | None = None  # None: any cgroup

    def mask(self, batch: EventBatch) -> npt.NDArray[np.bool_]:
        result = np.ones(len(batch), dtype=bool)
        if self.event_ids is not None:
            result &= np.isin(batch.event_ids, self.event_ids)
        if self.pids is not None:
            result &= np.isin(batch.pids, self.pids)
        if self.cgroups is not None:
            result &= np.isin(batch.cgroup_ids, self.cgroups)
        return result

    def demand(self, all_ids: frozenset[int]) -> Demand:
        return Demand(
            events=all_ids if self.event_ids is None else _ints(self.event_ids),
            pids=None if self.pids is None else _ints(self.pids),
            cgroups=None if self.cgroups is None else _ints(self.cgroups),
        )


def _ints(values: npt.NDArray[np.integer[Any]]) -> frozenset[int]:
    return frozenset(int(v) for v in values.tolist())


@dataclass(frozen=True)
class Selection:
    allow: tuple[CompiledFilter, ...] = ()
    deny: tuple[CompiledFilter, ...] = ()
    payload: PayloadMode = PayloadMode.NONE

    def mask(self, batch: EventBatch) -> npt.NDArray[np.bool_]:
        if self.allow:
            selected = np.zeros(len(batch), dtype=bool)
            for f in self.allow:
                selected |= f.mask(batch)
        else:
            selected = np.ones(len(batch), dtype=bool)
        for f in self.deny:
            selected &= ~f.mask(batch)
        return selected

    def demands(self, all_ids: frozenset[int]) -> list[Demand]:
        """What this selection can ever select, one Demand per allow filter:
        the kernel must capture at least that."""
        denied: set[int] = set()
        for f in self.deny:
            if f.pids is None and f.cgroups is None and f.event_ids is not None:
                denied |= _ints(f.event_ids)
        demands = []
        for f in self.allow or (CompiledFilter(),):
            demand = f.demand(all_ids)
            events = demand.events - denied
            if events:
                demands.append(Demand(events, demand.pids, demand.cgroups, self.payload))
        return demands

    def denied_pids(self) -> frozenset[int]:
        """Processes this selection never selects, whatever the event."""
        denied: set[int] = set()
        for f in self.deny:
            if f.event_ids is None and f.cgroups is None and f.pids is not None:
                denied |= _ints(f.pids)
        return frozenset(denied)


def _compile_filter(f: probe_pb2.EventFilter, where: str, catalog: Catalog) -> CompiledFilter:
    for field in ("names", "pids", "cgroup_ids"):
        if len(getattr(f, field)) > MAX_VALUES:
            raise FilterError(f"{where}.{field}: at most {MAX_VALUES} values per filter")
    ids: list[int] = []
    for i, name in enumerate(f.names):
        spec = catalog.by_name.get(name)
        if spec is None:
            raise FilterError(
                f"{where}.names[{i}]: unknown event name {shown(name)}; {catalog.known_events()}"
            )
        ids.append(spec.id)
    for i, pid in enumerate(f.pids):
        if pid == 0 or pid >= PID_LIMIT:
            raise FilterError(
                f"{where}.pids[{i}]: {pid} is not a process id (they run from 1 to {PID_LIMIT - 1})"
            )
    for i, cgroup in enumerate(f.cgroup_ids):
        if cgroup == 0:
            raise FilterError(f"{where}.cgroup_ids[{i}]: 0 is not a cgroup id")
    return CompiledFilter(
        event_ids=np.array(sorted(set(ids)), dtype=np.uint16) if ids else None,
        pids=np.array(sorted(set(f.pids)), dtype=np.uint32) if len(f.pids) else None,
        cgroups=np.array(sorted(set(f.cgroup_ids)), dtype=np.uint64) if len(f.cgroup_ids) else None,
    )


def _compile_list(
    filters: Sequence[probe_pb2.EventFilter], field: str, catalog: Catalog
) -> tuple[CompiledFilter, ...]:
    if len(filters) > MAX_FILTERS:
        raise FilterError(f"{field}: at most {MAX_FILTERS} filters")
    return tuple(_compile_filter(f, f"{field}[{i}]", catalog) for i, f in enumerate(filters))


def compile_request(request: probe_pb2.SubscribeRequest, catalog: Catalog) -> Selection:
    try:
        payload = PayloadMode(request.payload)
    except ValueError:
        known = ", ".join(probe_pb2.PayloadMode.keys())
        raise FilterError(
            f"payload: {request.payload} is not a payload mode; the modes are {known}"
        ) from None
    return Selection(
        allow=_compile_list(request.allow_list, "allow_list", catalog),
        deny=_compile_list(request.deny_list, "deny_list", catalog),
        payload=payload,
    )
