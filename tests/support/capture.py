"""Collect what a driver delivers, turned into events by the real pipeline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kindling.event.v1 import event_pb2
from kindling.server.catalog import CATALOG
from kindling.server.drivers.base import KernelFilter, RecordBatch
from kindling.server.pipeline.builder import EventBuilder

# The probe's own events, without the generic syscalls: each attached hook
# costs a kernel grace period (~40 ms, serialised) when it is detached, and
# the ~600 generic ones would add half a minute to every driver's stop.
ALL_IDS = frozenset(s.id for s in CATALOG.specs if not s.generic)


def capture_everything(without: frozenset[int] = frozenset()) -> KernelFilter:
    """A kernel filter that captures and delivers every event of the probe's
    own (generic syscalls aside) but `without`."""
    ids = ALL_IDS - without
    return KernelFilter(capture=ids, delivered=ids)


class Capture:
    """Everything the driver delivers, turned into events by the real pipeline."""

    def __init__(self) -> None:
        self.builder = EventBuilder(CATALOG)
        self.events: list[event_pb2.Event] = []
        self.timestamps: list[int] = []
        self.kernel_lost = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def sink(self, batch: RecordBatch) -> None:
        built = self.builder.build(batch)
        with self._changed:
            self.timestamps.extend(batch.records["ts"].tolist())
            self.events.extend(event_pb2.Event.FromString(raw) for raw in built.events)
            self.kernel_lost += batch.kernel_lost
            self._changed.notify_all()

    def wait_for(
        self, done: Callable[[list[event_pb2.Event]], bool], timeout: float = 10.0
    ) -> list[event_pb2.Event]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(self.events):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return list(self.events)
