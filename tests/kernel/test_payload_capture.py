"""The kernel copies payloads only when asked, only as much as the snaplen
allows, and by default only for sockets; the tracepoints that tell sockets
apart are attached only then."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.capture import Capture

from kindling.event.v1 import event_pb2
from kindling.server.catalog import CATALOG
from kindling.server.drivers.base import KernelLimits
from kindling.server.drivers.bcc.driver import BccDriver
from kindling.server.pipeline.plan import Demand, PayloadMode, ServiceFilters, plan

pytestmark = pytest.mark.kernel

SOCKET_BYTES = b"socket-bytes-0123456789"
PIPE_BYTES = b"pipe-bytes"
FILE_BYTES = b"file-bytes"
SOCKET_HOOK = "sock:sock_send_length"

# Writes the same kinds of data to a socket, a pipe and a file.
SCRIPT = f"""
import os, socket, sys
sys.stdin.readline()
first, second = socket.socketpair()
os.write(first.fileno(), {SOCKET_BYTES!r})
read_end, write_end = os.pipe()
os.write(write_end, {PIPE_BYTES!r})
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
os.write(fd, {FILE_BYTES!r})
"""


@pytest.fixture(scope="module")
def driver(transport: str) -> Iterator[tuple[BccDriver, Capture]]:
    capture = Capture()
    driver = BccDriver(CATALOG, transport=transport)
    driver.start(capture.sink)
    try:
        yield driver, capture
    finally:
        driver.stop()


def writes(
    driver: tuple[BccDriver, Capture], tmp_path: Path, mode: PayloadMode, snaplen: int
) -> tuple[dict[str, event_pb2.Event], list[str]]:
    """Run the writer with its writes captured as the service would plan it;
    return its write events by what they wrote to, and the hooks attached."""
    bcc, capture = driver
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path / f"out-{mode.name}-{snaplen}")],
        stdin=subprocess.PIPE,
        text=True,
    )
    wanted = Demand(CATALOG.ids(["write"]), frozenset({proc.pid}), payload=mode)
    planned = plan(
        CATALOG,
        [wanted],
        configured=frozenset(CATALOG.by_id),
        service=ServiceFilters(snaplen=snaplen),
        limits=KernelLimits(),
    )
    capture.builder.set_scope(planned.tables, 0)
    bcc.apply(planned.kernel)
    # Detaches finish in the background (a grace period each): wait for them.
    deadline = time.monotonic() + 5
    while SOCKET_HOOK in bcc.attached() and not planned.kernel.payload:
        assert time.monotonic() < deadline, "the socket hook stayed attached"
        time.sleep(0.02)
    attached = bcc.attached()
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0

    def mine(events: list[event_pb2.Event]) -> list[event_pb2.Event]:
        return [e for e in events if e.name == "write" and e.thread.pid == proc.pid]

    found = mine(capture.wait_for(lambda events: len(mine(events)) >= 3))
    kinds = {
        event_pb2.FD_TYPE_UNIX_SOCKET: "socket",
        event_pb2.FD_TYPE_PIPE: "pipe",
        event_pb2.FD_TYPE_FILE: "file",
    }
    return {kinds[e.fd.type]: e for e in found if e.fd.type in kinds}, attached


def payloads(events: dict[str, event_pb2.Event]) -> dict[str, tuple[bytes, int]]:
    return {kind: (e.payload, e.payload_length) for kind, e in sorted(events.items())}


def test_no_payload_unless_asked(driver: tuple[BccDriver, Capture], tmp_path: Path) -> None:
    events, attached = writes(driver, tmp_path, PayloadMode.NONE, 512)
    assert payloads(events) == {"file": (b"", 0), "pipe": (b"", 0), "socket": (b"", 0)}
    assert SOCKET_HOOK not in attached


def test_sockets_only_by_default(driver: tuple[BccDriver, Capture], tmp_path: Path) -> None:
    events, attached = writes(driver, tmp_path, PayloadMode.SOCKETS, 512)
    assert payloads(events) == {
        "file": (b"", 0),
        "pipe": (b"", 0),
        "socket": (SOCKET_BYTES, len(SOCKET_BYTES)),
    }
    assert SOCKET_HOOK in attached


def test_any_descriptor_when_asked(driver: tuple[BccDriver, Capture], tmp_path: Path) -> None:
    events, _ = writes(driver, tmp_path, PayloadMode.ALL, 512)
    assert payloads(events) == {
        "file": (FILE_BYTES, len(FILE_BYTES)),
        "pipe": (PIPE_BYTES, len(PIPE_BYTES)),
        "socket": (SOCKET_BYTES, len(SOCKET_BYTES)),
    }


def test_the_snaplen_cuts_in_the_kernel(driver: tuple[BccDriver, Capture], tmp_path: Path) -> None:
    events, _ = writes(driver, tmp_path, PayloadMode.ALL, 8)
    assert payloads(events) == {
        "file": (FILE_BYTES[:8], len(FILE_BYTES)),
        "pipe": (PIPE_BYTES[:8], len(PIPE_BYTES)),
        "socket": (SOCKET_BYTES[:8], len(SOCKET_BYTES)),
    }
    events, attached = writes(driver, tmp_path, PayloadMode.ALL, 0)
    assert payloads(events) == {"file": (b"", 0), "pipe": (b"", 0), "socket": (b"", 0)}
    assert SOCKET_HOOK not in attached
