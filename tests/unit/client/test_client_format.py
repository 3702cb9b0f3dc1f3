"""Tests of kindling.client.format.

The expected strings of the first tests are copied from the Go client's
clients/go/kindling/format_test.go, and those of the later ones were produced
by the Go formatters for the same events, so that both implementations are
pinned to the same output.
"""

from __future__ import annotations

import datetime
import json
import math

import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st

from kindling.client.format import (
    format_attribute,
    format_compact,
    format_endpoint,
    format_enum,
    format_fd,
    format_float,
    format_json,
    format_json_event,
    format_latency,
    format_loss,
    quote,
    quote_if_unprintable,
)
from kindling.event.v1 import event_pb2 as ev
from kindling.probe.v1 import probe_pb2

BOOT_TIME_NS = 1_714_564_800 * 1_000_000_000  # 2024-05-01T12:00:00Z


def thread(comm: str, pid: int) -> ev.Thread:
    return ev.Thread(pid=pid, tid=pid, comm=comm)


def str_attr(key: str, value: str) -> ev.Attribute:
    return ev.Attribute(key=key, string_value=value)


# --- vectors of clients/go/kindling/format_test.go ----------------------------------

COMPACT_CASES = {
    "ipv4 connect": (
        ev.Event(
            timestamp_ns=123_456_789,
            name="connect",
            source=ev.SOURCE_SYSCALL_EXIT,
            latency_ns=12_300,
            thread=ev.Thread(pid=42, tid=43, comm="curl"),
            fd=ev.Fd(
                num=3,
                type=ev.FD_TYPE_IPV4_SOCKET,
                protocol=ev.L4_PROTOCOL_TCP,
                source=ev.Endpoint(address="10.0.0.1", port=51000),
                destination=ev.Endpoint(address="93.184.216.34", port=443),
            ),
        ),
        "2024-05-01T12:00:00.123456Z connect curl[42/43] ret=0 lat=12.3us fd=3 tcp "
        "10.0.0.1:51000->93.184.216.34:443",
    ),
    "ipv6 udp with unknown source": (
        ev.Event(
            timestamp_ns=1_000,
            name="sendto",
            source=ev.SOURCE_SYSCALL_EXIT,
            return_value=64,
            latency_ns=850,
            thread=thread("dig", 7),
            fd=ev.Fd(
                num=5,
                type=ev.FD_TYPE_IPV6_SOCKET,
                protocol=ev.L4_PROTOCOL_UDP,
                destination=ev.Endpoint(address="::1", port=53),
            ),
            attributes=[ev.Attribute(key="size", uint64_value=64)],
        ),
        "2024-05-01T12:00:00.000001Z sendto dig[7/7] ret=64 lat=850ns fd=5 udp ?->[::1]:53 size=64",
    ),
    "socket with unspecified protocol": (
        ev.Event(
            name="getsockopt",
            source=ev.SOURCE_SYSCALL_ENTER,
            thread=thread("x", 1),
            fd=ev.Fd(
                num=4,
                type=ev.FD_TYPE_IPV6_SOCKET,
                source=ev.Endpoint(address="2001:db8::2", port=4000),
                destination=ev.Endpoint(address="2001:db8::1", port=80),
            ),
        ),
        "2024-05-01T12:00:00.000000Z getsockopt x[1/1] fd=4 [2001:db8::2]:4000->[2001:db8::1]:80",
    ),
    "unix socket": (
        ev.Event(
            name="connect",
            source=ev.SOURCE_SYSCALL_EXIT,
            return_value=-2,
            latency_ns=4_560_000,
            thread=thread("systemd", 1),
            fd=ev.Fd(num=9, type=ev.FD_TYPE_UNIX_SOCKET, unix_path="/run/dbus/system_bus_socket"),
        ),
        "2024-05-01T12:00:00.000000Z connect systemd[1/1] ret=-2 ENOENT lat=4.56ms fd=9 unix "
        "/run/dbus/system_bus_socket",
    ),
    "file with attributes": (
        ev.Event(
            name="openat",
            source=ev.SOURCE_SYSCALL_EXIT,
            return_value=3,
            latency_ns=1_234_000_000,
            thread=thread("cat", 100),
            fd=ev.Fd(num=3, type=ev.FD_TYPE_FILE, path="/etc/passwd"),
            attributes=[
                ev.Attribute(key="flags", int32_value=-100),
                ev.Attribute(key="mode", uint32_value=420),
                str_attr("path", "/etc/passwd"),
                str_attr("title", "two words"),
                str_attr("empty", ""),
                str_attr("nl", "a\nb"),
                ev.Attribute(key="buf", bytes_value=b"\xde\xad\x01"),
                ev.Attribute(key="ok", bool_value=True),
                ev.Attribute(key="ratio", double_value=0.25),
                ev.Attribute(key="off", int64_value=-5),
                ev.Attribute(key="unset"),
            ],
        ),
        "2024-05-01T12:00:00.000000Z openat cat[100/100] ret=3 lat=1.234s fd=3 /etc/passwd "
        'flags=-100 mode=0644 title="two words" empty="" nl="a\\nb" buf=dead01 '
        "ok=true ratio=0.25 off=-5 unset=",
    ),
    "directory without path": (
        ev.Event(
            name="getdents64",
            thread=thread("ls", 5),
            fd=ev.Fd(num=3, type=ev.FD_TYPE_DIRECTORY),
        ),
        "2024-05-01T12:00:00.000000Z getdents64 ls[5/5] fd=3 directory",
    ),
    # lat= is left out when the entry was not seen (latency 0).
    "pipe": (
        ev.Event(
            name="write",
            source=ev.SOURCE_SYSCALL_EXIT,
            return_value=1,
            thread=thread("sh", 9),
            fd=ev.Fd(num=1, type=ev.FD_TYPE_PIPE),
        ),
        "2024-05-01T12:00:00.000000Z write sh[9/9] ret=1 fd=1 pipe",
    ),
    "fd of unspecified type": (
        ev.Event(name="close", thread=thread("sh", 9), fd=ev.Fd(num=7)),
        "2024-05-01T12:00:00.000000Z close sh[9/9] fd=7",
    ),
    "no fd, tracepoint": (
        ev.Event(
            timestamp_ns=2_500_000_000,
            name="process_exec",
            source=ev.SOURCE_TRACEPOINT,
            return_value=99,
            latency_ns=99,
            thread=ev.Thread(pid=300, tid=301, comm="bash"),
            attributes=[str_attr("filename", "/usr/bin/ls")],
        ),
        "2024-05-01T12:00:02.500000Z process_exec bash[300/301] filename=/usr/bin/ls",
    ),
    "no thread": (ev.Event(name="tick"), "2024-05-01T12:00:00.000000Z tick"),
    "payload, cut": (
        ev.Event(
            name="read",
            source=ev.SOURCE_SYSCALL_EXIT,
            return_value=4000,
            thread=thread("nginx", 5),
            fd=ev.Fd(num=9),
            payload=b'GET / HTTP/1.1\r\n\x00\xff\xe2\x82\xac"x',
            payload_length=4000,
        ),
        "2024-05-01T12:00:00.000000Z read nginx[5/5] ret=4000 fd=9 "
        'payload="GET / HTTP/1.1\\r\\n\\x00\\xff€\\"x" payload_length=4000',
    ),
    "string list": (
        ev.Event(
            name="process_exec",
            source=ev.SOURCE_TRACEPOINT,
            thread=thread("echo", 8),
            attributes=[
                ev.Attribute(
                    key="args",
                    string_list_value=ev.StringList(values=["/bin/echo", "two words", "", "a\nb"]),
                )
            ],
        ),
        "2024-05-01T12:00:00.000000Z process_exec echo[8/8] "
        'args=[/bin/echo "two words" "" "a\\nb"]',
    ),
    "payload, whole": (
        ev.Event(
            name="write",
            source=ev.SOURCE_SYSCALL_EXIT,
            return_value=2,
            thread=thread("redis", 6),
            payload=b"ok",
            payload_length=2,
        ),
        '2024-05-01T12:00:00.000000Z write redis[6/6] ret=2 payload="ok"',
    ),
}


