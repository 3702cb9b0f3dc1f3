"""Any syscall by name: only the tracepoints of the syscalls asked for get a
program, so the others cost nothing; the kernel counts what it emitted."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from support.capture import Capture

from kindling.event.v1 import event_pb2
from kindling.server.catalog import CATALOG
from kindling.server.drivers.base import NOTHING, KernelFilter
from kindling.server.drivers.bcc.driver import BccDriver

pytestmark = pytest.mark.kernel

SCRIPT = "import os, sys; sys.stdin.readline(); [os.getpid() for _ in range(5)]; os.getppid()"


@pytest.fixture(scope="module")
def driver(transport: str) -> Iterator[tuple[BccDriver, Capture]]:
    if "getpid" not in CATALOG.by_name:
        pytest.skip("this machine's syscall table is unknown (no asm/unistd_64.h)")
    capture = Capture()
    driver = BccDriver(CATALOG, transport=transport)
    driver.start(capture.sink)
    try:
        yield driver, capture
    finally:
        driver.stop()


def test_only_the_syscalls_asked_for_are_attached(driver: tuple[BccDriver, Capture]) -> None:
    bcc, capture = driver
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdin=subprocess.PIPE, text=True)
    getpid = CATALOG.by_name["getpid"].id
    asked = frozenset({getpid})
    bcc.apply(
        KernelFilter(
            capture=asked, delivered=asked, pid_scoped=asked, allow_pids=frozenset({proc.pid})
        )
    )
    try:
        assert bcc.attached() == ["syscalls:sys_enter_getpid", "syscalls:sys_exit_getpid"]
        before = bcc.stats().events[getpid].emitted
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0

        def mine(events: list[event_pb2.Event]) -> list[event_pb2.Event]:
            return [e for e in events if e.thread.pid == proc.pid]

        events = mine(capture.wait_for(lambda evs: len(mine(evs)) >= 5))
        assert [e.name for e in events] == ["getpid"] * 5  # getppid was not asked for
        assert {e.return_value for e in events} == {proc.pid}
        assert bcc.stats().events[getpid].emitted - before == 5
        assert bcc.stats().events[CATALOG.by_name["getppid"].id].emitted == 0
    finally:
        bcc.apply(NOTHING)
