"""The service under load, through the real socket and driver: its memory
stays within the documented bound, GetInfo keeps answering, and a narrow
subscriber loses nothing beside the largest filters. (`make bench` measures
the same at length and prints the figures.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from support.expectations import PausedProcess
from support.service import Service, start_service

from kindling.probe.v1 import probe_pb2, probe_pb2_grpc

pytestmark = pytest.mark.kernel

FLOOD = Path(__file__).parents[1] / "support" / "write_flood.py"
QUEUE_MEMORY_MB = 32
# What gRPC may hold for each connection beyond the queues, and slack.
GRPC_MB = 64


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def get_info_ms(stub: probe_pb2_grpc.ProbeServiceStub) -> tuple[float, probe_pb2.GetInfoResponse]:
    began = time.monotonic()
    info = stub.GetInfo(probe_pb2.GetInfoRequest(), timeout=10)
    return (time.monotonic() - began) * 1000, info


def writes_of(pid: int) -> probe_pb2.SubscribeRequest:
    """The flood's writes (3 bytes each; its JSON lines are longer)."""
    writes = probe_pb2.EventFilter(
        names=["write"], pids=[pid], return_value=probe_pb2.ReturnValueFilter(values=[3])
    )
    return probe_pb2.SubscribeRequest(allow_list=[writes])


class Reader:
    """A stream read on a thread, counting events and losses."""

    def __init__(self, call: object) -> None:
        self.events = 0
        self.lost = 0
        self._call = call
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for response in self._call:  # type: ignore[attr-defined]
                self.events += len(response.events)
                self.lost += sum(x.count for x in response.losses)
        except grpc.RpcError:
            pass


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    service = start_service(
        tmp_path, "--queue-memory-mb", str(QUEUE_MEMORY_MB), "--subscriber-queue-mb", "16"
    )
    yield service
    assert service.stop() == 0, service.log()


def test_a_write_flood_stays_within_the_memory_bound(service: Service) -> None:
    flood = PausedProcess(FLOOD, "10")
    pid = flood.started["pid"]
    with grpc.insecure_channel(f"unix:{service.socket}") as channel:
        stub = probe_pb2_grpc.ProbeServiceStub(channel)
        stalled = [stub.Subscribe(writes_of(pid)) for _ in range(4)]  # never read
        reader = Reader(stub.Subscribe(writes_of(pid)))
        service.wait_subscribers(5)
        get_info_ms(stub)  # the first looks the kernel's facts up
        start = rss_mb(service.proc.pid)
        rss, latencies, queued = [start], [], []
        done = threading.Thread(target=flood.go, daemon=True)
        done.start()
        while done.is_alive():
            ms, info = get_info_ms(stub)
            latencies.append(ms)
            queued.append(info.streams.memory_used_bytes)
            rss.append(rss_mb(service.proc.pid))
            time.sleep(0.02)
        for call in stalled:
            call.cancel()
    assert reader.events > 10_000
    assert max(queued) <= QUEUE_MEMORY_MB << 20
    assert max(queued) > (QUEUE_MEMORY_MB << 20) // 2, "the stalled streams did not fill the queues"
    assert max(rss) <= start + QUEUE_MEMORY_MB + GRPC_MB, (start, max(rss))
    assert p99(latencies) <= 100, sorted(latencies)[-5:]


def test_a_bystander_loses_nothing_beside_five_maximal_filters(service: Service) -> None:
    def pids(k: int) -> list[int]:  # processes that do not exist (pid_max is 4,194,304)
        first = 3_000_000 + k * 4096
        return list(range(first, first + 4096))

    largest = [
        probe_pb2.SubscribeRequest(
            allow_list=[probe_pb2.EventFilter(names=["write"], pids=pids(k)) for k in range(64)],
            deny_list=[probe_pb2.EventFilter(pids=pids(64 + k)) for k in range(64)],
        )
        for _ in range(5)
    ]
    writer = PausedProcess(FLOOD, "5", "20000")
    options = [("grpc.max_send_message_length", 64 << 20)]
    with grpc.insecure_channel(f"unix:{service.socket}", options=options) as channel:
        stub = probe_pb2_grpc.ProbeServiceStub(channel)
        heavy = [Reader(stub.Subscribe(r)) for r in largest]
        bystander = Reader(stub.Subscribe(writes_of(writer.started["pid"])))
        service.wait_subscribers(6, timeout=60)
        wrote = writer.go()["wrote"]
        deadline = time.monotonic() + 20
        while bystander.events < wrote and time.monotonic() < deadline:
            time.sleep(0.1)
    assert wrote >= 50_000
    assert (bystander.events, bystander.lost) == (wrote, 0)
    assert all(r.events == 0 for r in heavy)


def test_getinfo_stays_fast_with_1000_subscribers(service: Service) -> None:
    with grpc.insecure_channel(f"unix:{service.socket}") as channel:
        stub = probe_pb2_grpc.ProbeServiceStub(channel)
        calls = [
            stub.Subscribe(
                probe_pb2.SubscribeRequest(
                    allow_list=[probe_pb2.EventFilter(names=["process_exec"], pids=[100_000 + i])]
                )
            )
            for i in range(1000)
        ]
        try:
            service.wait_subscribers(1000, timeout=120)
            get_info_ms(stub)  # the first looks the kernel's facts up
            latencies = [get_info_ms(stub)[0] for _ in range(300)]
            assert get_info_ms(stub)[1].streams.subscribers == 1000
        finally:
            for call in calls:
                call.cancel()
    assert p99(latencies) <= 100, sorted(latencies)[-5:]
