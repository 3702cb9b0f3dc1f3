"""Payloads and peer addresses of I/O events: how they are encoded, which
streams receive them, and what the kernel is asked to copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.drivers import FilterRecorder
from support.records import Rec, to_batch

from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2
from kindling.server.api.requests import compile_request
from kindling.server.capture import CaptureControl, ConfigError
from kindling.server.catalog import CATALOG
from kindling.server.drivers.base import KernelLimits
from kindling.server.pipeline.builder import EventBuilder
from kindling.server.pipeline.encode.batch import EventBatch
from kindling.server.pipeline.encode.framing import frame_events
from kindling.server.pipeline.enrich.procfs import ProcFS
from kindling.server.pipeline.fanout.broker import Broker
from kindling.server.pipeline.fanout.filters import FilterError
from kindling.server.pipeline.plan import Demand, PayloadMode, ServiceFilters, plan
from kindling.server.record import RecordFlag

AF_UNIX, AF_INET = 1, 2
SOCKET, TRUNCATED, PEER = RecordFlag.ON_SOCKET, RecordFlag.DATA_TRUNCATED, RecordFlag.DST_VALID
REQUEST = b"GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n"


@pytest.fixture
def builder(tmp_path: Path) -> EventBuilder:
    return EventBuilder(CATALOG, ProcFS(tmp_path))


def encode(builder: EventBuilder, *recs: Rec) -> EventBatch:
    return builder.build(to_batch(recs))


def framed(batch: EventBatch, mode: PayloadMode) -> list[event_pb2.Event]:
    blob, _ = frame_events(batch, np.arange(len(batch), dtype=np.int64), 1, mode)
    return list(probe_pb2.SubscribeResponse.FromString(blob).events)


def attrs(event: event_pb2.Event) -> dict[str, object]:
    return {a.key: getattr(a, a.WhichOneof("value") or "key") for a in event.attributes}


def test_a_payload_is_the_last_field_with_the_full_length(builder: EventBuilder) -> None:
    batch = encode(
        builder,
        Rec("write", ts=1, ret=len(REQUEST), arg0=5, arg1=len(REQUEST), arg3=len(REQUEST),
            flags=SOCKET, data=REQUEST),
        Rec("read", ts=2, ret=4000, arg0=5, arg1=4096, arg3=4000, flags=SOCKET | TRUNCATED,
            data=b"HTTP/1.1 200 OK\r\n"),
    )  # fmt: skip
    write, read = framed(batch, PayloadMode.ALL)
    assert (write.payload, write.payload_length) == (REQUEST, len(REQUEST))
    assert (read.payload, read.payload_length) == (b"HTTP/1.1 200 OK\r\n", 4000)
    # Both events parse alone too, and end with their payload fields.
    assert batch.payload_sizes is not None
    for i, raw in enumerate(batch.events):
        assert raw.endswith(read.payload + b"\x68\xa0\x1f") == (i == 1)  # field 13 = 4000
        event = event_pb2.Event.FromString(raw[: len(raw) - int(batch.payload_sizes[i])])
        assert not event.payload and not event.payload_length


def test_streams_get_the_payloads_they_asked_for(builder: EventBuilder) -> None:
    batch = encode(
        builder,
        Rec("write", ts=1, ret=3, arg0=5, arg3=3, flags=SOCKET, data=b"net"),
        Rec("write", ts=2, ret=4, arg0=6, arg3=4, data=b"file"),
        Rec("write", ts=3, ret=9, arg0=6),
    )
    assert [e.payload for e in framed(batch, PayloadMode.ALL)] == [b"net", b"file", b""]
    assert [e.payload for e in framed(batch, PayloadMode.SOCKETS)] == [b"net", b"", b""]
    none = framed(batch, PayloadMode.NONE)
    assert [e.payload for e in none] == [b"", b"", b""]
    assert [e.payload_length for e in none] == [0, 0, 0]
    # The rest of each event is the same whatever the stream asked for.
    for with_payload, without in zip(framed(batch, PayloadMode.ALL), none, strict=True):
        with_payload.ClearField("payload")
        with_payload.ClearField("payload_length")
        assert with_payload == without


def test_no_payload_anywhere_means_no_payload_columns(builder: EventBuilder) -> None:
    batch = encode(builder, Rec("write", ts=1, ret=3, arg0=5))
    assert batch.payload_sizes is None


def test_the_peer_of_a_datagram_is_an_attribute(builder: EventBuilder) -> None:
    sendto, recvfrom, unix, connected = (
        event_pb2.Event.FromString(raw)
        for raw in encode(
            builder,
            Rec("sendto", ts=1, ret=30, arg0=4, arg1=30, family=AF_INET, daddr="10.0.0.53",
                dport=53, flags=PEER),
            Rec("recvfrom", ts=2, ret=60, arg0=4, arg1=512, family=AF_INET, daddr="10.0.0.53",
                dport=53, flags=PEER),
            Rec("sendto", ts=3, ret=5, arg0=7, family=AF_UNIX, path=b"\0syslog",
                flags=RecordFlag.PATH_RAW),
            Rec("sendto", ts=4, ret=5, arg0=8, arg1=5),
        ).events
    )  # fmt: skip
    assert attrs(sendto) == {"peer_address": "10.0.0.53", "peer_port": 53, "size": 30, "flags": 0}
    assert attrs(recvfrom) == {
        "peer_address": "10.0.0.53",
        "peer_port": 53,
        "size": 512,
        "flags": 0,
    }
    assert attrs(unix)["peer_address"] == "@syslog"
    assert "peer_port" not in attrs(unix)
    assert "peer_address" not in attrs(connected)
    assert sendto.category == event_pb2.CATEGORY_NET


def test_the_plan_copies_payloads_only_for_streams_that_ask() -> None:
    ids = CATALOG.ids(["read", "write", "sendfile", "openat"])
    both = CATALOG.ids(["read", "write"])

    def kernel(*demands: Demand, snaplen: int = 512) -> tuple[frozenset[int], frozenset[int]]:
        planned = plan(
            CATALOG,
            demands,
            configured=frozenset(CATALOG.by_id),
            service=ServiceFilters(snaplen=snaplen),
            limits=KernelLimits(),
        )
        return planned.kernel.payload, planned.kernel.payload_any_fd

    assert kernel(Demand(ids)) == (frozenset(), frozenset())
    # sendfile and openat have no payload the probe can copy.
    assert kernel(Demand(ids, payload=PayloadMode.SOCKETS)) == (both, frozenset())
    assert kernel(Demand(ids, payload=PayloadMode.ALL), Demand(ids)) == (both, both)
    assert kernel(Demand(ids, payload=PayloadMode.ALL), snaplen=0) == (frozenset(), frozenset())


def test_an_unknown_payload_mode_is_refused() -> None:
    request = probe_pb2.SubscribeRequest(payload=7)  # type: ignore[arg-type]
    with pytest.raises(FilterError, match="payload: 7 is not a payload mode"):
        compile_request(request, CATALOG)


def test_configure_bounds_the_snaplen(tmp_path: Path) -> None:
    driver = FilterRecorder()
    broker = Broker()
    capture = CaptureControl(
        CATALOG, driver, EventBuilder(CATALOG, ProcFS(tmp_path)), broker,
        snaplen=256, max_snaplen=512,
    )  # fmt: skip
    capture.refresh()
    assert driver.filter.snaplen == 256
    capture.configure([], [], snaplen=512)
    assert driver.filter.snaplen == 512
    with pytest.raises(ConfigError, match=r"snaplen: 513 is more than the 512 bytes"):
        capture.configure(["read"], [], snaplen=513)
    assert driver.filter.snaplen == 512
    capture.configure([], [], snaplen=0)
    assert capture.service_filters.snaplen == 0
