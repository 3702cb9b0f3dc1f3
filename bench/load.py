"""The service under load: whether it stays bounded and answers.

- flood: the write() loop flat out with one Go subscriber for its writes;
  the service's peak RSS and GetInfo's latency, sampled while it runs.
- filters: five subscribers with the largest filters a request may hold
  (64 allow and 64 deny filters of 4,096 pids each, none matching) beside
  a bystander subscribed to a generator at 20,000 writes/s: what the
  bystander lost, and the service's CPU.
- stalled: the same flood with eight subscribers for its writes that never
  read: their queues fill up to the memory all queues share
  (--queue-memory-mb), and the service's RSS must stay within its start
  plus that bound; GetInfo must still answer.
- subscribers: 1,000 idle subscribers; GetInfo's latency with them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import grpc
from harness import (
    FLAT_OUT,
    Children,
    Service,
    finish_generator,
    release_generator,
    say,
    start_generator,
    subscribe,
)

from kindling.probe.v1 import probe_pb2, probe_pb2_grpc

FILTER_RATE = 20_000
STALLED_SUBSCRIBERS = 8
# The service's default --queue-memory-mb.
QUEUE_MEMORY_MB = 256
IDLE_SUBSCRIBERS = 1000
MAX_FILTERS = 64
MAX_VALUES = 4096


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _get_info_ms(stub: probe_pb2_grpc.ProbeServiceStub) -> float:
    began = time.monotonic()
    stub.GetInfo(probe_pb2.GetInfoRequest(), timeout=30)
    return (time.monotonic() - began) * 1000


def flood(children: Children, service: Service, seconds: float) -> dict[str, Any]:
    gen = start_generator(children, FLAT_OUT, seconds)
    sub = subscribe(children, service, pids=[gen.pid], names=["write"], timeout=seconds + 60)
    rss = [_rss_mb(service.proc.pid)]
    latencies: list[float] = []
    with grpc.insecure_channel(f"unix:{service.socket}") as channel:
        stub = probe_pb2_grpc.ProbeServiceStub(channel)
        release_generator(gen)
        while gen.poll() is None:
            rss.append(_rss_mb(service.proc.pid))
            latencies.append(_get_info_ms(stub))
            time.sleep(0.25)
    finish_generator(gen, seconds)
    outcome = sub.result(timeout=60)
    return {
        "seconds": seconds,
        "rss_mb_start": round(rss[0], 1),
        "rss_mb_max": round(max(rss), 1),
        "get_info_ms_p99": round(_p99(latencies), 1),
        "get_info_samples": len(latencies),
        "delivered": outcome["events"],
        "lost": outcome["lost"],
    }


def stalled(children: Children, service: Service, seconds: float) -> dict[str, Any]:
    gen = start_generator(children, FLAT_OUT, seconds)
    channel = grpc.insecure_channel(f"unix:{service.socket}")
    stub = probe_pb2_grpc.ProbeServiceStub(channel)
    joined = service.joined()
    wanted = probe_pb2.SubscribeRequest(
        allow_list=[probe_pb2.EventFilter(names=["write"], pids=[gen.pid])]
    )
    calls = [stub.Subscribe(wanted) for _ in range(STALLED_SUBSCRIBERS)]  # never read
    deadline = time.monotonic() + 60
    while service.joined() < joined + len(calls) and time.monotonic() < deadline:
        time.sleep(0.05)
    rss = [_rss_mb(service.proc.pid)]
    latencies: list[float] = []
    used: list[int] = []
    try:
        release_generator(gen)
        while gen.poll() is None:
            rss.append(_rss_mb(service.proc.pid))
            began = time.monotonic()
            info = stub.GetInfo(probe_pb2.GetInfoRequest(), timeout=30)
            latencies.append((time.monotonic() - began) * 1000)
            used.append(info.streams.memory_used_bytes)
            time.sleep(0.25)
        finish_generator(gen, seconds)
    finally:
        for call in calls:
            call.cancel()
        channel.close()
    return {
        "seconds": seconds,
        "subscribers": STALLED_SUBSCRIBERS,
        "queue_memory_mb": QUEUE_MEMORY_MB,
        "queued_mb_max": round(max(used, default=0) / (1 << 20), 1),
        "rss_mb_start": round(rss[0], 1),
        "rss_mb_max": round(max(rss), 1),
        "get_info_ms_p99": round(_p99(latencies), 1),
    }


def _read_until_cancelled(call: Any) -> None:
    with contextlib.suppress(grpc.RpcError):  # cancelled when the scenario ends
        for _ in call:
            pass


def _largest_request(offset: int) -> probe_pb2.SubscribeRequest:
    def pids(k: int) -> list[int]:
        first = 3_000_000 + offset * 1_000_000 + k * MAX_VALUES
        return list(range(first, first + MAX_VALUES))

    return probe_pb2.SubscribeRequest(
        allow_list=[probe_pb2.EventFilter(names=["write"], pids=pids(k)) for k in range(64)],
        deny_list=[probe_pb2.EventFilter(pids=pids(64 + k)) for k in range(64)],
    )


def big_filters(children: Children, service: Service, seconds: float) -> dict[str, Any]:
    channel = grpc.insecure_channel(
        f"unix:{service.socket}", options=[("grpc.max_send_message_length", 64 << 20)]
    )
    stub = probe_pb2_grpc.ProbeServiceStub(channel)
    joined = service.joined()
    calls = [stub.Subscribe(_largest_request(i)) for i in range(5)]
    for call in calls:
        threading.Thread(target=_read_until_cancelled, args=(call,), daemon=True).start()
    deadline = time.monotonic() + 60
    while service.joined() < joined + len(calls) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        gen = start_generator(children, FILTER_RATE, seconds)
        bystander = subscribe(
            children, service, pids=[gen.pid], names=["write"], timeout=seconds + 60
        )
        cpu_before = service.cpu_seconds()
        release_generator(gen)
        made = finish_generator(gen, seconds)
        cpu = service.cpu_seconds() - cpu_before
        outcome = bystander.result(timeout=60)
    finally:
        for call in calls:
            call.cancel()
        channel.close()
    return {
        "rate": FILTER_RATE,
        "made": made.calls,
        "bystander_delivered": outcome["events"],
        "bystander_lost": sum(outcome["lost"].values()),
        "service_cpu_share": round(cpu / seconds, 3),
    }


def idle_subscribers(service: Service) -> dict[str, Any]:
    channel = grpc.insecure_channel(f"unix:{service.socket}")
    stub = probe_pb2_grpc.ProbeServiceStub(channel)
    joined = service.joined()
    began = time.monotonic()
    calls = [
        stub.Subscribe(
            probe_pb2.SubscribeRequest(
                allow_list=[probe_pb2.EventFilter(names=["process_exec"], pids=[100_000 + i])]
            )
        )
        for i in range(IDLE_SUBSCRIBERS)
    ]
    try:
        while service.joined() < joined + IDLE_SUBSCRIBERS and time.monotonic() - began < 120:
            time.sleep(0.1)
        join_seconds = time.monotonic() - began
        latencies = [_get_info_ms(stub) for _ in range(30)]
    finally:
        for call in calls:
            call.cancel()
        channel.close()
    return {
        "subscribers": IDLE_SUBSCRIBERS,
        "join_seconds": round(join_seconds, 1),
        "get_info_ms_p99": round(_p99(latencies), 1),
    }


def measure(children: Children, workdir: Path, transport: str, seconds: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for key, run in (
        ("flood", lambda s: flood(children, s, seconds)),
        ("stalled", lambda s: stalled(children, s, seconds)),
        ("filters", lambda s: big_filters(children, s, min(seconds, 10.0))),
        ("subscribers", idle_subscribers),
    ):
        service = Service(children, workdir, transport)
        try:
            service.wait_serving()
            service.settle()
            results[key] = run(service)
        finally:
            service.stop()
        say(f"  load/{key}: {results[key]}")
    return results
