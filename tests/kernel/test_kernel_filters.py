"""Filters the service pushes into the kernel work there: what they filter
never leaves the kernel (its counters say so), a tracepoint nobody needs has
no program attached (bpftool says so), and with nothing wanted nothing runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.capture import Capture
from support.cgroups import temporary_cgroup

from kindling.event.v1 import event_pb2
from kindling.server.catalog import CATALOG
from kindling.server.drivers.base import NOTHING, EventCounters, KernelFilter
from kindling.server.drivers.bcc.driver import BccDriver

pytestmark = pytest.mark.kernel

OPENAT = CATALOG.by_name["openat"].id
READ = CATALOG.by_name["read"].id

# Waits for a line, optionally renames itself or joins a cgroup, then opens
# its file twice and reads each to the end (the second read returns 0).
SCRIPT = """
import os, sys
name, cgroup, path = sys.argv[1:4]
if name:
    open("/proc/self/comm", "w").write(name)
if cgroup:
    open(os.path.join(cgroup, "cgroup.procs"), "w").write(str(os.getpid()))
sys.stdin.readline()
for _ in range(2):
    fd = os.open(path, os.O_RDONLY)
    while os.read(fd, 64):
        pass
    os.close(fd)
"""


@dataclass
class Opener:
    proc: subprocess.Popen[str]
    path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0


def opener(tmp_path: Path, name: str = "", cgroup: Path | None = None) -> Opener:
    path = tmp_path / f"file-{uuid.uuid4().hex[:8]}"
    path.write_text("kindling\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, name, str(cgroup or ""), str(path)],
        stdin=subprocess.PIPE,
        text=True,
    )
    return Opener(proc, path)


@pytest.fixture(scope="module")
def driver(transport: str) -> Iterator[tuple[BccDriver, Capture]]:
    capture = Capture()
    driver = BccDriver(CATALOG, transport=transport)
    driver.start(capture.sink)
    try:
        yield driver, capture
    finally:
        driver.stop()


def opens_of(capture: Capture, o: Opener) -> list[event_pb2.Event]:
    return [e for e in capture.events if e.name == "openat" and e.fd.path == str(o.path)]


def counters(driver: BccDriver, event_id: int) -> EventCounters:
    return driver.stats().events[event_id]


def run_and_collect(
    capture: Capture, wanted: Opener, others: list[Opener]
) -> list[event_pb2.Event]:
    for o in [*others, wanted]:
        o.go()
    # The wanted process's two opens mark the end of what the drain must hold.
    capture.wait_for(lambda _: len(opens_of(capture, wanted)) >= 2)
    return capture.events


def only_openat(**scope: object) -> KernelFilter:
    ids = frozenset({OPENAT})
    return KernelFilter(capture=ids, delivered=ids, **scope)  # type: ignore[arg-type]


def filtered_in_kernel(
    driver: tuple[BccDriver, Capture], kernel_filter: KernelFilter, wanted: Opener, other: Opener
) -> list[event_pb2.Event]:
    """Run both openers under a filter for `openat`: the wanted one's opens
    arrive, the other's never leave the kernel (its counters count them)."""
    drv, capture = driver
    drv.apply(kernel_filter)
    before = counters(drv, OPENAT)
    try:
        run_and_collect(capture, wanted, [other])
        after = counters(drv, OPENAT)
    finally:
        drv.apply(NOTHING)
    mine = opens_of(capture, wanted)
    assert len(mine) == 2
    assert opens_of(capture, other) == []
    # The other process's two opens (and everyone else's) were filtered.
    assert after.filtered - before.filtered >= 2
    assert after.emitted - before.emitted >= 2
    return mine


def test_a_pid_filter_keeps_other_processes_in_the_kernel(
    driver: tuple[BccDriver, Capture], tmp_path: Path
) -> None:
    wanted, other = opener(tmp_path), opener(tmp_path)
    scope = only_openat(pid_scoped=frozenset({OPENAT}), allow_pids=frozenset({wanted.pid}))
    filtered_in_kernel(driver, scope, wanted, other)
    _, capture = driver
    assert {e.thread.pid for e in capture.events if e.name == "openat"} == {wanted.pid}


def test_a_pid_deny_keeps_that_process_in_the_kernel(
    driver: tuple[BccDriver, Capture], tmp_path: Path
) -> None:
    wanted, denied = opener(tmp_path), opener(tmp_path)
    filtered_in_kernel(driver, only_openat(deny_pids=frozenset({denied.pid})), wanted, denied)