@pytest.mark.parametrize("case", COMPACT_CASES)
def test_format_compact(case: str) -> None:
    event, want = COMPACT_CASES[case]
    assert format_compact(event, BOOT_TIME_NS) == want


def test_format_compact_takes_the_boot_time_in_utc() -> None:
    # Go's test passes 14:00 CEST; the Python API takes nanoseconds since the epoch.
    boot = datetime.datetime(2024, 5, 1, 14, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    boot_ns = int(boot.timestamp()) * 1_000_000_000
    assert format_compact(ev.Event(name="x", timestamp_ns=7), boot_ns) == (
        "2024-05-01T12:00:00.000000Z x"
    )


@pytest.mark.parametrize(
    ("ns", "want"),
    [
        (0, "0ns"),
        (850, "850ns"),
        (999, "999ns"),
        (1000, "1.0us"),
        (12_300, "12.3us"),
        (999_949, "999.9us"),
        (999_950, "1.00ms"),
        (1_000_000, "1.00ms"),
        (4_560_000, "4.56ms"),
        (999_994_999, "999.99ms"),
        (999_995_000, "1.000s"),
        (1_234_000_000, "1.234s"),
        (75_000_000_000, "75.000s"),
        # Exact binary ties round to even, as in Go: 12.25 -> 12.2, 12.35 (inexact) -> 12.3.
        (12_250, "12.2us"),
        (12_350, "12.3us"),
        (2**64 - 1, "18446744073.710s"),
    ],
)
def test_format_latency(ns: int, want: str) -> None:
    assert format_latency(ns) == want


@pytest.mark.parametrize(
    ("endpoint", "want"),
    [
        (None, "?"),
        (ev.Endpoint(), "?"),
        (ev.Endpoint(address="127.0.0.1", port=80), "127.0.0.1:80"),
        (ev.Endpoint(address="::1", port=80), "[::1]:80"),
        (ev.Endpoint(address="10.1.2.3"), "10.1.2.3:0"),
        (ev.Endpoint(port=53), ":53"),
        (ev.Endpoint(address="fe80::1%eth0", port=22), "[fe80::1%eth0]:22"),
    ],
)
def test_format_endpoint(endpoint: ev.Endpoint | None, want: str) -> None:
    assert format_endpoint(endpoint) == want


@pytest.mark.parametrize(
    ("fd_type", "want"),
    [
        (ev.FD_TYPE_EVENTFD, "eventfd"),
        (ev.FD_TYPE_EVENTPOLL, "eventpoll"),
        (ev.FD_TYPE_NETLINK_SOCKET, "netlink_socket"),
        (ev.FD_TYPE_OTHER, "other"),
        (ev.FD_TYPE_UNIX_SOCKET, "unix"),
        (ev.FD_TYPE_FILE, "file"),
        (ev.FD_TYPE_UNSPECIFIED, ""),
        (ev.FdType.ValueType(99), "99"),  # a type this client does not know: its number
    ],
)
def test_format_fd_other_types(fd_type: ev.FdType.ValueType, want: str) -> None:
    assert format_fd(ev.Fd(type=fd_type)) == want


def test_format_fd_unknown_protocol_and_partial_endpoints() -> None:
    fd = ev.Fd(
        type=ev.FD_TYPE_IPV4_SOCKET,
        protocol=ev.L4Protocol.ValueType(9),
        source=ev.Endpoint(address="1.2.3.4"),
    )
    assert format_fd(fd) == "9 1.2.3.4:0->?"


def test_format_json_uses_proto_names_and_keeps_zero_values() -> None:
    info = probe_pb2.GetInfoResponse(
        node_name="n",
        driver=probe_pb2.DriverInfo(features=[probe_pb2.KernelFeature(name="btf")]),
    )
    parsed = json.loads(format_json(info))
    assert parsed["node_name"] == "n"
    assert parsed["driver"]["features"] == [{"name": "btf", "available": False, "detail": ""}]
    assert "boot_time" not in parsed  # a message field left out has presence


def test_format_json_event_adds_time_and_node() -> None:
    event = ev.Event(seq=1, timestamp_ns=123, name="connect")
    line = format_json_event(event, BOOT_TIME_NS, "node-a")
    assert line.startswith(
        '{"time":"2024-05-01T12:00:00.000000123Z","node":"node-a","seq":"1","timestamp_ns":"123",'
    )
    assert json.loads(line)["return_value"] == "0"


@pytest.mark.parametrize(
    ("loss", "want"),
    [
        (
            probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_KERNEL_BUFFER_FULL, count=17),
            "lost 17 events (kernel buffer full)",
        ),
        (
            probe_pb2.Loss(
                reason=probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL, count=5, first_seq=100
            ),
            "lost 5 events (subscriber queue full) seq 100-104",
        ),
        (
            probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_SERVICE_ERROR, count=2),
            "lost 2 events (service error)",
        ),
        (
            probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_NOT_RECORDED, count=3),
            "lost 3 events (not in the recording)",
        ),
        (
            probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_SERVICE_STOPPED, count=4, first_seq=10),
            "lost 4 events (service stopped) seq 10-13",
        ),
        (probe_pb2.Loss(count=1, first_seq=9), "lost 1 events (unknown) seq 9-9"),
        (
            probe_pb2.Loss(reason=probe_pb2.LossReason.ValueType(42), count=3),
            "lost 3 events (unknown)",
        ),
        (probe_pb2.Loss(count=0, first_seq=9), "lost 0 events (unknown) seq 9-9"),
    ],
)
def test_format_loss(loss: probe_pb2.Loss, want: str) -> None:
    assert format_loss(loss) == want


