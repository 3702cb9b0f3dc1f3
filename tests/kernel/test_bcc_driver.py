"""The BCC driver on the real kernel: programs load, attach and report what
processes do, in timestamp order; the kernel-side event mask and the
exclusion of the service's own process work."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.expectations import Workload, check_workload_events, workload_done

from kindling.event.v1 import event_pb2
from kindling.server.catalog import CATALOG
from kindling.server.drivers.base import RecordBatch
from kindling.server.drivers.bcc.driver import BccDriver
from kindling.server.pipeline.events import EventBuilder

pytestmark = pytest.mark.kernel

ALL_IDS = frozenset(s.id for s in CATALOG.specs)


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

    def wait_for(self, done: object, timeout: float = 10.0) -> list[event_pb2.Event]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(self.events):  # type: ignore[operator]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return list(self.events)


@pytest.fixture(scope="module")
def driver_capture() -> Iterator[tuple[BccDriver, Capture]]:
    capture = Capture()
    driver = BccDriver(CATALOG)
    driver.start(capture.sink)
    driver.set_enabled_events(ALL_IDS)
    try:
        yield driver, capture
    finally:
        driver.stop()


def test_workload_events_arrive_with_context(
    driver_capture: tuple[BccDriver, Capture], tmp_path: Path
) -> None:
    driver, capture = driver_capture
    workload = Workload(tmp_path)
    run = workload.run()
    events = capture.wait_for(lambda evs: workload_done(evs, run))
    check_workload_events(events, run, stream=False)
    stats = driver.stats()
    assert stats.records > 0
    assert stats.extra["late_records"] == 0
    # Timestamps are merged across CPUs into one order.
    assert capture.timestamps == sorted(capture.timestamps)


def test_disabled_events_never_leave_the_kernel(
    driver_capture: tuple[BccDriver, Capture], tmp_path: Path
) -> None:
    driver, capture = driver_capture
    read_id = CATALOG.by_name["read"].id
    before = driver.stats().records
    driver.set_enabled_events(ALL_IDS - {read_id})
    try:
        workload = Workload(tmp_path)
        run = workload.run()
        events = capture.wait_for(
            lambda evs: any(
                e.name == "openat" and e.thread.pid == run.pid and e.fd.path == run.result["path"]
                for e in evs
            )
        )
    finally:
        driver.set_enabled_events(ALL_IDS)
    assert not [e for e in events if e.name == "read" and e.thread.pid == run.pid]
    assert driver.stats().records > before


def test_the_service_process_itself_is_not_captured(
    driver_capture: tuple[BccDriver, Capture], tmp_path: Path
) -> None:
    _, capture = driver_capture
    own = tmp_path / "own-open"
    own.write_text("x")
    with own.open():
        pass
    # Something from another process, to know the drain got that far.
    workload = Workload(tmp_path)
    run = workload.run()
    events = capture.wait_for(lambda evs: workload_done(evs, run))
    assert workload_done(events, run)
    assert not [e for e in events if e.thread.pid == os.getpid()]
    assert not [e for e in events if e.name == "openat" and e.fd.path == str(own)]


def test_record_timestamps_are_boot_time(
    driver_capture: tuple[BccDriver, Capture], tmp_path: Path
) -> None:
    _, capture = driver_capture
    start = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    run = Workload(tmp_path).run()
    events = capture.wait_for(lambda evs: workload_done(evs, run))
    end = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    mine = np.array([e.timestamp_ns for e in events if e.thread.pid == run.pid])
    assert len(mine) > 0
    assert start <= mine.min() <= mine.max() <= end
