"""What the kernel must capture, planned from what every subscription can
select, what Configure allows, and what the context tables need.

Each subscription contributes `Demand`s: events it can select, for which
processes and cgroups (one per allow filter). The events they deliver need
context: thread context for every event, which the process life cycle events
keep right, and fd context for events that carry it, which the fd syscalls
keep right, for the same processes. The plan is the union of all of it,
pushed into the kernel as a KernelFilter: a subscriber asking for one
process's writes makes the kernel capture that process's writes and fd
syscalls, and nothing else.

The union is an over-approximation (per event, pid and cgroup sets are
merged across demands), so the service still filters each subscriber's
stream exactly; the plan only guarantees that nothing a subscriber can select
is filtered out in the kernel. The `TableScope` says for which processes the
tables are complete, so the pipeline never keeps context it cannot keep right.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from kindling.server.catalog import Catalog, Table
from kindling.server.drivers.base import KernelFilter, KernelLimits
from kindling.server.record import Records


class PayloadMode(enum.IntEnum):
    """Which I/O calls carry their payload (probe.v1.PayloadMode's values)."""

    NONE = 0
    SOCKETS = 1
    ALL = 2


@dataclass(frozen=True)
class Demand:
    """Events a subscription can select, and for whom (None: anyone), and
    for which descriptors it wants their payloads."""

    events: frozenset[int]
    pids: frozenset[int] | None = None
    cgroups: frozenset[int] | None = None
    payload: PayloadMode = PayloadMode.NONE


# The snaplen a service starts with: room for an HTTP/1.x request line and
# its first headers (curl and most client libraries send 100-250 bytes of
# request head, browsers more), a whole classic DNS message (at most 512
# bytes over UDP) and the start of a Redis command or a MySQL query packet.
DEFAULT_SNAPLEN = 512


@dataclass(frozen=True)
class ServiceFilters:
    """The kernel filters and settings Configure sets for every subscriber."""

    deny_pids: frozenset[int] = frozenset()
    deny_comms: frozenset[bytes] = frozenset()
    drop_failed_io: bool = False
    snaplen: int = DEFAULT_SNAPLEN


@dataclass(frozen=True)
class _CompiledRegion:
    everyone: bool
    pids: npt.NDArray[np.uint32]  # of the parts with any cgroup
    by_cgroup: tuple[tuple[npt.NDArray[np.uint32] | None, npt.NDArray[np.uint64]], ...]
    deny_pids: npt.NDArray[np.uint32]


def _sorted(values: Iterable[int], dtype: Any) -> npt.NDArray[Any]:
    return np.array(sorted(values), dtype=dtype)


def _members(values: npt.NDArray[Any], keys: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """values[i] in keys (sorted), for each i: one binary search each."""
    if not len(keys):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
    found: npt.NDArray[np.bool_] = keys[at] == values
    return found


@dataclass(frozen=True)
class Region:
    """The threads a table keeps context for: those of a process and cgroup
    that one of `parts` covers (None: any), unless the process is denied."""

    parts: tuple[tuple[frozenset[int] | None, frozenset[int] | None], ...] = ()
    deny_pids: frozenset[int] = frozenset()

    @classmethod
    def of(cls, demands: Iterable[Demand], deny_pids: frozenset[int]) -> Region:
        parts = {(d.pids, d.cgroups) for d in demands}
        if (None, None) in parts:
            parts = {(None, None)}
        return cls(tuple(sorted(parts, key=repr)), deny_pids)

    @property
    def empty(self) -> bool:
        return not self.parts

    def covers(self, pid: int, cgroup: int) -> bool:
        if pid in self.deny_pids:
            return False
        return any(
            (pids is None or pid in pids) and (cgroups is None or cgroup in cgroups)
            for pids, cgroups in self.parts
        )

    @cached_property
    def _compiled(self) -> _CompiledRegion:
        """The parts as sorted arrays, made once: the pid-only parts merged
        into one (a subscriber of 64 filters of 4,096 pids is 64 parts)."""
        everyone = False
        union: set[int] = set()
        by_cgroup = []
        for pids, cgroups in self.parts:
            if cgroups is None:
                everyone |= pids is None
                union |= pids or set()
            else:
                by_cgroup.append((None if pids is None else _sorted(pids, np.uint32),
                                  _sorted(cgroups, np.uint64)))  # fmt: skip
        return _CompiledRegion(
            everyone,
            _sorted(union, np.uint32),
            tuple(by_cgroup),
            _sorted(self.deny_pids, np.uint32),
        )

    def mask(self, records: Records) -> npt.NDArray[np.bool_]:
        """covers() for every record."""
        pids, cgroups = records["pid"], records["cgroup_id"]
        compiled = self._compiled
        if compiled.everyone:
            result = np.ones(len(records), dtype=bool)
        else:
            result = _members(pids, compiled.pids)
        for part_pids, part_cgroups in compiled.by_cgroup:
            part = _members(cgroups, part_cgroups)
            if part_pids is not None:
                part &= _members(pids, part_pids)
            result |= part
        if len(compiled.deny_pids):
            result &= ~_members(pids, compiled.deny_pids)
        return result

    def contains(self, other: Region) -> bool:
        """Whether every thread `other` covers is covered here too (a cheap,
        conservative test: False may be wrong, True never is)."""
        if not self.deny_pids <= other.deny_pids:
            return False
        return all(
            any(
                _superset(pids, other_pids) and _superset(cgroups, other_cgroups)
                for pids, cgroups in self.parts
            )
            for other_pids, other_cgroups in other.parts
        )


def _superset(mine: frozenset[int] | None, theirs: frozenset[int] | None) -> bool:
    if mine is None:
        return True
    return theirs is not None and mine >= theirs


@dataclass(frozen=True)
class TableScope:
    """For whom the thread and fd tables are complete: every event that
    changes them is captured there. Events delivered to a subscriber always
    lie inside (the thread region for all events, the fd region for events
    with fd context)."""

    threads: Region = field(default_factory=Region)
    fds: Region = field(default_factory=Region)
    # Names whose threads the kernel skips: a change may leave tables stale.
    deny_comms: frozenset[bytes] = frozenset()

    @classmethod
    def everyone(cls) -> TableScope:
        return cls(Region(((None, None),)), Region(((None, None),)))

    def contains(self, other: TableScope) -> tuple[bool, bool]:
        """Whether the thread and the fd regions each still cover `other`'s."""
        comms = self.deny_comms <= other.deny_comms
        return (
            comms and self.threads.contains(other.threads),
            comms and self.fds.contains(other.fds),
        )


@dataclass(frozen=True)
class Plan:
    kernel: KernelFilter
    tables: TableScope


def plan(
    catalog: Catalog,
    demands: Sequence[Demand],
    *,
    configured: frozenset[int],
    service: ServiceFilters,
    subscriber_denied_pids: Sequence[frozenset[int]] = (),
    limits: KernelLimits,
) -> Plan:
    """The kernel filter and table scope for the given subscriptions.

    `subscriber_denied_pids` holds, per subscription, the processes it
    denies for every event: the kernel skips the ones every subscription
    denies."""
    delivery = [
        Demand(d.events & configured, d.pids, d.cgroups, d.payload)
        for d in demands
        if d.events & configured
    ]
    fd_context = {s.id for s in catalog.specs if s.fd_context}
    thread_events = frozenset(s.id for s in catalog.specs if s.table is Table.THREADS)
    fd_events = frozenset(s.id for s in catalog.specs if s.table is Table.FDS)
    fd_demands = [d for d in delivery if d.events & fd_context]
    needed = [
        *delivery,
        *(Demand(thread_events, d.pids, d.cgroups) for d in delivery),
        *(Demand(fd_events, d.pids, d.cgroups) for d in fd_demands),
    ]

    capture: set[int] = set()
    pid_scoped: set[int] = set()
    cgroup_scoped: set[int] = set()
    for event_id in sorted({e for d in needed for e in d.events}):
        wanting = [d for d in needed if event_id in d.events]
        capture.add(event_id)
        if all(d.pids is not None for d in wanting):
            pid_scoped.add(event_id)
        if all(d.cgroups is not None for d in wanting):
            cgroup_scoped.add(event_id)
    allow_pids = frozenset().union(*(d.pids for d in needed if d.pids is not None))
    allow_cgroups = frozenset().union(*(d.cgroups for d in needed if d.cgroups is not None))
    if len(allow_pids) > limits.allow_pids:
        pid_scoped, allow_pids = set(), frozenset()
    if allow_cgroups and max(allow_cgroups) >= limits.cgroup_ids:
        cgroup_scoped, allow_cgroups = set(), frozenset()

    deny_pids = service.deny_pids
    if subscriber_denied_pids:
        everyone = frozenset.intersection(*subscriber_denied_pids)
        if len(deny_pids | everyone) <= limits.deny_pids:
            deny_pids |= everyone
    io_events = frozenset(s.id for s in catalog.specs if s.io)
    with_payload = frozenset(s.id for s in catalog.specs if s.payload)
    payload: set[int] = set()
    payload_any_fd: set[int] = set()
    if service.snaplen:
        for d in delivery:
            if d.payload is not PayloadMode.NONE:
                payload |= d.events & with_payload
            if d.payload is PayloadMode.ALL:
                payload_any_fd |= d.events & with_payload
    kernel = KernelFilter(
        capture=frozenset(capture),
        delivered=frozenset().union(*(d.events for d in delivery)),
        pid_scoped=frozenset(pid_scoped),
        cgroup_scoped=frozenset(cgroup_scoped),
        drop_failed=io_events & frozenset(capture) if service.drop_failed_io else frozenset(),
        allow_pids=allow_pids,
        allow_cgroups=allow_cgroups,
        deny_pids=deny_pids,
        deny_comms=service.deny_comms,
        payload=frozenset(payload),
        payload_any_fd=frozenset(payload_any_fd),
        snaplen=service.snaplen,
    )
    tables = TableScope(
        threads=Region.of(delivery, deny_pids),
        fds=Region.of(fd_demands, deny_pids),
        deny_comms=service.deny_comms,
    )
    return Plan(kernel, tables)
