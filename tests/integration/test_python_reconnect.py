"""The Python clients' reconnecting streams (sync and asyncio) against the real
service, serving the shipped recording so that no kernel is needed: a
broken connection is resumed after the last event, and a restarted service
starts a new stream whose gap is reported; nothing happens silently."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.service import SAMPLE, Service, start_service
from support.socket_proxy import SocketProxy

from kindling.client import (
    LossReason,
    LostEvents,
    ProbeClient,
    Reconnect,
    ServiceUnavailable,
    StreamNotFound,
    StreamRestarted,
    StreamResumed,
    subscribe_request,
)
from kindling.client.aio import AsyncProbeClient
from kindling.client.recording import read_recording
from kindling.event.v1 import event_pb2

FAST = Reconnect(initial_backoff=0.05, max_backoff=0.5)
CLIENTS = ["sync", "asyncio"]

# Called with each item read and the stream's id; True stops reading.
Reaction = Callable[[object, str], bool]


def read(kind: str, socket: Path, react: Reaction) -> tuple[list[object], str]:
    """What a reconnecting stream of every event gave, until ``react`` said
    stop, and the stream's id then."""
    request = subscribe_request(payload="all")
    items: list[object] = []
    if kind == "sync":
        with ProbeClient(socket) as client:
            with client.subscribe(request, reconnect=FAST, timeout=60) as stream:
                for item in stream.events():
                    items.append(item)
                    if react(item, stream.stream_id):
                        break
            return items, stream.stream_id

    async def read_async() -> str:
        async with AsyncProbeClient(socket) as client:
            async with client.subscribe(request, reconnect=FAST, timeout=60) as stream:
                async for item in stream.events():
                    items.append(item)
                    # The reaction may block (a restart): off the loop.
                    if await asyncio.to_thread(react, item, stream.stream_id):
                        break
            return stream.stream_id

    return items, asyncio.run(read_async())


def recorded_events() -> int:
    with SAMPLE.open("rb") as file:
        return sum(len(response.events) for response in read_recording(file)[1])


def serve(directory: Path, speed: str) -> Service:
    return start_service(directory, "--replay", str(SAMPLE), "--speed", speed)


def events(items: list[object]) -> list[event_pb2.Event]:
    return [x for x in items if isinstance(x, event_pb2.Event)]


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[SocketProxy]:
    # The recording's three responses come 2 s and 5 s apart: the
    # connection breaks between them.
    service = serve(tmp_path, "0.002")
    forwarder = SocketProxy(tmp_path / "proxy.sock", service.socket)
    yield forwarder
    forwarder.close()
    assert service.stop() == 0, service.log()


@pytest.mark.parametrize("kind", CLIENTS)
def test_a_broken_connection_is_resumed_after_the_last_event(proxy: SocketProxy, kind: str) -> None:
    total = recorded_events()
    seen: list[int] = []

    def react(item: object, stream_id: str) -> bool:
        if isinstance(item, event_pb2.Event):
            seen.append(item.seq)
            if len(seen) == 10:
                proxy.break_connections()
            return item.seq == total
        return False

    items, stream_id = read(kind, proxy.path, react)
    (resumed,) = [x for x in items if isinstance(x, StreamResumed)]
    before = events(items[: items.index(resumed)])
    assert resumed.last_seq == before[-1].seq >= 10
    assert resumed.stream_id == stream_id != ""
    assert isinstance(resumed.cause, ServiceUnavailable) and resumed.cause.started
    assert resumed.attempts >= 1
    # Every event once, in order: the resume gave what the break lost.
    seqs = [e.seq for e in events(items)]
    lost = {
        seq
        for x in items
        if isinstance(x, LostEvents) and x.numbered
        for seq in range(x.first_seq, x.last_seq + 1)
    }
    assert seqs == sorted(set(seqs)) and not lost & set(seqs)
    assert sorted(set(seqs) | lost) == list(range(1, total + 1))
    assert not [x for x in items if isinstance(x, StreamRestarted)]
    assert proxy.accepted >= 2


@pytest.mark.parametrize("kind", CLIENTS)
def test_a_restarted_service_starts_a_new_stream_and_reports_the_gap(
    tmp_path: Path, kind: str
) -> None:
    services = [serve(tmp_path, "max")]
    ids: list[str] = []

    def restart() -> None:
        assert services[0].stop() == 0, services[0].log()
        time.sleep(1.0)  # the client finds nobody meanwhile
        services.append(serve(tmp_path, "max"))

    thread = threading.Thread(target=restart)

    def react(item: object, stream_id: str) -> bool:
        if isinstance(item, StreamRestarted):
            ids.append(stream_id)
        if not isinstance(item, event_pb2.Event):
            return False
        if item.seq == 50 and not ids:
            ids.append(stream_id)
            thread.start()
        return len(ids) == 2 and item.seq == 10

    try:
        items, stream_id = read(kind, services[0].socket, react)
        thread.join()
    finally:
        for service in services:
            assert service.stop() == 0, service.log()
    (gap,) = [x for x in items if isinstance(x, StreamRestarted)]
    at = items.index(gap)
    # The notice names the old stream and where it stopped; the new one starts at 1.
    assert gap.stream_id == ids[0] and gap.last_seq == events(items[:at])[-1].seq >= 50
    assert isinstance(gap.cause, StreamNotFound)
    assert [e.seq for e in events(items[at:])] == list(range(1, 11))
    assert stream_id not in {"", ids[0]}
    # Whatever the old service still had queued is reported, not dropped.
    stopped = [x for x in items[:at] if isinstance(x, LostEvents)]
    assert all(x.reason is LossReason.SERVICE_STOPPED for x in stopped)
    assert not [x for x in items if isinstance(x, StreamResumed)]


@pytest.mark.kernel
def test_the_kernel_service_restarted_under_a_stream(tmp_path: Path) -> None:
    """On the kernel path: 500 writes, a restart, 500 more; the client reports
    the restart between the two streams, each complete."""
    from test_slow_streams import Writer, request

    writer = Writer(500, 500)
    services = [start_service(tmp_path)]
    second_phase = threading.Thread(
        target=lambda: (services[-1].wait_subscribers(1, timeout=30), writer.phase())
    )
    items: list[object] = []
    try:
        with ProbeClient(services[0].socket) as client:
            stream = client.subscribe(request(writer.pid), reconnect=FAST, timeout=120)
            services[0].wait_subscribers(1)
            writer.phase()
            for item in stream.events():
                items.append(item)
                if isinstance(item, event_pb2.Event) and item.seq == 500:
                    if len(items) == 500:
                        assert services[0].stop() == 0, services[0].log()
                        services.append(start_service(tmp_path))
                        second_phase.start()
                    else:
                        break
        second_phase.join()
    finally:
        writer.close()
        for service in services:
            assert service.stop() == 0, service.log()
    (gap,) = [x for x in items if isinstance(x, StreamRestarted)]
    at = items.index(gap)
    assert [e.seq for e in events(items[:at])] == list(range(1, 501))
    assert gap.last_seq == 500 and isinstance(gap.cause, StreamNotFound)
    assert [e.seq for e in events(items[at:])] == list(range(1, 501))
    assert [x for x in items if not isinstance(x, event_pb2.Event)] == [gap]
