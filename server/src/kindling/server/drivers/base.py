"""What the pipeline needs from a driver, and what a driver hands it.

A driver captures kernel events and delivers them as RecordBatches, in
timestamp order, from a thread of its own. The BCC driver is the one that
talks to the kernel; others (a replay driver) can feed the same pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from kindling.server.drivers.records import Paths, Records


@dataclass(frozen=True)
class KernelFeature:
    name: str
    available: bool
    detail: str


@dataclass
class RecordBatch:
    """Records ordered by timestamp, plus what the driver lost since the last batch."""

    records: Records
    # Raw path bytes per record (None where the record has none).
    paths: Paths
    # Events the kernel dropped because the buffer was full.
    kernel_lost: int = 0

    def __len__(self) -> int:
        return len(self.records)


@dataclass
class DriverStats:
    records: int = 0
    kernel_lost: int = 0
    batches: int = 0
    extra: dict[str, int] = field(default_factory=dict)


BatchSink = Callable[[RecordBatch], None]


class Driver(Protocol):
    """A source of kernel records."""

    name: str
    transport: str

    def features(self) -> list[KernelFeature]:
        """The kernel features the driver checked."""
        ...

    def preflight(self) -> None:
        """Check quickly that this machine can run the driver.

        Raises StartupError with a sentence for the user when it cannot.
        """
        ...

    def start(self, sink: BatchSink) -> None:
        """Attach to the kernel and start delivering batches to `sink`.

        Raises StartupError with a sentence for the user when it cannot.
        `sink` is called from the driver's own thread.
        """
        ...

    def unavailable_events(self) -> frozenset[int]:
        """Catalogue events this kernel cannot produce (missing tracepoints)."""
        ...

    def set_enabled_events(self, event_ids: frozenset[int]) -> None:
        """Capture only these events (the kernel drops the rest)."""
        ...

    def stop(self) -> None:
        """Detach and stop delivering; delivers what is still pending first."""
        ...

    def stats(self) -> DriverStats: ...