# --- more vectors, produced by the Go formatters ---------------------------------------

# (double, as an attribute shows it)
DOUBLES = [
    (1.0, "1"),
    (0.1, "0.1"),
    (1e6, "1000000"),
    (1e-4, "0.0001"),
    (1.5e-5, "1.5e-05"),
    (1e15, "1000000000000000"),
    (1e16, "1e+16"),
    (5e-324, "5e-324"),
    (0.0, "0"),
    (-0.0, "-0"),
    (math.nan, "NaN"),
    (math.inf, "+Inf"),
    (-math.inf, "-Inf"),
]


@pytest.mark.parametrize(("value", "compact"), DOUBLES)
def test_doubles(value: float, compact: str) -> None:
    assert format_attribute(ev.Attribute(key="v", double_value=value)) == compact
    assert format_float(value) == compact


# (string, as shown for comm and path, and as a string attribute)
STRINGS = [
    ("tab\there", '"tab\\there"', '"tab\\there"'),
    ("é", "é", "é"),
    ("\u00a0nbsp", '"\\u00a0nbsp"', '"\\u00a0nbsp"'),
    ("\u2028", '"\\u2028"', '"\\u2028"'),
    ("a\x00b", '"a\\x00b"', '"a\\x00b"'),
    ("\x7f", '"\\x7f"', '"\\x7f"'),
    ("\U0001f600", "\U0001f600", "\U0001f600"),
    ("\u200b", '"\\u200b"', '"\\u200b"'),
    ('q"uote', 'q"uote', 'q"uote'),
    ("back\\slash", "back\\slash", "back\\slash"),
    ("<&>", "<&>", "<&>"),
    ("\x1b[31m", '"\\x1b[31m"', '"\\x1b[31m"'),
    ("two words", "two words", '"two words"'),
    ("\U000e0001", '"\\U000e0001"', '"\\U000e0001"'),
]


