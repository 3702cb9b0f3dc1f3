"""Processes, signals and file names on the real kernel, through the service:
each step of tests/support/process_workload.py and the exact events it makes."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.expectations import PausedProcess, attr, find
from support.service import Service
from support.streams import EventLog, wait_until_live

from kindling.client import ProbeClient
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2

pytestmark = pytest.mark.kernel

WORKLOAD = Path(__file__).parents[1] / "support" / "process_workload.py"
PROCESS_EVENTS = ["process_exec", "process_exit", "process_fork"]
CALLS = [
    "kill", "clone", "clone3", "fork", "vfork", "open", "creat", "openat2", "rename",
    "renameat", "renameat2", "unlink", "unlinkat", "mkdir", "mkdirat", "getpid", "uname",
]  # fmt: skip
sys.path.insert(0, str(WORKLOAD.parent))
import process_workload  # noqa: E402


class Run:
    def __init__(self, log: EventLog, result: dict[str, Any], directory: Path) -> None:
        self.log = log
        self.result = result
        self.pid: int = result["pid"]
        self.directory = directory

    def find(
        self, name: str, pred: Callable[[event_pb2.Event], bool] = lambda e: True, pid: int = 0
    ) -> event_pb2.Event:
        event = find(self.log.events, name, pid or self.pid, pred)
        assert event is not None, f"no {name} event"
        return event

    def path(self, name: str) -> str:
        return str(self.directory / name)


@pytest.fixture(scope="module")
def run(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp_path = tmp_path_factory.mktemp("process")
    workload = PausedProcess(WORKLOAD, str(tmp_path))
    pid = workload.started["pid"]
    log = EventLog()
    client = ProbeClient(service.socket)
    responses = client.subscribe(
        probe_pb2.SubscribeRequest(
            allow_list=[
                probe_pb2.EventFilter(names=["openat", *PROCESS_EVENTS]),
                probe_pb2.EventFilter(names=CALLS, pids=[pid]),
            ]
        )
    )

    def read() -> None:
        try:
            for response in responses:
                log.losses.extend(response.losses)
                log.add(response.events)
        except Exception as error:
            log.errors.append(repr(error))

    threading.Thread(target=read, daemon=True).start()
    try:
        wait_until_live(log, tmp_path)
        result = workload.go()
        run = Run(log, result, tmp_path)
        log.wait_for(
            lambda events: (
                find(events, "process_exit", result["child_pid"]) is not None
                and find(events, "unlinkat", pid, lambda e: attr(e, "flags") == 0x200) is not None
            )
        )
        yield run
    finally:
        responses.cancel()
        client.close()
        workload.kill()


def test_exec_of_a_known_binary_with_its_arguments(run: Run) -> None:
    echo = run.find("process_exec", pid=run.result["echo_pid"])
    assert echo.source == event_pb2.SOURCE_TRACEPOINT
    assert echo.category == event_pb2.CATEGORY_PROCESS
    assert echo.thread.comm == "echo"
    assert echo.thread.exe == "/bin/echo"
    assert echo.thread.ppid == run.pid
    assert attr(echo, "filename") == "/bin/echo"
    assert list(attr(echo, "args").values) == process_workload.ECHO_ARGS  # type: ignore[attr-defined]
    assert attr(echo, "args_truncated") is False


def test_exit_codes_and_fatal_signals(run: Run) -> None:
    shell = run.find("process_exit", pid=run.result["shell_pid"])
    assert run.result["shell_exit"] == 3
    assert attr(shell, "exit_code") == 3
    assert "signal" not in {a.key for a in shell.attributes}
    killed = run.find("process_exit", pid=run.result["child_pid"])
    assert attr(killed, "signal") == run.result["child_signal"] == 15
    assert "exit_code" not in {a.key for a in killed.attributes}


def test_kill_of_a_child(run: Run) -> None:
    kill = run.find("kill", lambda e: attr(e, "target_pid") == run.result["child_pid"])
    assert kill.source == event_pb2.SOURCE_SYSCALL_EXIT
    assert kill.category == event_pb2.CATEGORY_SIGNAL
    assert kill.thread.comm == run.result["comm"]
    assert kill.return_value == 0
    assert 0 < kill.latency_ns < 1_000_000_000
    assert attr(kill, "signal") == 15
    assert not kill.HasField("fd")


def test_the_fork_is_a_syscall_event_and_a_process_fork(run: Run) -> None:
    child = run.result["child_pid"]
    calls = [
        e
        for e in run.log.events
        if e.name in ("clone", "clone3", "fork", "vfork")
        and e.thread.pid == run.pid
        and e.return_value == child
    ]
    assert len(calls) == 1, f"calls returning {child}: {calls}"
    fork = run.find("process_fork", lambda e: attr(e, "child_pid") == child)
    assert fork.timestamp_ns <= calls[0].timestamp_ns


def test_opens_give_fd_context(run: Run) -> None:
    for name, file_name in (("open", "opened"), ("creat", "created"), ("openat2", "openat2")):
        event = run.find(name)
        fd = run.result["fds"][name]
        assert event.return_value == fd, name
        assert attr(event, "path") == run.path(file_name)
        assert (event.fd.num, event.fd.type, event.fd.path) == (
            fd,
            event_pb2.FD_TYPE_FILE,
            run.path(file_name),
        )
    assert attr(run.find("openat2"), "mode") == 0o644
    assert attr(run.find("creat"), "mode") == 0o640


def test_renames_unlinks_and_directories_with_their_paths(run: Run) -> None:
    rename = run.find("rename")
    assert (attr(rename, "path"), attr(rename, "new_path")) == (
        run.path("opened"),
        run.path("renamed"),
    )
    renameat = run.find("renameat")
    assert attr(renameat, "new_path") == run.path("renamedat")
    assert attr(renameat, "olddirfd") == attr(renameat, "newdirfd") == -100
    renameat2 = run.find("renameat2")
    assert attr(renameat2, "path") == run.path("openat2")
    assert attr(renameat2, "flags") == 1  # RENAME_NOREPLACE
    assert attr(run.find("unlink"), "path") == run.path("renamed")
    unlinkat = run.find("unlinkat", lambda e: attr(e, "flags") == 0)
    assert attr(unlinkat, "path") == run.path("renamedat")
    assert attr(run.find("mkdir"), "mode") == 0o750
    mkdirat = run.find("mkdirat")
    assert (attr(mkdirat, "path"), attr(mkdirat, "dirfd"), attr(mkdirat, "mode")) == (
        run.path("dirat"),
        -100,
        0o700,
    )
    removed = run.find("unlinkat", lambda e: attr(e, "flags") == 0x200)
    assert removed.return_value == 0
    for event in (rename, renameat, renameat2, unlinkat, mkdirat):
        assert event.category == event_pb2.CATEGORY_FILE
        assert event.return_value == 0
        assert not event.HasField("fd")


def test_any_other_syscall_by_name(run: Run) -> None:
    getpid = run.find("getpid")
    assert getpid.return_value == run.result["getpid"] == run.pid
    assert getpid.source == event_pb2.SOURCE_SYSCALL_EXIT
    assert getpid.category == event_pb2.CATEGORY_PROCESS
    assert getpid.thread.comm == run.result["comm"]
    assert 0 < getpid.latency_ns < 1_000_000_000
    assert not getpid.attributes  # getpid takes no arguments
    uname = run.find("uname")
    assert uname.return_value == 0
    assert uname.category == event_pb2.CATEGORY_SYSTEM
    assert [a.key for a in uname.attributes] == ["name"]  # the kernel's parameter name
    assert int(attr(uname, "name")) > 0  # type: ignore[call-overload]  # a user pointer
