"""The fd-table syscalls on the real kernel keep fd context right."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.capture import Capture

from kindling.event.v1 import event_pb2
from kindling.server.drivers.bcc.driver import BccDriver

pytestmark = pytest.mark.kernel

SCRIPT = """
import os, socket, sys
sys.stdin.readline()
log = os.open(sys.argv[1], os.O_WRONLY)
os.dup2(log, 50)
os.write(50, b"via dup2")
r, w = os.pipe2(os.O_CLOEXEC)
os.write(w, b"x")
a, b = socket.socketpair()
a.send(b"y")
import ctypes
ctypes.CDLL(None, use_errno=True).close_range(r, r, 0)
print(log, r, w, a.fileno(), b.fileno(), flush=True)
"""


def test_dup2_pipe_socketpair_close_range(
    driver_capture: tuple[BccDriver, Capture], tmp_path: Path
) -> None:
    driver, cap = driver_capture
    assert not driver.unavailable_events()
    log = tmp_path / "log"
    log.write_text("")
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(log)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    fd_log, r, w, a, _ = map(int, proc.stdout.readline().split())
    assert proc.wait(timeout=30) == 0

    def mine(evs: list[event_pb2.Event]) -> list[event_pb2.Event]:
        return [e for e in evs if e.thread.pid == proc.pid]

    def closed_r(e: event_pb2.Event) -> bool:
        first_last = [(x.key, x.uint32_value) for x in e.attributes][:2]
        return e.name == "close_range" and first_last == [("first", r), ("last", r)]

    events = mine(cap.wait_for(lambda evs: any(closed_r(e) for e in mine(evs))))
    # Only what the script did after exec: the child also dup2()s before it.
    (exec_,) = [e for e in events if e.name == "process_exec"]
    wanted = {"dup2", "pipe2", "socketpair", "close_range"}
    by_name = {
        e.name: e for e in events if e.name in wanted and e.timestamp_ns > exec_.timestamp_ns
    }
    assert by_name["dup2"].return_value == 50
    assert by_name["dup2"].fd.path == str(log)
    write_50 = [e for e in events if e.name == "write" and e.fd.num == 50]
    assert write_50 and write_50[0].fd.path == str(log)
    assert by_name["pipe2"].fd.type == event_pb2.FD_TYPE_PIPE
    write_pipe = [e for e in events if e.name == "write" and e.fd.num == w]
    assert write_pipe and write_pipe[0].category == event_pb2.CATEGORY_IPC
    assert by_name["socketpair"].fd.type == event_pb2.FD_TYPE_UNIX_SOCKET
    assert by_name["socketpair"].fd.num == a
    close_range = by_name["close_range"]
    assert [(x.key, x.uint32_value) for x in close_range.attributes][:2] == [
        ("first", r),
        ("last", r),
    ]
    assert [(a.key, a.int32_value) for a in by_name["dup2"].attributes] == [("oldfd", fd_log)]