@pytest.mark.parametrize(("text", "shown", "attribute"), STRINGS)
def test_quoting(text: str, shown: str, attribute: str) -> None:
    event = ev.Event(
        name="s",
        thread=thread(text, 1),
        fd=ev.Fd(num=1, type=ev.FD_TYPE_FILE, path=text),
        attributes=[str_attr("v", text)],
    )
    assert format_compact(event, BOOT_TIME_NS) == (
        f"2024-05-01T12:00:00.000000Z s {shown}[1/1] fd=1 {shown} v={attribute}"
    )


def test_unix_path_and_unknown_enums() -> None:
    event = ev.Event(
        name="fd",
        source=ev.Source.ValueType(99),
        category=ev.Category.ValueType(77),
        fd=ev.Fd(num=3, type=ev.FD_TYPE_UNIX_SOCKET, unix_path="@abstract\x00name"),
    )
    assert format_compact(event, BOOT_TIME_NS) == (
        '2024-05-01T12:00:00.000000Z fd fd=3 unix "@abstract\\x00name"'
    )
    parsed = json.loads(format_json(event))
    assert (parsed["source"], parsed["category"]) == (99, 77)  # as protojson writes them
    assert parsed["fd"]["unix_path"] == "@abstract\x00name"


@pytest.mark.parametrize(
    ("boot_ns", "timestamp_ns", "want"),
    [
        # Go converts timestamps from 2**63 up to negative durations.
        (BOOT_TIME_NS, 2**64 - 1, "2024-05-01T11:59:59.999999Z"),
        (BOOT_TIME_NS, 2**63, "1732-01-21T12:12:43.145224Z"),
        (BOOT_TIME_NS, 999, "2024-05-01T12:00:00.000000Z"),  # truncated, not rounded
        (-1, 0, "1969-12-31T23:59:59.999999Z"),
    ],
)
def test_wall_time_edges(boot_ns: int, timestamp_ns: int, want: str) -> None:
    event = ev.Event(name="t", timestamp_ns=timestamp_ns)
    assert format_compact(event, boot_ns) == f"{want} t"


