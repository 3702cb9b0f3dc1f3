"""Field masks (SubscribeRequest.fields): applied to the events' shared
bytes, they give what clearing the fields of each parsed event gives; the
compiled helper and numpy write the same bytes; invalid masks are refused
naming the field."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from support.records import Rec, to_batch

from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2
from kindling.server import catalog as cat
from kindling.server.api.requests import compile_request
from kindling.server.catalog import CATALOG
from kindling.server.pipeline.builder import EventBuilder
from kindling.server.pipeline.encode import masked, native
from kindling.server.pipeline.encode.batch import EventBatch, EventColumns
from kindling.server.pipeline.encode.framing import frame_events
from kindling.server.pipeline.encode.mask import EventMask
from kindling.server.pipeline.enrich.procfs import ProcFS
from kindling.server.pipeline.fanout.filters import FilterError, Selection
from kindling.server.record import RecordFlag

AF_INET, SOCK_STREAM = 2, 1
SOCKET = RecordFlag.ON_SOCKET
ALWAYS = ("seq", "timestamp_ns", "name")
FS = probe_pb2.FieldSelection


def include(*paths: str, events: Sequence[str] = ()) -> probe_pb2.FieldSelection:
    return FS(events=events, include=FieldMask(paths=paths))


def exclude(*paths: str, events: Sequence[str] = ()) -> probe_pb2.FieldSelection:
    return FS(events=events, exclude=FieldMask(paths=paths))


@pytest.fixture
def batch(tmp_path: Path) -> EventBatch:
    """Events with every kind of field: thread and fd context (files and
    TCP ends), string, list and numeric attributes, payloads."""
    flags = cat.F_SRC_VALID | cat.F_DST_VALID
    recs = [
        Rec("openat", ts=1, pid=9, ret=3, latency_ns=700, cpu=1, path=b"/var/log/app.log"),
        Rec("write", ts=2, pid=9, ret=5, arg0=3, arg1=5, arg3=5, data=b"hello"),
        Rec("socket", ts=3, pid=9, ret=4, arg0=AF_INET, arg1=SOCK_STREAM),
        Rec("connect", ts=4, pid=9, ret=0, arg0=4, family=AF_INET, flags=flags,
            saddr="10.0.0.1", sport=51000, daddr="10.0.0.2", dport=443),
        Rec("write", ts=5, pid=9, ret=18, arg0=4, arg1=18, arg3=18, flags=SOCKET,
            data=b"GET / HTTP/1.1\r\n\r\n"),
        Rec("read", ts=6, pid=9, ret=300, arg0=4, arg1=4096, arg3=300,
            flags=SOCKET | RecordFlag.DATA_TRUNCATED, data=b"HTTP/1.1 200 OK\r\n"),
        Rec("process_fork", ts=7, pid=9, arg0=11, arg1=0x11),
        Rec("process_exec", ts=8, pid=11, arg0=11, comm=b"true", path=b"/bin/true",
            data=b"true\0-x\0\0", flags=RecordFlag.HAS_DATA),
        Rec("process_exit", ts=9, pid=11, comm=b"true", flags=cat.F_EXIT_CODE, arg0=2),
        Rec("read", ts=10, pid=9, ret=-11, arg0=3, cpu=3),
    ]  # fmt: skip
    return EventBuilder(CATALOG, ProcFS(tmp_path)).build(to_batch(recs))


def selection(*fields: probe_pb2.FieldSelection, payload: int = 2) -> Selection:
    request = probe_pb2.SubscribeRequest(fields=fields, payload=payload)  # type: ignore[arg-type]
    return compile_request(request, CATALOG)


def framed(
    batch: EventBatch, chosen: Selection, first_seq: int = 1
) -> tuple[list[event_pb2.Event], bytes]:
    indexes = np.arange(len(batch), dtype=np.int64)
    blob, offsets = frame_events(batch, indexes, first_seq, chosen.payload, chosen.fields)
    # Each entry parses alone: the broker cuts responses at these offsets.
    at = offsets.tolist()
    assert len(at) == len(batch) + 1 and at[-1] == len(blob)
    for i in range(len(batch)):
        (one,) = probe_pb2.SubscribeResponse.FromString(blob[at[i] : at[i + 1]]).events
        assert one.seq == first_seq + i
    return list(probe_pb2.SubscribeResponse.FromString(blob).events), blob


def cleared(event: event_pb2.Event, keep: bool, paths: Sequence[str]) -> event_pb2.Event:
    """The oracle: the event with the fields a mask drops cleared."""
    out = event_pb2.Event()
    out.CopyFrom(event)
    wholes = {p for p in paths if "." not in p}
    nested: dict[str, set[str]] = {}
    for path in paths:
        if "." in path:
            top, name = path.split(".")
            nested.setdefault(top, set()).add(name)
    for field in event_pb2.Event.DESCRIPTOR.fields:
        name = field.name
        if name in ALWAYS:
            continue
        dropped = name in wholes if not keep else name not in wholes and name not in nested
        if dropped:
            out.ClearField(name)
        elif name in nested and name not in wholes and out.HasField(name):
            inner = getattr(out, name)
            for sub in inner.DESCRIPTOR.fields:
                if (sub.name in nested[name]) != keep:
                    inner.ClearField(sub.name)
    return out


def unmasked(batch: EventBatch, payload: int = 2) -> list[event_pb2.Event]:
    return framed(batch, selection(payload=payload))[0]


MASKS = [
    (False, ["payload", "payload_length"]),
    (False, ["thread"]),
    (False, ["thread.exe", "thread.container_id", "thread.comm", "fd.source", "fd.path"]),
    (False, ["attributes", "cpu", "latency_ns", "fd"]),
    (False, ["thread", "thread.pid", "fd.num"]),
    (True, []),
    (True, ["thread.pid", "fd.num", "fd.destination", "return_value"]),
    (True, ["thread", "thread.pid", "payload"]),
    (True, ["attributes", "latency_ns", "name", "seq"]),
    (True, ["fd.path", "fd.unix_path", "fd.type"]),
]


@pytest.mark.parametrize(("keep", "paths"), MASKS)
def test_a_mask_gives_what_clearing_the_fields_gives(
    batch: EventBatch, keep: bool, paths: list[str]
) -> None:
    given = include(*paths) if keep else exclude(*paths)
    events, _ = framed(batch, selection(given))
    expected = [cleared(e, keep, paths) for e in unmasked(batch)]
    assert events == expected
    assert [e.seq for e in events] == list(range(1, len(batch) + 1))


def test_the_oracle_sees_every_kind_of_field(batch: EventBatch) -> None:
    """The batch above has what the masks cut, so the test above tests something."""
    events = unmasked(batch)
    assert any(e.payload for e in events) and any(e.payload_length for e in events)
    assert any(e.fd.source.port for e in events) and any(e.fd.path for e in events)
    assert any(e.thread.exe for e in events) and any(e.latency_ns for e in events)
    assert any(a.WhichOneof("value") == "string_list_value" for e in events for a in e.attributes)


def test_a_mask_removes_nothing_else_from_the_message(batch: EventBatch) -> None:
    """A message kept in part keeps its presence (an empty thread is sent)."""
    events, _ = framed(batch, selection(include("thread.ppid")))
    assert all(e.HasField("thread") for e in events)
    assert not any(e.HasField("fd") for e in events)
    exec_ = next(e for e in events if e.name == "process_exec")
    assert exec_.thread == event_pb2.Thread(ppid=9)


def test_a_selection_naming_an_event_overrides_the_one_for_every_event(
    batch: EventBatch,
) -> None:
    chosen = selection(
        exclude("thread", "payload", "payload_length"),
        include("payload", events=["read"]),
        exclude(events=["connect", "process_exec"]),
    )
    events, _ = framed(batch, chosen)
    for got, full in zip(events, unmasked(batch), strict=True):
        if full.name == "read":
            expected = cleared(full, True, ["payload"])
        elif full.name in ("connect", "process_exec"):
            expected = full
        else:
            expected = cleared(full, False, ["thread", "payload", "payload_length"])
        assert got == expected, full.name
    assert any(e.name == "read" and e.payload for e in events)


def test_payloads_stay_out_of_streams_that_did_not_ask_whatever_the_mask(
    batch: EventBatch,
) -> None:
    for payload in (probe_pb2.PAYLOAD_MODE_UNSPECIFIED, probe_pb2.PAYLOAD_MODE_SOCKETS):
        paths = ["payload", "payload_length", "thread.pid"]
        events, _ = framed(batch, selection(include(*paths), payload=payload))
        assert events == [cleared(e, True, paths) for e in unmasked(batch, payload)]
    none, _ = framed(batch, selection(include("payload"), payload=0))
    assert not any(e.payload for e in none)
    sockets, _ = framed(batch, selection(exclude("thread"), payload=1))
    assert [bool(e.payload) for e in sockets] == [e.name in ("write", "read") and e.fd.num == 4
                                                  for e in sockets]  # fmt: skip


def test_masks_that_keep_every_field_frame_as_without_one() -> None:
    assert selection().fields is None
    assert selection(exclude()).fields is None
    assert selection(exclude(), exclude(events=["read"])).fields is None
    assert selection(exclude(), include("thread", events=["read"])).fields is not None


def test_an_event_the_catalogue_does_not_know_takes_the_mask_for_every_event() -> None:
    event = event_pb2.Event(
        timestamp_ns=5, name="from_the_future", cpu=2, thread=event_pb2.Thread(pid=3, tid=4)
    ).SerializeToString()
    unknown = EventBatch.from_events([event], EventColumns.of(1, event_ids=[0]))
    chosen = selection(include("thread.tid"), exclude(events=["read"]))
    (got,), _ = framed(unknown, chosen)
    assert got == event_pb2.Event(
        seq=1, timestamp_ns=5, name="from_the_future", thread=event_pb2.Thread(tid=4)
    )


def _both(
    batch: EventBatch, chosen: Selection, monkeypatch: pytest.MonkeyPatch, first_seq: int
) -> tuple[tuple[bytes, list[int]], tuple[bytes, list[int]]]:
    indexes = np.arange(len(batch), dtype=np.int64)
    compiled = frame_events(batch, indexes, first_seq, chosen.payload, chosen.fields)
    with monkeypatch.context() as patch:
        patch.setattr(native, "mask", None)
        plain = frame_events(batch, indexes, first_seq, chosen.payload, chosen.fields)
    return (compiled[0], compiled[1].tolist()), (plain[0], plain[1].tolist())


@pytest.mark.skipif(native.mask is None, reason="the compiled helpers are not built")
@pytest.mark.parametrize(("keep", "paths"), MASKS)
def test_numpy_alone_masks_what_the_compiled_helper_does(
    batch: EventBatch, keep: bool, paths: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    given = include(*paths) if keep else exclude(*paths)
    chosen = selection(given, exclude(events=["connect"]), payload=1)
    compiled, plain = _both(batch, chosen, monkeypatch, 2**40)  # seqs of six bytes
    assert compiled == plain
    # The numpy path is the oracle's too.
    with monkeypatch.context() as patch:
        patch.setattr(native, "mask", None)
        events, _ = framed(batch, chosen, 2**40)
    full = framed(batch, selection(payload=1), 2**40)[0]
    assert [e for e in events if e.name != "connect"] == [
        cleared(e, keep, paths) for e in full if e.name != "connect"
    ]


EVENT_MIX = ["read", "write", "openat", "close", "dup2", "process_fork", "process_exec",
             "process_exit", "pipe2", "socket", "connect", "accept4", "sendto",
             "recvfrom"]  # fmt: skip


@pytest.mark.skipif(native.mask is None, reason="the compiled helpers are not built")
@pytest.mark.parametrize("seed", range(4))
def test_compiled_and_numpy_agree_on_random_batches_and_masks(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    recs = []
    for ts in range(1, 400):
        name = rng.choice(EVENT_MIX)
        data = rng.choice([None, b"x" * rng.randrange(1, 300)])
        recs.append(
            Rec(
                name, ts=ts, pid=rng.choice([10, 11]), ret=rng.choice([-9, 0, 3, 4, 200]),
                latency_ns=rng.randrange(10**6), cpu=rng.randrange(4), arg0=rng.choice([3, 4]),
                arg1=rng.choice([4, 4096]), arg3=len(data or b""), data=data,
                family=rng.choice([0, AF_INET]), daddr="10.0.0.1", dport=80,
                flags=rng.choice([0, SOCKET, cat.F_DST_VALID | cat.F_SRC_VALID]),
                path=b"/f%d" % rng.randrange(3) if name in ("openat", "process_exec") else None,
            )
        )  # fmt: skip
    batch = EventBuilder(CATALOG, ProcFS(tmp_path)).build(to_batch(recs))
    fields = [f.name for f in event_pb2.Event.DESCRIPTOR.fields if f.name not in ALWAYS]
    nested = [f"{top}.{f.name}" for top, message in (("thread", event_pb2.Thread),
              ("fd", event_pb2.Fd)) for f in message.DESCRIPTOR.fields]  # fmt: skip
    for _ in range(6):
        paths = rng.sample(fields + nested, rng.randrange(1, 8))
        named = rng.sample(EVENT_MIX, 3)
        chosen = selection(
            include(*paths) if rng.random() < 0.5 else exclude(*paths),
            exclude(*rng.sample(nested, 3), events=named[:2]),
            include(events=named[2:]),
            payload=rng.choice([0, 1, 2]),
        )
        compiled, plain = _both(batch, chosen, monkeypatch, rng.randrange(1, 2**63))
        assert compiled == plain, (paths, named)


@pytest.mark.parametrize("numpy_only", [False, True])
def test_bytes_that_are_not_protobuf_are_refused(
    numpy_only: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if numpy_only:
        monkeypatch.setattr(native, "mask", None)
    elif native.mask is None:
        pytest.skip("the compiled helpers are not built")
    chosen = selection(exclude("cpu"))
    assert isinstance(chosen.fields, EventMask)
    for bad in (b"\x48", b"\x4a\x05ab", b"\x03\x01", b"\x10" + b"\xff" * 11):
        rows = np.zeros(1, dtype=np.int64)
        sizes = np.array([len(bad)], dtype=np.int64)
        with pytest.raises(masked.MalformedEventError):
            masked.frame_masked(bad, np.zeros(1, np.int64), sizes, rows, 1, chosen.fields, (10, 8))


def refused(*fields: probe_pb2.FieldSelection) -> str:
    with pytest.raises(FilterError) as raised:
        selection(*fields)
    return str(raised.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([exclude("thread.bogus")],
         "fields[0].exclude.paths[0]: 'thread.bogus' is not a field of "
         "kindling.event.v1.Event.thread"),
        ([exclude("cpu"), include("bogus", events=["read"])],
         "fields[1].include.paths[0]: 'bogus' is not a field of kindling.event.v1.Event"),
        ([include("")], "fields[0].include.paths[0]: '' is not a field of kindling.event.v1.Event"),
        ([include("latency_ns.high")],
         "fields[0].include.paths[0]: 'latency_ns.high': kindling.event.v1.Event.latency_ns is "
         "not a message"),
        ([exclude("attributes.key")],
         "fields[0].exclude.paths[0]: 'attributes.key': kindling.event.v1.Event.attributes is a "
         "repeated field"),
        ([exclude("fd.source.port")],
         "fields[0].exclude.paths[0]: 'fd.source.port': paths go at most one level"),
        ([exclude("cpu", "timestamp_ns")],
         "fields[0].exclude.paths[1]: 'timestamp_ns' cannot be excluded"),
        ([FS(events=["read"])], "fields[0]: set include or exclude"),
        ([exclude("cpu", events=["read", "opne"])],
         "fields[0].events[1]: unknown event name 'opne'"),
        ([exclude("cpu", events=["read"]), include(events=["write", "read"])],
         "fields[1].events[1]: read is named by fields[0] too"),
        ([exclude("cpu"), exclude("fd")], "fields[1].events: fields[0] already applies to every"),
        ([exclude(*["cpu"] * 65)], "fields[0].exclude.paths: at most 64 paths"),
        ([exclude("cpu", events=[n]) for n in CATALOG.names[:65]],
         "fields: at most 64 selections"),
    ],
)  # fmt: skip
def test_an_invalid_mask_is_refused_naming_the_field(
    fields: list[probe_pb2.FieldSelection], message: str
) -> None:
    assert refused(*fields).startswith(message)


def test_a_long_path_is_cut_short_in_the_error() -> None:
    text = refused(include("thread." + "x" * 100_000))
    assert text.startswith("fields[0].include.paths[0]: 'thread.xxx") and len(text) < 200
    text = refused(exclude("y" * 100_000, events=["read"]))
    assert len(text) < 200
