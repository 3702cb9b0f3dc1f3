"""Pay only for what is asked, seen through the service's own API: with no
subscriber nothing is attached and nothing is emitted (the kernel counters
that GetInfo reports stand still); a subscriber's filters become kernel
filters, so what it cannot select never leaves the kernel; and when a
subscriber asks again, events come back with their thread and fd context."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from support.expectations import Workload, find
from support.service import Service
from support.streams import EventLog

from kindling.client import ProbeClient
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2

pytestmark = pytest.mark.kernel


def counters(client: ProbeClient) -> dict[str, tuple[int, int, int]]:
    info = client.get_info(timeout=10)
    return {c.event: (c.emitted, c.filtered, c.lost) for c in info.driver.counters}


def attached(client: ProbeClient) -> list[str]:
    return list(client.get_info(timeout=10).driver.attached)


def wait_idle(client: ProbeClient, timeout: float = 15.0) -> None:
    """Until no subscriber's hooks remain (detaching ends in the background)."""
    deadline = time.monotonic() + timeout
    while attached(client) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert attached(client) == []


def stream(client: ProbeClient, request: probe_pb2.SubscribeRequest) -> tuple[EventLog, object]:
    log = EventLog()
    subscription = client.subscribe(request)

    def pump() -> None:
        try:
            for response in subscription:
                log.add(response.events)
        except Exception as error:  # the stream ends when the test cancels it
            log.errors.append(repr(error))

    threading.Thread(target=pump, daemon=True).start()
    return log, subscription


def test_no_subscriber_no_cost_and_context_comes_back(service: Service, tmp_path: Path) -> None:
    with ProbeClient(service.socket) as client:
        wait_idle(client)
        info = client.get_info(timeout=10)
        assert list(info.driver.scope.events) == []
        before = counters(client)
        # A process doing everything the workload does, watched by nobody.
        unwatched = tmp_path / "unwatched"
        unwatched.mkdir()
        Workload(unwatched).run()
        assert counters(client) == before, "a program ran with nobody subscribed"

        # One subscriber, for one process's opens and reads.
        workdir = tmp_path / "watched"
        workdir.mkdir()
        workload = Workload(workdir)
        request = probe_pb2.SubscribeRequest(
            allow_list=[probe_pb2.EventFilter(names=["openat", "read"], pids=[workload.pid])]
        )
        joined = service.log().count(" joined (")
        log, subscription = stream(client, request)
        service.wait_subscribers(joined + 1)
        deadline = time.monotonic() + 10
        while "syscalls:sys_exit_read" not in attached(client) and time.monotonic() < deadline:
            time.sleep(0.02)
        hooks = attached(client)
        # What it asked for, and what keeps its thread and fd context right,
        # and nothing else (no write, no exit codes).
        assert {"syscalls:sys_exit_openat", "syscalls:sys_exit_read"} <= set(hooks)
        assert {"syscalls:sys_exit_close", "sched:sched_process_exec"} <= set(hooks)
        assert "syscalls:sys_exit_write" not in hooks
        assert "syscalls:sys_enter_exit_group" not in hooks
        scope = {e.name: e for e in client.get_info(timeout=10).driver.scope.events}
        assert scope["read"].delivered and scope["read"].pid_scoped
        assert not scope["close"].delivered and scope["close"].pid_scoped
        mid = counters(client)

        # Someone else's opens while it is subscribed: filtered in the kernel.
        other = tmp_path / "other-file"
        other.write_text("x")
        for _ in range(5):
            subprocess.run(["/bin/cat", str(other)], stdout=subprocess.DEVNULL, check=True)
        run = workload.run()
        events = log.wait_for(
            lambda evs: (
                find(evs, "read", run.pid, lambda e: e.fd.path == run.result["path"]) is not None
            )
        )
        subscription.cancel()  # type: ignore[attr-defined]
        after = counters(client)
        assert {e.thread.pid for e in events} == {run.pid}
        assert not [e for e in events if e.fd.path == str(other)]
        assert after["openat"][1] - mid["openat"][1] >= 5, "cat's opens were not filtered"
        read = find(events, "read", run.pid, lambda e: e.fd.path == run.result["path"])
        assert read is not None
        assert read.fd.type == event_pb2.FD_TYPE_FILE
        assert read.thread.exe == os.path.realpath(sys.executable)

        # It left: everything is detached again and the counters stand still.
        wait_idle(client)
        quiet = counters(client)
        for _ in range(3):
            subprocess.run(["/bin/cat", str(other)], stdout=subprocess.DEVNULL, check=True)
        assert counters(client) == quiet


def test_configure_kernel_filters_keep_a_noisy_program_in_the_kernel(
    service: Service, tmp_path: Path
) -> None:
    script = (
        "import sys\n"
        "open('/proc/self/comm', 'w').write('kindling-noisy')\n"
        "sys.stdin.readline()\n"
        "for _ in range(20):\n"
        "    open(sys.argv[1]).read()\n"
    )
    target = tmp_path / "noisy-file"
    target.write_text("x")
    with ProbeClient(service.socket) as client:
        request = probe_pb2.ConfigureRequest(
            kernel_filters=probe_pb2.KernelFilters(deny_comms=["kindling-noisy"])
        )
        response = client.stub.Configure(request, timeout=10)
        assert list(response.kernel_filters.deny_comms) == ["kindling-noisy"]
        try:
            noisy = subprocess.Popen(
                [sys.executable, "-c", script, str(target)], stdin=subprocess.PIPE, text=True
            )
            log, subscription = stream(
                client,
                probe_pb2.SubscribeRequest(
                    allow_list=[probe_pb2.EventFilter(names=["openat"], pids=[noisy.pid])]
                ),
            )
            time.sleep(0.5)
            before = counters(client)["openat"]
            assert noisy.stdin is not None
            noisy.stdin.write("go\n")
            noisy.stdin.close()
            assert noisy.wait(timeout=30) == 0
            after = counters(client)["openat"]
            subscription.cancel()  # type: ignore[attr-defined]
            scope = client.get_info(timeout=10).driver.scope
            assert list(scope.kernel_filters.deny_comms) == ["kindling-noisy"]
        finally:
            client.stub.Configure(
                probe_pb2.ConfigureRequest(kernel_filters=probe_pb2.KernelFilters()), timeout=10
            )
        assert not [e for e in log.events if e.fd.path == str(target)]
        assert after[0] == before[0], "a denied thread's open left the kernel"
        assert after[1] - before[1] >= 20


def test_invalid_kernel_filters_are_refused(service: Service) -> None:
    with ProbeClient(service.socket) as client:
        request = probe_pb2.ConfigureRequest(
            kernel_filters=probe_pb2.KernelFilters(deny_comms=["a-name-far-too-long-for-comm"])
        )
        with pytest.raises(grpc.RpcError) as raised:
            client.stub.Configure(request, timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert raised.value.details().startswith("kernel_filters.deny_comms[0]: ")
        assert not client.get_info(timeout=10).driver.scope.kernel_filters.deny_comms