def test_format_enum() -> None:
    assert format_enum(ev.Source.DESCRIPTOR, ev.SOURCE_SYSCALL_EXIT) == "syscall_exit"
    assert format_enum(ev.Category.DESCRIPTOR, ev.CATEGORY_NET) == "net"
    assert format_enum(ev.L4Protocol.DESCRIPTOR, ev.L4_PROTOCOL_TCP) == "tcp"
    assert format_enum(ev.FdType.DESCRIPTOR, ev.FD_TYPE_IPV4_SOCKET) == "ipv4_socket"
    assert format_enum(probe_pb2.AttributeType.DESCRIPTOR, probe_pb2.ATTRIBUTE_TYPE_UINT64) == (
        "uint64"
    )
    assert format_enum(ev.Source.DESCRIPTOR, 42) == "42"


# --- properties -------------------------------------------------------------------------


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_format_float_round_trips(value: float) -> None:
    text = format_float(value)
    assert float(text) == value
    assert math.copysign(1, float(text)) == math.copysign(1, value)


@given(st.text())
def test_quote_is_one_line_and_reads_back(text: str) -> None:
    quoted = quote(text)
    assert quoted.isprintable()
    shown = quote_if_unprintable(text)
    assert shown in (text, quoted)
    assert shown.isprintable()


_ATTRIBUTES = st.one_of(
    st.builds(ev.Attribute, key=st.text(), int64_value=st.integers(-(2**63), 2**63 - 1)),
    st.builds(ev.Attribute, key=st.text(), uint64_value=st.integers(0, 2**64 - 1)),
    st.builds(ev.Attribute, key=st.text(), double_value=st.floats()),
    st.builds(ev.Attribute, key=st.text(), string_value=st.text()),
    st.builds(ev.Attribute, key=st.text(), bytes_value=st.binary()),
)
_EVENTS = st.builds(
    ev.Event,
    seq=st.integers(0, 2**64 - 1),
    timestamp_ns=st.integers(0, 2**64 - 1),
    name=st.text(),
    source=st.sampled_from([0, 1, 2, 3]),
    return_value=st.integers(-(2**63), 2**63 - 1),
    latency_ns=st.integers(0, 2**64 - 1),
    thread=st.builds(ev.Thread, comm=st.text(), pid=st.integers(0, 2**32 - 1)),
    fd=st.builds(ev.Fd, type=st.integers(0, 15), path=st.text(), unix_path=st.text()),
    attributes=st.lists(_ATTRIBUTES, max_size=3),
)


@given(_EVENTS)
def test_json_is_one_line_and_parses_back(event: ev.Event) -> None:
    text = format_json(event)
    assert "\n" not in text
    parsed = json_format.Parse(text, ev.Event())
    # NaN, and the sign of a negative zero (written "-0", as Go writes it),
    # do not survive a JSON round trip.
    assert parsed.SerializeToString(deterministic=True) == event.SerializeToString(
        deterministic=True
    ) or any(
        math.isnan(a.double_value) or (a.double_value == 0 and math.copysign(1, a.double_value) < 0)
        for a in event.attributes
    )


@given(_EVENTS)
def test_compact_is_one_line(event: ev.Event) -> None:
    line = format_compact(event, BOOT_TIME_NS)
    # Only the event name and attribute keys are shown unquoted whatever they hold.
    if event.name.isprintable() and all(a.key.isprintable() for a in event.attributes):
        assert line.isprintable()
