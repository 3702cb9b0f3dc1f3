"""Run the workload and check that a stream of kindling events shows exactly
what it did. Shared by every path the tests take to the events (driver,
Python client, Go command, grpcurl)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kindling.event.v1 import event_pb2
from support.streams import EventLog, wait_until_live

WORKLOAD = Path(__file__).with_name("workload.py")
WORKLOAD_EVENTS = ("process_exec", "process_exit", "connect", "accept4", "openat", "read")


@dataclass
class WorkloadRun:
    pid: int
    result: dict[str, Any]


class PausedProcess:
    """A workload script (tests/support/*_workload.py) in a process of its
    own: it prints a JSON line once ready (its pids), waits for a line on
    stdin so that subscribers can start first, does its work, prints what it
    did as a JSON line and exits."""

    def __init__(self, script: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.started: dict[str, Any] = json.loads(self.proc.stdout.readline())

    def go(self, timeout: float = 30) -> dict[str, Any]:
        """Let it work; what it says it did."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        result: dict[str, Any] = json.loads(self.proc.stdout.readline())
        assert self.proc.wait(timeout=timeout) == 0
        return result

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Workload(PausedProcess):
    """tests/support/workload.py, started paused."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "workload-file.txt"
        super().__init__(WORKLOAD, str(self.path))
        self.pid: int = self.started["pid"]

    def run(self) -> WorkloadRun:
        return WorkloadRun(pid=self.pid, result=self.go())


def find(
    events: Iterable[event_pb2.Event],
    name: str,
    pid: int,
    pred: Callable[[event_pb2.Event], bool] = lambda e: True,
) -> event_pb2.Event | None:
    for event in events:
        if event.name == name and event.thread.pid == pid and pred(event):
            return event
    return None


def attr(event: event_pb2.Event, key: str) -> object:
    for a in event.attributes:
        if a.key == key:
            return getattr(a, a.WhichOneof("value") or "key")
    raise KeyError(key)


def observe_workload(log: EventLog, tmp_path: Path) -> tuple[list[event_pb2.Event], WorkloadRun]:
    """Once the stream behind `log` is live, run the workload and wait for all
    it did to arrive."""
    workload = Workload(tmp_path)
    wait_until_live(log, tmp_path)
    run = workload.run()
    return log.wait_for(lambda evs: workload_done(evs, run)), run


def workload_done(events: list[event_pb2.Event], run: WorkloadRun) -> bool:
    """True once the stream holds the workload's last expected event."""
    r = run.result
    return find(events, "read", run.pid, lambda e: e.fd.path == r["path"]) is not None and (
        find(events, "process_exit", r["true_pid"]) is not None
    )


def check_workload_events(
    events: list[event_pb2.Event], run: WorkloadRun, *, stream: bool = True
) -> None:
    r = run.result
    pid = run.pid

    exec_ = find(events, "process_exec", r["true_pid"])
    assert exec_ is not None, "no process_exec for /bin/true"
    assert exec_.source == event_pb2.SOURCE_TRACEPOINT
    assert exec_.category == event_pb2.CATEGORY_PROCESS
    assert exec_.thread.comm == "true"
    assert exec_.thread.exe == "/bin/true"
    assert exec_.thread.ppid == pid
    assert attr(exec_, "filename") == "/bin/true"

    exit_ = find(events, "process_exit", r["true_pid"])
    assert exit_ is not None, "no process_exit for /bin/true"
    assert exit_.thread.comm == "true"
    assert attr(exit_, "exit_code") == r["true_exit"] == 0
    assert exit_.timestamp_ns > exec_.timestamp_ns

    connect = find(events, "connect", pid, lambda e: e.fd.destination.port == r["port"])
    assert connect is not None, f"no connect to port {r['port']}"
    assert connect.source == event_pb2.SOURCE_SYSCALL_EXIT
    assert connect.category == event_pb2.CATEGORY_NET
    assert connect.thread.comm == r["comm"]
    assert connect.thread.tid == pid
    assert connect.return_value == 0
    assert connect.latency_ns > 0
    assert connect.fd.type == event_pb2.FD_TYPE_IPV4_SOCKET
    assert connect.fd.protocol == event_pb2.L4_PROTOCOL_TCP
    assert connect.fd.role == event_pb2.SOCKET_ROLE_CLIENT
    assert connect.fd.destination.address == "127.0.0.1"
    assert connect.fd.source.address == "127.0.0.1"
    assert connect.fd.source.port == r["client_port"]

    accept = find(events, "accept4", pid, lambda e: e.fd.destination.port == r["port"])
    assert accept is not None, "no accept4 of the connection"
    assert accept.fd.role == event_pb2.SOCKET_ROLE_SERVER
    assert accept.fd.source.port == r["client_port"]
    assert accept.return_value >= 0

    opened = find(events, "openat", pid, lambda e: attr(e, "path") == r["path"])
    assert opened is not None, f"no openat of {r['path']}"
    assert opened.return_value == r["fd"]
    assert opened.fd.num == r["fd"]
    assert opened.fd.type == event_pb2.FD_TYPE_FILE
    assert opened.fd.path == r["path"]
    assert opened.thread.comm == r["comm"]

    read = find(events, "read", pid, lambda e: e.fd.path == r["path"])
    assert read is not None, "no read of the file"
    assert read.return_value == r["read"]
    assert attr(read, "size") == 4096

    # One stream, one order: sequence numbers and timestamps both grow.
    if stream:
        seqs = [e.seq for e in events]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "sequence gap without loss"
    stamps = [e.timestamp_ns for e in events]
    assert stamps == sorted(stamps)


def without_seq(events: Iterable[event_pb2.Event]) -> list[event_pb2.Event]:
    """Copies of the events without their per-stream sequence numbers, to
    compare events that reached different streams."""
    copies = []
    for event in events:
        copy = event_pb2.Event()
        copy.CopyFrom(event)
        copy.ClearField("seq")
        copies.append(copy)
    return copies
