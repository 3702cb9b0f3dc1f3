"""A driver that records what the service asks of the kernel, for tests of
the layers above the driver (the kernel tests check the real maps' effect)."""

from __future__ import annotations

import os

from kindling.server.drivers.base import (
    NOTHING,
    BatchSink,
    DriverStats,
    KernelFeature,
    KernelFilter,
)
from kindling.server.pipeline.clock import boot_time_ns


class FilterRecorder:
    """Stands in for the kernel: remembers the last kernel filter applied."""

    name = "recorder"
    transport = "none"

    def __init__(self) -> None:
        self.filter: KernelFilter = NOTHING
        self.applied = 0

    @property
    def mask(self) -> frozenset[int]:
        return self.filter.capture

    def features(self) -> list[KernelFeature]:
        return []

    def boot_time_ns(self) -> int:
        return boot_time_ns()

    def kernel_release(self) -> str:
        return os.uname().release

    def preflight(self) -> None:
        pass

    def start(self, sink: BatchSink, on_failure: object = None) -> None:
        pass

    failure = ""

    def unavailable_events(self) -> frozenset[int]:
        return frozenset()

    def apply(self, kernel_filter: KernelFilter) -> None:
        self.filter = kernel_filter
        self.applied += 1

    def attached(self) -> list[str]:
        return []

    def stop(self) -> None:
        pass

    def stats(self) -> DriverStats:
        return DriverStats()
