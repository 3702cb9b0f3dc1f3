"""What the pipeline needs from a driver, and what a driver hands it.

A driver captures kernel events and delivers them as RecordBatches, in
timestamp order, from a thread of its own. The BCC driver is the one that
talks to the kernel. The replay driver serves a recording: its events are
already built, so it hands the pipeline EventBatches, which skip the
enrichment and go straight to the subscribers' filters.

What the kernel captures is a `KernelFilter`, merged by the service from
every subscriber, Configure and the needs of its context tables; the driver
turns it into map updates and attaches only the tracepoints it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from kindling.server.pipeline.encode.batch import EventBatch
from kindling.server.record import DATA, PATH, Records, Tails


@dataclass(frozen=True)
class KernelFeature:
    name: str
    available: bool
    detail: str


@dataclass
class RecordBatch:
    """Records ordered by timestamp, plus what the kernel lost since the last batch."""

    records: Records
    # Per record, the raw bytes of its path and of its data (record.py).
    tails: Tails
    # Records the kernel dropped because its buffer was full.
    kernel_lost: int = 0
    # How long reading these records from the kernel's buffers took.
    drain_seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.records)

    @property
    def paths(self) -> Tails:
        """Each record's path bytes (None where it has none)."""
        paths: Tails = self.tails[:, PATH]
        return paths

    @property
    def data(self) -> Tails:
        """Each record's data bytes (None where it has none)."""
        data: Tails = self.tails[:, DATA]
        return data


@dataclass(frozen=True)
class KernelFilter:
    """What the kernel captures. Events not in `capture` have no program
    attached; the others are filtered in the kernel before any work:

    - an event in `pid_scoped` only for processes in `allow_pids`, one in
      `cgroup_scoped` only for threads in `allow_cgroups`;
    - nothing for processes in `deny_pids` or threads named in `deny_comms`;
    - events in `drop_failed` only when the call returned more than 0.

    `delivered` (a subset of `capture`) are the events some subscriber will
    receive; the others only feed the context tables. Events in `payload`
    carry the first `snaplen` bytes their calls moved through sockets, and
    those in `payload_any_fd` through any descriptor.
    """

    capture: frozenset[int] = frozenset()
    delivered: frozenset[int] = frozenset()
    pid_scoped: frozenset[int] = frozenset()
    cgroup_scoped: frozenset[int] = frozenset()
    drop_failed: frozenset[int] = frozenset()
    allow_pids: frozenset[int] = frozenset()
    allow_cgroups: frozenset[int] = frozenset()
    deny_pids: frozenset[int] = frozenset()
    deny_comms: frozenset[bytes] = frozenset()
    payload: frozenset[int] = frozenset()
    payload_any_fd: frozenset[int] = frozenset()
    snaplen: int = 0


NOTHING = KernelFilter()


# Linux never hands out a process id at or above this (PID_MAX_LIMIT on
# 64-bit kernels): the kernel's process sets are bitmaps of that many bits.
PID_LIMIT = 4194304


@dataclass(frozen=True)
class KernelLimits:
    """How many entries the kernel's filter sets hold. A plan needing more
    pids or cgroups leaves that filter to the service; deny sets are limited
    where they are configured."""

    allow_pids: int = PID_LIMIT
    # Cgroup scoping holds cgroups whose ids are below this (ids count the
    # cgroups created since boot).
    cgroup_ids: int = 1 << 22
    deny_pids: int = 4096
    deny_comms: int = 256


@dataclass(frozen=True)
class EventCounters:
    """What the kernel did for one event since the driver started."""

    emitted: int = 0  # records sent to the service
    filtered: int = 0  # calls the kernel filters dropped
    lost: int = 0  # records the kernel buffer had no room for


@dataclass
class DriverStats:
    records: int = 0  # records delivered to the pipeline
    kernel_lost: int = 0
    batches: int = 0
    # Records that arrived later than the merge window allowed.
    late_records: int = 0
    # Records held back for the next drain (merge window).
    pending_records: int = 0
    # Kernel counters per event id.
    events: dict[int, EventCounters] = field(default_factory=dict)
    # Records the kernel lost, per CPU (index: CPU number).
    lost_by_cpu: list[int] = field(default_factory=list)


BatchSink = Callable[[RecordBatch | EventBatch], None]
FailureSink = Callable[[str], None]


class Driver(Protocol):
    """A source of kernel records."""

    name: str

    @property
    def transport(self) -> str:
        """How records leave the kernel ("ring_buffer", "perf_buffer"); known once started."""
        ...

    def features(self) -> list[KernelFeature]:
        """The kernel features the driver checked."""
        ...

    def boot_time_ns(self) -> int:
        """Wall-clock nanoseconds at which the node the events come from
        booted: an event's wall-clock time is this plus its timestamp."""
        ...

    def kernel_release(self) -> str:
        """The release of the kernel the events come from (uname -r)."""
        ...

    def preflight(self) -> None:
        """Check quickly that this machine can run the driver.

        Raises StartupError with a sentence for the user when it cannot.
        """
        ...

    def start(self, sink: BatchSink, on_failure: FailureSink | None = None) -> None:
        """Load the programs and start delivering batches to `sink`.

        Raises StartupError with a sentence for the user when it cannot.
        `sink` is called from the driver's own thread. Nothing is captured
        until apply() asks for it. Should delivering stop for good later
        (the reader fails, a recording is cut short), `on_failure` is called
        once, from that thread, with the sentence `failure` then gives.
        """
        ...

    @property
    def failure(self) -> str:
        """Why the driver stopped delivering for good; "" while it delivers."""
        ...

    def unavailable_events(self) -> frozenset[int]:
        """Catalogue events this kernel cannot produce (missing tracepoints)."""
        ...

    def apply(self, kernel_filter: KernelFilter) -> None:
        """Capture what `kernel_filter` says from now on (map updates, never a
        reload), attaching and detaching tracepoints as needed."""
        ...

    def attached(self) -> list[str]:
        """The tracepoints attached now."""
        ...

    def stop(self) -> None:
        """Detach and stop delivering; delivers what is still pending first."""
        ...

    def stats(self) -> DriverStats: ...