def test_a_comm_deny_keeps_those_threads_in_the_kernel(
    driver: tuple[BccDriver, Capture], tmp_path: Path
) -> None:
    wanted, quiet = opener(tmp_path), opener(tmp_path, name="kindling-quiet")
    scope = only_openat(deny_comms=frozenset({b"kindling-quiet"}))
    filtered_in_kernel(driver, scope, wanted, quiet)


def test_a_cgroup_filter_keeps_other_cgroups_in_the_kernel(
    driver: tuple[BccDriver, Capture], tmp_path: Path
) -> None:
    with temporary_cgroup("kindling-test") as cgroup:
        inside, outside = opener(tmp_path, cgroup=cgroup), opener(tmp_path)
        cgroup_id = cgroup.stat().st_ino
        scope = only_openat(cgroup_scoped=frozenset({OPENAT}), allow_cgroups=frozenset({cgroup_id}))
        mine = filtered_in_kernel(driver, scope, inside, outside)
    assert {e.thread.cgroup_id for e in mine} == {cgroup_id}


def test_failed_io_is_dropped_in_the_kernel_on_request(
    driver: tuple[BccDriver, Capture], tmp_path: Path
) -> None:
    drv, capture = driver
    o = opener(tmp_path)
    ids = frozenset({OPENAT, READ})
    drv.apply(
        KernelFilter(
            capture=ids,
            delivered=ids,
            pid_scoped=ids,
            allow_pids=frozenset({o.pid}),
            drop_failed=frozenset({READ}),
        )
    )
    before = counters(drv, READ)
    try:
        run_and_collect(capture, o, [])
        capture.wait_for(
            lambda evs: len([e for e in evs if e.name == "read" and e.fd.path == str(o.path)]) >= 2
        )
        after = counters(drv, READ)
    finally:
        drv.apply(NOTHING)
    reads = [e for e in capture.events if e.name == "read" and e.fd.path == str(o.path)]
    # Each open reads 9 bytes, then 0 (end of file): only the first counts.
    assert [e.return_value for e in reads] == [9, 9]
    assert after.filtered - before.filtered >= 2


def bpftool_tracepoints() -> set[str] | None:
    """The tracepoints this process has BPF programs attached to, as the
    kernel reports them (bpftool perf list), or None without bpftool."""
    tool = shutil.which("bpftool")
    if tool is None:
        return None
    out = subprocess.run([tool, "perf", "list", "-j"], capture_output=True, text=True, check=True)
    return {
        entry["tracepoint"]
        for entry in json.loads(out.stdout or "[]")
        if entry.get("pid") == os.getpid() and entry.get("fd_type") == "tracepoint"
    }


def wait_detached(driver: BccDriver, timeout: float = 10.0) -> None:
    """Detaching finishes in the background (the kernel waits for RCU)."""
    deadline = time.monotonic() + timeout
    while driver.attached() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert driver.attached() == []


def test_nothing_wanted_nothing_attached_nothing_emitted(
    driver: tuple[BccDriver, Capture], tmp_path: Path
) -> None:
    drv, capture = driver
    drv.apply(NOTHING)
    wait_detached(drv)
    attached = bpftool_tracepoints()
    if attached is not None:
        assert attached == set()
    before = drv.stats().events
    records = drv.stats().records
    o = opener(tmp_path)
    o.go()
    # The counters are the kernel's own memory: a program that ran would
    # have counted, whether it emitted or filtered.
    assert drv.stats().events == before
    assert drv.stats().records == records
    assert opens_of(capture, o) == []


def test_only_the_tracepoints_of_wanted_events_are_attached(
    driver: tuple[BccDriver, Capture],
) -> None:
    drv, _ = driver
    drv.apply(only_openat())
    try:
        wait_until = time.monotonic() + 10
        while len(drv.attached()) > 2 and time.monotonic() < wait_until:
            time.sleep(0.01)
        assert drv.attached() == ["syscalls:sys_enter_openat", "syscalls:sys_exit_openat"]
        attached = bpftool_tracepoints()
        if attached is not None:
            assert attached == {"sys_enter_openat", "sys_exit_openat"}
    finally:
        drv.apply(NOTHING)
    wait_detached(drv)
