"""The BCC driver on the real kernel: programs load, attach and report what
processes do, in timestamp order; the kernel-side event mask and the
exclusion of the service's own process work."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from support.capture import Capture, capture_everything
from support.expectations import Workload, check_workload_events, workload_done

from kindling.event.v1 import event_pb2
from kindling.server.catalog import CATALOG
from kindling.server.drivers.bcc.driver import BccDriver

pytestmark = pytest.mark.kernel


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
    assert stats.late_records == 0
    # Timestamps are merged across CPUs into one order.
    assert capture.timestamps == sorted(capture.timestamps)


def test_disabled_events_never_leave_the_kernel(
    driver_capture: tuple[BccDriver, Capture], tmp_path: Path
) -> None:
    driver, capture = driver_capture
    read_id = CATALOG.by_name["read"].id
    before = driver.stats().records
    driver.apply(capture_everything(without=frozenset({read_id})))
    read_before = driver.stats().events[read_id]
    try:
        workload = Workload(tmp_path)
        run = workload.run()
        events = capture.wait_for(
            lambda evs: any(
                e.name == "openat" and e.thread.pid == run.pid and e.fd.path == run.result["path"]
                for e in evs
            )
        )
        read_after = driver.stats().events[read_id]
        deadline = time.monotonic() + 10  # detaching finishes in the background
        read_hooks = {"syscalls:sys_enter_read", "syscalls:sys_exit_read"}
        while read_hooks & set(driver.attached()) and time.monotonic() < deadline:
            time.sleep(0.01)
        attached = driver.attached()
    finally:
        driver.apply(capture_everything())
    assert not [e for e in events if e.name == "read" and e.thread.pid == run.pid]
    assert driver.stats().records > before
    # Its programs were detached: they neither emitted nor filtered anything.
    assert read_after == read_before
    assert "syscalls:sys_enter_read" not in attached
    assert "syscalls:sys_exit_read" not in attached
    assert "syscalls:sys_exit_openat" in attached


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


def test_unix_socket_paths_are_exact(
    driver_capture: tuple[BccDriver, Capture], tmp_path: Path
) -> None:
    _, capture = driver_capture
    path = tmp_path / "k.sock"
    abstract = f"kindling-test-{os.getpid()}"
    script = (
        "import os, socket, sys, time\n"
        # Fill the perf ring with 'z's first: perf pads a sample with what the
        # ring held before, so a path must not run into the padding.
        "for _ in range(8000):\n"
        "    try: os.open('/nonexistent/' + 'z' * 200, os.O_RDONLY)\n"
        "    except OSError: pass\n"
        "    time.sleep(0.0001)\n"
        "time.sleep(0.5)\n"
        "servers = []\n"
        "for address in (sys.argv[1], '\\0' + sys.argv[2]):\n"
        "    s = socket.socket(socket.AF_UNIX); s.bind(address); s.listen(64); servers.append(s)\n"
        "    for _ in range(20):\n"
        "        c = socket.socket(socket.AF_UNIX); c.connect(address); c.close()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(path), abstract])
    assert proc.wait(timeout=60) == 0

    def connects(evs: list[event_pb2.Event]) -> list[event_pb2.Event]:
        return [e for e in evs if e.name == "connect" and e.thread.pid == proc.pid]

    events = connects(capture.wait_for(lambda evs: len(connects(evs)) >= 40))
    assert len(events) == 40
    assert {e.fd.type for e in events} == {event_pb2.FD_TYPE_UNIX_SOCKET}
    paths = [e.fd.unix_path for e in events]
    assert paths == [str(path)] * 20 + ["@" + abstract] * 20
