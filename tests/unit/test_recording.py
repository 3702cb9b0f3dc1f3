"""Recordings: the file format (kindling.client.recording) and what the
replay driver makes of a recording, on the real one in tests/data."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from support.expectations import without_seq

from kindling.client.recording import (
    FORMAT,
    MAX_MESSAGE_BYTES,
    RecordingError,
    RecordingWriter,
    read_recording,
)
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2, recording_pb2
from kindling.server.catalog import CATALOG
from kindling.server.drivers.base import KernelFilter, RecordBatch
from kindling.server.drivers.replay import ReplayDriver, _split, build_batch
from kindling.server.errors import StartupError
from kindling.server.pipeline.encode.batch import EventBatch
from kindling.server.pipeline.encode.framing import frame_events
from kindling.server.pipeline.plan import PayloadMode

SAMPLE = Path(__file__).parents[1] / "data" / "sample.kindling"
FACTS = json.loads(SAMPLE.with_suffix(".kindling.json").read_text())
ALL = frozenset(CATALOG.by_id)
IDS = {spec.name: spec.id for spec in CATALOG.specs}


def sample() -> tuple[recording_pb2.RecordingHeader, list[probe_pb2.SubscribeResponse]]:
    with SAMPLE.open("rb") as file:
        header, responses = read_recording(file)
        return header, list(responses)


def sample_events() -> list[event_pb2.Event]:
    return [event for response in sample()[1] for event in response.events]


def written(*responses: probe_pb2.SubscribeResponse | bytes) -> bytes:
    out = io.BytesIO()
    writer = RecordingWriter(out, recording_pb2.RecordingHeader(node_name="n1"))
    for response in responses:
        writer.write(response)
    return out.getvalue()


def response_of(
    *names: str, losses: tuple[probe_pb2.Loss, ...] = ()
) -> probe_pb2.SubscribeResponse:
    return probe_pb2.SubscribeResponse(
        events=[
            event_pb2.Event(seq=i + 1, name=name, timestamp_ns=1000 + i)
            for i, name in enumerate(names)
        ],
        losses=losses,
    )


# --- the format -------------------------------------------------------------------------


def test_a_recording_reads_back_as_written() -> None:
    first, second = response_of("read", "write"), response_of("connect")
    header, responses = read_recording(io.BytesIO(written(first, second.SerializeToString())))
    assert header.format == FORMAT and header.node_name == "n1"
    assert list(responses) == [first, second]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"\x05ab", "ends inside the message at byte 0"),
        (b"\x80", "ends inside a message size at byte 0"),
        (b"\xff" * 11, "is not a varint"),
        (b"\x02\xff\xff", "does not parse"),
        # A valid message of another kind has no format name.
        (b"\x06\x0a\x04\x1a\x02ab", "is not a recording"),
    ],
)
def test_a_file_that_is_not_a_recording_is_refused_at_once(data: bytes, message: str) -> None:
    with pytest.raises(RecordingError, match=message):
        read_recording(io.BytesIO(data))


def test_damage_after_the_header_is_reported_where_it_is() -> None:
    data = written(response_of("read"), response_of("write"))
    _, responses = read_recording(io.BytesIO(data[:-3]))
    first = next(responses)
    assert first.events[0].name == "read"
    with pytest.raises(RecordingError, match=r"ends inside the message at byte \d+"):
        next(responses)


def test_a_size_beyond_any_message_means_damage_not_a_huge_read() -> None:
    size = MAX_MESSAGE_BYTES + 1
    varint = bytearray()
    while size >= 0x80:
        varint.append(size & 0x7F | 0x80)
        size >>= 7
    varint.append(size)
    _, responses = read_recording(io.BytesIO(written() + bytes(varint)))
    with pytest.raises(RecordingError, match="claims"):
        next(responses)


# --- the shipped recording ----------------------------------------------------------------


def test_the_shipped_recording_holds_the_workload_it_was_made_of() -> None:
    header, responses = sample()
    assert header.format == FORMAT
    assert set(header.contract_versions) == {"kindling.event.v1", "kindling.probe.v1"}
    assert header.node_name and header.kernel_release and header.boot_time.seconds > 0
    assert {e.name for e in header.events} >= {"sendto", "tcp_state_change"}
    events = sample_events()
    pids = {FACTS["pid"], FACTS["server_pid"]}
    assert {e.thread.pid for e in events} <= pids
    request_line = b"GET /hello.txt HTTP/1.1\r\n"
    sent = [e for e in events if e.name == "sendto" and e.payload.startswith(request_line)]
    received = [e for e in events if e.name == "recvfrom" and e.payload.startswith(request_line)]
    assert [e.thread.pid for e in sent] == [FACTS["pid"]]
    assert [e.thread.pid for e in received] == [FACTS["server_pid"]]
    # The long header was cut at the snaplen, and the full length kept.
    assert sent[0].payload_length > len(sent[0].payload)
    assert all(r.events or r.losses for r in responses)


# --- replay: what the kernel would have let through -------------------------------------------


def split_sample() -> list:  # type: ignore[type-arg]
    return [_split(r, IDS) for r in sample()[1]]


def decoded(batch: EventBatch, payload: PayloadMode = PayloadMode.ALL) -> list[event_pb2.Event]:
    blob, _ = frame_events(batch, np.arange(len(batch)), 1, payload)
    return list(probe_pb2.SubscribeResponse.FromString(blob).events)


def replayed(kernel: KernelFilter, payload: PayloadMode = PayloadMode.ALL) -> list[event_pb2.Event]:
    return [e for r in split_sample() for e in decoded(build_batch(r, kernel), payload)]


def everything(**changes: object) -> KernelFilter:
    fields: dict[str, object] = {
        "capture": ALL,
        "delivered": ALL,
        "payload": ALL,
        "payload_any_fd": ALL,
        "snaplen": 4096,
    }
    fields.update(changes)
    return KernelFilter(**fields)  # type: ignore[arg-type]


def test_with_everything_wanted_the_recorded_events_come_back_unchanged() -> None:
    assert without_seq(replayed(everything())) == without_seq(sample_events())


def test_events_nobody_asked_for_stay_behind() -> None:
    wanted = frozenset({IDS["sendto"], IDS["recvfrom"]})
    events = replayed(everything(delivered=wanted))
    assert events and {e.name for e in events} == {"sendto", "recvfrom"}
    expected = [e for e in sample_events() if e.name in ("sendto", "recvfrom")]
    assert without_seq(events) == without_seq(expected)


def test_pid_scope_deny_sets_and_failed_io_filter_as_the_kernel_would() -> None:
    server = FACTS["server_pid"]
    scoped = replayed(everything(pid_scoped=ALL, allow_pids=frozenset({server})))
    assert scoped and {e.thread.pid for e in scoped} == {server}
    denied = replayed(everything(deny_pids=frozenset({server})))
    assert denied and server not in {e.thread.pid for e in denied}
    assert replayed(everything(deny_comms=frozenset({FACTS["comm"].encode()}))) == []
    read = frozenset({IDS["read"]})
    kept = replayed(everything(drop_failed=read))
    reads = [e for e in sample_events() if e.name == "read"]
    assert any(e.return_value <= 0 for e in reads), "the sample has no failed read"
    assert [e.return_value for e in kept if e.name == "read"] == [
        e.return_value for e in reads if e.return_value > 0
    ]


def test_payloads_are_cut_to_the_snaplen_and_kept_only_where_wanted() -> None:
    cut = [e for e in replayed(everything(snaplen=16)) if e.payload]
    recorded = {(e.timestamp_ns, e.name): e for e in sample_events() if e.payload}
    assert len(cut) == len(recorded)
    for event in cut:
        original = recorded[(event.timestamp_ns, event.name)]
        assert event.payload == original.payload[:16]
        assert event.payload_length == original.payload_length
    assert not any(
        e.payload or e.payload_length
        for e in replayed(everything(payload=frozenset(), payload_any_fd=frozenset()))
    )
    # A stream that asked for none sees none, whatever the kernel copied.
    assert not any(e.payload for e in replayed(everything(), PayloadMode.NONE))


def test_recorded_losses_are_reported_again_by_reason() -> None:
    losses = (
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_KERNEL_BUFFER_FULL, count=4),
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_SERVICE_ERROR, count=2),
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL, count=7, first_seq=3),
    )
    batch = build_batch(_split(response_of("read", losses=losses), IDS), everything())
    assert (batch.kernel_lost, batch.failed, batch.not_recorded) == (4, 2, 7)


def test_events_the_catalogue_does_not_know_go_to_streams_that_take_everything() -> None:
    response = response_of("read", "from_a_newer_probe")
    assert len(build_batch(_split(response, IDS), everything())) == 2
    # The kernel stand-in keeps them whenever anything is delivered: each
    # stream's own filter (by name, in the broker) decides.
    narrow = everything(delivered=frozenset({IDS["read"]}))
    assert len(build_batch(_split(response_of("read", "from_a_newer_probe"), IDS), narrow)) == 2
    assert len(build_batch(_split(response_of("from_a_newer_probe"), IDS), KernelFilter())) == 0


# --- the replay driver ------------------------------------------------------------------------


def test_the_driver_waits_for_a_subscriber_then_plays_the_recording_once() -> None:
    driver = ReplayDriver(CATALOG, SAMPLE, speed=None)
    driver.preflight()
    batches: list[RecordBatch | EventBatch] = []
    driver.start(batches.append)
    time.sleep(0.2)
    assert batches == [], "played before anybody subscribed"
    driver.apply(everything())
    deadline = time.monotonic() + 10
    total = len(sample_events())
    while sum(len(b) for b in batches) < total and time.monotonic() < deadline:
        time.sleep(0.02)
    driver.stop()
    assert sum(len(b) for b in batches) == total
    stats = driver.stats()
    assert stats.records == total
    assert sum(c.emitted for c in stats.events.values()) == total
    assert driver.boot_time_ns() == sample()[0].boot_time.ToNanoseconds()
    assert "finished" in driver.features()[0].detail


def test_at_the_recorded_pace_a_replay_takes_as_long_as_the_recording() -> None:
    events = sample_events()
    span = (events[-1].timestamp_ns - events[0].timestamp_ns) / 1e9
    speed = span / 0.5  # half a second
    driver = ReplayDriver(CATALOG, SAMPLE, speed=speed)
    done = threading.Event()
    count = [0]

    def sink(batch: RecordBatch | EventBatch) -> None:
        count[0] += len(batch)
        if count[0] == len(events):
            done.set()

    driver.start(sink)
    began = time.monotonic()
    driver.apply(everything())
    assert done.wait(10)
    took = time.monotonic() - began
    driver.stop()
    assert 0.4 < took < 3.0


def test_stopping_a_driver_that_waits_for_a_subscriber_returns_at_once() -> None:
    driver = ReplayDriver(CATALOG, SAMPLE)
    driver.start(lambda batch: None)
    began = time.monotonic()
    driver.stop()
    assert time.monotonic() - began < 1.0


def test_a_missing_or_damaged_recording_stops_the_start_with_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match=r"cannot open the recording .*No such file"):
        ReplayDriver(CATALOG, tmp_path / "missing.kindling").preflight()
    bad = tmp_path / "bad.kindling"
    bad.write_bytes(b"\x03abc")
    with pytest.raises(StartupError, match="cannot be replayed: the message at byte 0"):
        ReplayDriver(CATALOG, bad).preflight()
