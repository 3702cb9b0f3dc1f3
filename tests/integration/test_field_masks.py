"""Field masks through the real service and socket: `serve --replay` plays
the shipped recording (tests/data/sample.kindling) to two streams at once,
one with a mask and one without; both get the same events with the same
sequence numbers, the masked one without the fields it excluded. A mask the
service cannot apply is refused with INVALID_ARGUMENT before the stream
starts. No eBPF needed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from support.service import Service, start_service

from kindling.client import ProbeClient
from kindling.client.recording import read_recording
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2, probe_pb2_grpc

SAMPLE = Path(__file__).parents[1] / "data" / "sample.kindling"
DROPPED = ["thread", "payload", "payload_length", "fd.source", "fd.destination"]


def recorded_count() -> int:
    with SAMPLE.open("rb") as file:
        return sum(len(response.events) for response in read_recording(file)[1])


@pytest.fixture
def replay(tmp_path: Path) -> Iterator[Service]:
    service = start_service(tmp_path, "--replay", str(SAMPLE), "--speed", "max")
    yield service
    assert service.stop() == 0, service.log()


def read_events(
    client: ProbeClient,
    request: probe_pb2.SubscribeRequest,
    count: int,
    into: list[event_pb2.Event],
) -> threading.Thread:
    stream = client.subscribe(request, timeout=30)

    def read() -> None:
        with stream:
            for response in stream:
                into.extend(response.events)
                if len(into) >= count:
                    return

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_a_masked_and_a_full_stream_get_the_same_events(replay: Service) -> None:
    count = recorded_count()
    masked: list[event_pb2.Event] = []
    full: list[event_pb2.Event] = []
    with ProbeClient(replay.socket) as client:
        # With every event disabled nobody wants anything: the replay waits
        # until both streams have joined.
        enabled = list(client.configure(timeout=5).enabled_events)
        client.configure(disable=enabled, timeout=5)
        mask = probe_pb2.FieldSelection(exclude=FieldMask(paths=DROPPED))
        keep_read = probe_pb2.FieldSelection(events=["read"], include=FieldMask(paths=["fd"]))
        readers = [
            read_events(
                client,
                probe_pb2.SubscribeRequest(
                    payload=probe_pb2.PAYLOAD_MODE_ALL, fields=[mask, keep_read]
                ),
                count,
                masked,
            ),
            read_events(
                client, probe_pb2.SubscribeRequest(payload=probe_pb2.PAYLOAD_MODE_ALL), count, full
            ),
        ]
        replay.wait_subscribers(2)
        client.configure(enable=enabled, timeout=5)
        for reader in readers:
            reader.join(timeout=30)
    assert len(full) == len(masked) == count, replay.log()
    assert [e.seq for e in masked] == [e.seq for e in full] == list(range(1, count + 1))
    assert any(e.HasField("thread") for e in full) and any(e.payload for e in full)
    assert any(e.fd.source.port for e in full)
    for got, whole in zip(masked, full, strict=True):
        expected = event_pb2.Event(seq=whole.seq, timestamp_ns=whole.timestamp_ns, name=whole.name)
        if whole.name == "read":  # its own selection: fd alone
            if whole.HasField("fd"):
                expected.fd.CopyFrom(whole.fd)
        else:
            expected.CopyFrom(whole)
            for name in ("thread", "payload", "payload_length"):
                expected.ClearField(name)
            if expected.HasField("fd"):
                expected.fd.ClearField("source")
                expected.fd.ClearField("destination")
        assert got == expected, whole.name
        assert not got.HasField("thread")
    # The shared bytes were cut per stream, the full stream's are untouched.
    assert sum(len(e.SerializeToString()) for e in masked) < sum(
        len(e.SerializeToString()) for e in full
    )


def test_an_invalid_mask_is_refused_with_invalid_argument(replay: Service) -> None:
    with grpc.insecure_channel(f"unix:{replay.socket}") as channel:
        stub = probe_pb2_grpc.ProbeServiceStub(channel)
        request = probe_pb2.SubscribeRequest(
            fields=[
                probe_pb2.FieldSelection(exclude=FieldMask(paths=["payload"])),
                probe_pb2.FieldSelection(
                    events=["read"], include=FieldMask(paths=["fd", "thread.bogus"])
                ),
            ]
        )
        with pytest.raises(grpc.RpcError) as raised:
            next(iter(stub.Subscribe(request, timeout=10)))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == (
        "fields[1].include.paths[1]: 'thread.bogus' is not a field of "
        "kindling.event.v1.Event.thread"
    )
