"""Subscriber filters: validated once at Subscribe, applied per batch with numpy.

Semantics follow SubscribeRequest: an event is selected when it matches at
least one allow filter (or the allow list is empty) and no deny filter; a
filter matches when the event satisfies each of its non-empty fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kindling.probe.v1 import probe_pb2
from kindling.server.catalog import Catalog
from kindling.server.pipeline.events import EventBatch

MAX_FILTERS = 64
MAX_VALUES = 4096


class FilterError(ValueError):
    """A filter is invalid; the message names the offending field."""


@dataclass(frozen=True)
class CompiledFilter:
    event_ids: npt.NDArray[np.uint16] | None  # None: any event
    pids: npt.NDArray[np.uint32] | None  # None: any process

    def mask(self, batch: EventBatch) -> npt.NDArray[np.bool_]:
        result = np.ones(len(batch), dtype=bool)
        if self.event_ids is not None:
            result &= np.isin(batch.event_ids, self.event_ids)
        if self.pids is not None:
            result &= np.isin(batch.pids, self.pids)
        return result


@dataclass(frozen=True)
class Selection:
    allow: tuple[CompiledFilter, ...] = ()
    deny: tuple[CompiledFilter, ...] = ()

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

    def wanted_event_ids(self, all_ids: frozenset[int]) -> frozenset[int]:
        """Events this selection can ever select: what the kernel must capture."""
        wanted: set[int] = set()
        if not self.allow:
            wanted = set(all_ids)
        for f in self.allow:
            wanted |= all_ids if f.event_ids is None else {int(i) for i in f.event_ids}
        for f in self.deny:
            if f.pids is None and f.event_ids is not None:
                wanted -= {int(i) for i in f.event_ids}
        return frozenset(wanted)


def _compile_filter(f: probe_pb2.EventFilter, where: str, catalog: Catalog) -> CompiledFilter:
    if len(f.names) > MAX_VALUES or len(f.pids) > MAX_VALUES:
        raise FilterError(f"{where}: at most {MAX_VALUES} names and {MAX_VALUES} pids per filter")
    ids: list[int] = []
    for i, name in enumerate(f.names):
        spec = catalog.by_name.get(name)
        if spec is None:
            raise FilterError(
                f"{where}.names[{i}]: unknown event name {name!r}; known events are "
                f"{', '.join(catalog.names)}"
            )
        ids.append(spec.id)
    for i, pid in enumerate(f.pids):
        if pid == 0:
            raise FilterError(f"{where}.pids[{i}]: 0 is not a process id")
    return CompiledFilter(
        event_ids=np.array(sorted(set(ids)), dtype=np.uint16) if ids else None,
        pids=np.array(sorted(set(f.pids)), dtype=np.uint32) if len(f.pids) else None,
    )


def _compile_list(
    filters: Sequence[probe_pb2.EventFilter], field: str, catalog: Catalog
) -> tuple[CompiledFilter, ...]:
    if len(filters) > MAX_FILTERS:
        raise FilterError(f"{field}: at most {MAX_FILTERS} filters")
    return tuple(_compile_filter(f, f"{field}[{i}]", catalog) for i, f in enumerate(filters))


def compile_request(request: probe_pb2.SubscribeRequest, catalog: Catalog) -> Selection:
    return Selection(
        allow=_compile_list(request.allow_list, "allow_list", catalog),
        deny=_compile_list(request.deny_list, "deny_list", catalog),
    )
