"""The ProbeService contract on the real service: GetInfo, Configure and
request validation."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2
from support.expectations import Workload, find
from support.service import Service, start_service
from support.streams import EventLog, wait_until_live

from kindling.client import ConfigChanged, ProbeClient
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2, probe_pb2_grpc
from kindling.server.catalog import CATALOG

pytestmark = pytest.mark.kernel


@pytest.fixture
def stub(service: Service) -> Iterator[probe_pb2_grpc.ProbeServiceStub]:
    with grpc.insecure_channel(f"unix:{service.socket}") as channel:
        yield probe_pb2_grpc.ProbeServiceStub(channel)


def test_get_info_describes_service_driver_and_catalogue(
    stub: probe_pb2_grpc.ProbeServiceStub, service: Service
) -> None:
    info = stub.GetInfo(probe_pb2.GetInfoRequest(), timeout=10)
    assert info.service_version
    assert list(info.contract_versions) == ["kindling.event.v1", "kindling.probe.v1"]
    assert info.driver.name == "bcc"
    assert info.driver.transport == service.transport
    assert info.driver.kernel_release == os.uname().release
    features = {f.name: f for f in info.driver.features}
    assert features["btf"].available == Path("/sys/kernel/btf/vmlinux").exists()
    assert features["tracepoints"].available
    assert features["kprobes"].available == any(
        Path(p, "kprobe_events").exists()
        for p in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
    )
    assert info.node_name == os.uname().nodename
    assert info.boot_time.seconds > 0
    assert [e.name for e in info.events] == CATALOG.names
    connect = next(e for e in info.events if e.name == "connect")
    assert connect.source == event_pb2.SOURCE_SYSCALL_EXIT
    assert connect.category == event_pb2.CATEGORY_NET
    assert connect.fd_context and connect.enabled and connect.description
    read = next(e for e in info.events if e.name == "read")
    assert [(a.key, a.type) for a in read.attributes] == [("size", probe_pb2.ATTRIBUTE_TYPE_UINT64)]


def test_invalid_subscribe_names_the_field(stub: probe_pb2_grpc.ProbeServiceStub) -> None:
    request = probe_pb2.SubscribeRequest(
        allow_list=[probe_pb2.EventFilter(names=["read"]), probe_pb2.EventFilter(names=["opne"])]
    )
    with pytest.raises(grpc.RpcError) as raised:
        next(iter(stub.Subscribe(request, timeout=10)))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith("allow_list[1].names[0]: unknown event name 'opne'")


def test_invalid_configure_changes_nothing(stub: probe_pb2_grpc.ProbeServiceStub) -> None:
    before = stub.GetInfo(probe_pb2.GetInfoRequest(), timeout=10)
    with pytest.raises(grpc.RpcError) as raised:
        stub.Configure(probe_pb2.ConfigureRequest(disable_events=["read", "bogus"]), timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "disable_events[1]: unknown event name 'bogus'" in raised.value.details()
    after = stub.GetInfo(probe_pb2.GetInfoRequest(), timeout=10)
    assert [e.enabled for e in after.events] == [e.enabled for e in before.events]


@pytest.mark.parametrize(
    ("method", "data", "reason"),
    [
        ("Subscribe", b"\x0a\xff\xff", "Wire format was corrupt"),  # a length past the end
        ("Configure", b"\x0a\x02\xff\xfe", "String field had bad UTF-8"),
        ("GetInfo", b"garbage!", "Wire format was corrupt"),
        ("Configure", probe_pb2.SubscribeRequest(payload=1).SerializeToString()[:1], ""),
    ],
)
def test_undecodable_requests_are_invalid_arguments(
    service: Service, method: str, data: bytes, reason: str
) -> None:
    path = f"/kindling.probe.v1.ProbeService/{method}"

    def send(channel: grpc.Channel) -> object:
        if method == "Subscribe":
            return next(iter(channel.unary_stream(path)(data, timeout=10)))
        return channel.unary_unary(path)(data, timeout=10)

    with (
        grpc.insecure_channel(f"unix:{service.socket}") as channel,
        pytest.raises(grpc.RpcError) as raised,
    ):
        send(channel)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    message = raised.value.details()
    assert message.startswith(f"the request is not a valid kindling.probe.v1.{method}Request")
    assert reason in message
    assert "Traceback" not in service.log()


def test_configure_stops_and_restarts_an_event(
    stub: probe_pb2_grpc.ProbeServiceStub, tmp_path: Path
) -> None:
    def subscribe_and_run(workdir: Path) -> tuple[list[event_pb2.Event], int, str]:
        workdir.mkdir()
        log = EventLog()
        call = stub.Subscribe(
            probe_pb2.SubscribeRequest(
                allow_list=[probe_pb2.EventFilter(names=["openat", "read", "process_exit"])]
            )
        )

        def pump() -> None:
            try:
                for response in call:
                    log.add(response.events)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.CANCELLED:
                    log.errors.append(repr(error))

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        try:
            wait_until_live(log, workdir)
            workload = Workload(workdir)
            run = workload.run()
            # The workload's own exit marks the end of what it did.
            events = log.wait_for(lambda evs: find(evs, "process_exit", run.pid) is not None)
        finally:
            call.cancel()
            thread.join(timeout=5)
        return events, run.pid, run.result["path"]

    response = stub.Configure(probe_pb2.ConfigureRequest(disable_events=["read"]), timeout=10)
    try:
        assert "read" not in response.enabled_events
        events, pid, path = subscribe_and_run(tmp_path / "off")
        assert find(events, "openat", pid, lambda e: e.fd.path == path) is not None
        assert find(events, "read", pid) is None
    finally:
        response = stub.Configure(probe_pb2.ConfigureRequest(enable_events=["read"]), timeout=10)
    assert list(response.enabled_events) == CATALOG.names
    events, pid, path = subscribe_and_run(tmp_path / "on")
    assert find(events, "read", pid, lambda e: e.fd.path == path) is not None


def test_a_stream_gathers_its_events_and_says_when_each_response_left(
    stub: probe_pb2_grpc.ProbeServiceStub, service: Service, tmp_path: Path
) -> None:
    """Batching.max_delay: twenty opens 10 ms apart come in a few responses,
    each stamped with its send time, after the events it carries."""
    info = stub.GetInfo(probe_pb2.GetInfoRequest(), timeout=10)
    assert info.driver.max_batch_events > 0
    opener = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "sys.stdin.readline()\n"
         "for i in range(20):\n"
         "    open(sys.argv[1]).close(); time.sleep(0.01)\n",
         str(tmp_path / "batched.txt")],
        stdin=subprocess.PIPE,
    )  # fmt: skip
    (tmp_path / "batched.txt").write_text("x")
    request = probe_pb2.SubscribeRequest(
        allow_list=[probe_pb2.EventFilter(names=["openat"], pids=[opener.pid])],
        batching=probe_pb2.Batching(
            max_events=1000, max_delay=duration_pb2.Duration(nanos=500_000_000)
        ),
    )
    joined = service.log().count(" joined (")
    call = stub.Subscribe(request, timeout=30)
    responses: list[probe_pb2.SubscribeResponse] = []
    try:
        service.wait_subscribers(joined + 1)
        assert opener.stdin is not None
        opener.stdin.write(b"go\n")
        opener.stdin.close()
        assert opener.wait(timeout=30) == 0
        for response in call:
            responses.append(response)
            opened = [
                e
                for r in responses
                for e in r.events
                if e.name == "openat"
                and any(a.string_value.endswith("batched.txt") for a in e.attributes)
            ]
            if len(opened) == 20:
                break
    finally:
        call.cancel()
    assert len(responses) <= 4, [len(r.events) for r in responses]
    for response in responses:
        boot = response.boot_time.ToNanoseconds()
        sent = response.sent_at.ToNanoseconds()
        assert all(boot + e.timestamp_ns <= sent for e in response.events)
        assert sent <= time.time_ns()


def test_limits_are_reported_and_held(tmp_path: Path) -> None:
    service = start_service(tmp_path, "--max-subscribers", "2")
    try:
        with grpc.insecure_channel(f"unix:{service.socket}") as channel:
            stub = probe_pb2_grpc.ProbeServiceStub(channel)
            limits = stub.GetInfo(probe_pb2.GetInfoRequest(), timeout=10).limits
            assert (limits.max_subscribers, limits.max_concurrent_rpcs) == (2, 66)
            assert limits.max_request_bytes == 4 << 20
            assert (limits.max_filters, limits.max_values) == (64, 4096)
            calls = [stub.Subscribe(probe_pb2.SubscribeRequest()) for _ in range(2)]
            service.wait_subscribers(2)
            with pytest.raises(grpc.RpcError) as raised:
                next(iter(stub.Subscribe(probe_pb2.SubscribeRequest(), timeout=10)))
            assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "--max-subscribers" in (raised.value.details() or "")
            too_big = probe_pb2.SubscribeRequest(
                allow_list=[probe_pb2.EventFilter(comms=["x" * 200] * 30_000)]
            )
            with pytest.raises(grpc.RpcError) as raised:
                next(iter(stub.Subscribe(too_big, timeout=10)))
            assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            for call in calls:
                call.cancel()
    finally:
        assert service.stop() == 0, service.log()


def test_configure_is_numbered_dry_runs_and_compares_and_sets(service: Service) -> None:
    with ProbeClient(str(service.socket)) as client:
        start = client.get_config()
        assert "read" in start.enabled_events
        would = client.configure(disable=["read"], dry_run=True)
        assert not would.applied and "read" not in would.enabled_events
        assert would.generation == start.generation
        assert client.get_config() == start  # a dry run changes nothing
        done = client.configure(disable=["read"], expected_generation=start.generation)
        assert done.applied and done.generation == start.generation + 1
        with pytest.raises(ConfigChanged, match=f"at generation {done.generation}, not"):
            client.configure(enable=["read"], expected_generation=start.generation)
        assert "read" not in client.get_config().enabled_events
        back = client.configure(enable=["read"], expected_generation=done.generation)
        assert "read" in back.enabled_events
    assert f"configured by uid 0 (root) pid {os.getpid()} " in service.log()
    assert f"(generation {back.generation}): capturing" in service.log()
