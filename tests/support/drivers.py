"""A driver that records what the service asks of the kernel, for tests of
the layers above the driver (the kernel tests cover the real one)."""

from __future__ import annotations

from kindling.server.drivers.base import BatchSink, DriverStats, KernelFeature


class MaskRecorder:
    """Stands in for the kernel's event mask (the BPF map); the kernel tests
    check the real map's effect."""

    name = "recorder"
    transport = "none"

    def __init__(self) -> None:
        self.mask: frozenset[int] | None = None

    def features(self) -> list[KernelFeature]:
        return []

    def preflight(self) -> None:
        pass

    def start(self, sink: BatchSink) -> None:
        pass

    def unavailable_events(self) -> frozenset[int]:
        return frozenset()

    def set_enabled_events(self, event_ids: frozenset[int]) -> None:
        self.mask = event_ids

    def stop(self) -> None:
        pass

    def stats(self) -> DriverStats:
        return DriverStats()
