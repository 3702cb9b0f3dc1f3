"""Render kindling events as text, exactly like the Go client does.

The functions here mirror ``clients/go/kindling/format.go`` character for
character, so that ``kindling events`` (Python) and ``kindling-events`` (Go)
print the same lines for the same events:

- :func:`format_json_event` renders an event as one JSON line with its wall
  time and node, and :func:`format_json` any message, through protobuf's own
  ``json_format`` (proto field names, zero values kept).
- :func:`format_compact` renders an event as one human-readable line, and
  :func:`format_table_row` as a row of aligned columns under
  :data:`TABLE_HEADER`.
- :func:`format_latency`, :func:`format_fd`, :func:`format_endpoint`,
  :func:`format_attribute` and :func:`format_loss` render its parts.

Only protobuf is needed, not grpc.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import TYPE_CHECKING, cast

from google.protobuf import json_format

from kindling.client.symbols import errno_name, symbolic_attribute
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2

if TYPE_CHECKING:
    from google.protobuf.descriptor import Descriptor, EnumDescriptor
    from google.protobuf.message import Message

__all__ = [
    "TABLE_HEADER",
    "format_attribute",
    "format_compact",
    "format_endpoint",
    "format_enum",
    "format_fd",
    "format_float",
    "format_json",
    "format_json_event",
    "format_latency",
    "format_loss",
    "format_rfc3339",
    "format_table_row",
    "format_time",
    "quote",
    "quote_if_unprintable",
]

_NS_PER_SECOND = 1_000_000_000
_UINT64 = 1 << 64
_INT64_MAX = (1 << 63) - 1


# --- JSON -------------------------------------------------------------------


def format_json(message: Message) -> str:
    """Render ``message`` as single-line protobuf JSON, without a newline.

    ``json_format`` writes it with the proto field names (``timestamp_ns``,
    as grpcurl does) and with the fields that have no presence even when they
    are zero, false or empty, so that ``jq .available`` never finds ``null``;
    the keys are in the fields' order, as Go's ``protojson`` writes them.
    """
    return _dumps(_message_dict(message))


def format_json_event(event: event_pb2.Event, boot_time_ns: int, node: str) -> str:
    """Render ``event`` as one JSON line: ``time`` and ``node``, then its fields.

    ``time`` is the wall-clock time (RFC 3339, UTC, nanoseconds) of
    ``boot_time_ns`` (the response's ``boot_time``) plus the event's
    ``timestamp_ns``, and ``node`` the response's ``node_name``. The line
    equals the Go client's ``FormatJSON`` byte for byte, except for doubles
    (no event of the catalogue has one) below 1e-4 or negative zero, which
    Python's and Go's JSON libraries write differently.
    """
    line: dict[str, object] = {
        "time": format_rfc3339(_wall_ns(event, boot_time_ns)),
        "node": node,
    }
    line.update(_message_dict(event))
    return _dumps(line)


def _message_dict(message: Message) -> dict[str, object]:
    value = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    ordered = _in_field_order(cast("Descriptor", message.DESCRIPTOR), value)
    assert isinstance(ordered, dict)
    return ordered


def _in_field_order(descriptor: Descriptor, value: object) -> object:
    # json_format puts the zero-valued fields after the others; protojson
    # keeps the fields' order, which the two clients' lines must share.
    if not isinstance(value, dict):
        return value
    ordered: dict[str, object] = {}
    for field in descriptor.fields:
        if field.name not in value:
            continue
        item = value[field.name]
        kind = field.message_type
        if kind is not None and not kind.GetOptions().map_entry:
            item = (
                [_in_field_order(kind, element) for element in item]
                if isinstance(item, list)
                else _in_field_order(kind, item)
            )
        ordered[field.name] = item
    return ordered


def _dumps(value: object) -> str:
    return json.dumps(_integral_floats(value), ensure_ascii=False, separators=(",", ":"))


def _integral_floats(value: object) -> object:
    # protojson writes a whole double as 1, json.dumps as 1.0.
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_floats(item) for item in value]
    return value


def format_float(value: float) -> str:
    """Render a double in the shortest form that reads back as the same double.

    In exponent form below 1e-4 and from 1e16 up (``0.25``, ``1``, ``1e+16``,
    ``1.5e-05``), and ``NaN``, ``+Inf`` and ``-Inf``; the Go client writes the
    same.
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value).removesuffix(".0")


# --- quoting -------------------------------------------------------------------


def quote(text: str) -> str:
    """Quote ``text`` the way Go's ``strconv.Quote`` does.

    The result is double-quoted; ``"`` and ``\\`` are escaped with a
    backslash, the usual control characters as ``\\a \\b \\f \\n \\r \\t
    \\v``, other characters below U+0020 and DEL as ``\\xNN``, and other
    unprintable characters as ``\\uNNNN`` or ``\\UNNNNNNNN``. Printable
    characters, including non-ASCII ones, are kept.
    """
    out = ['"']
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        else:
            code = ord(char)
            if code < 0x20 or code == 0x7F:
                out.append(f"\\x{code:02x}")
            elif 0xD800 <= code <= 0xDFFF:  # not a valid rune: Go shows U+FFFD
                out.append("\\ufffd")
            elif code < 0x10000:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def quote_bytes(data: bytes) -> str:
    """Quote ``data`` the way Go's ``strconv.Quote(string(data))`` does: as
    :func:`quote` quotes its UTF-8 text, with each byte that is not part of
    valid UTF-8 shown as ``\\xNN``."""
    out = ['"']
    for char in data.decode("utf-8", "surrogateescape"):
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as surrogateescape keeps it
            out.append(f"\\x{code - 0xDC00:02x}")
        else:
            out.append(quote(char)[1:-1])
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def quote_if_unprintable(text: str) -> str:
    """Return ``text``, quoted with :func:`quote` if it has unprintable characters.

    Plain spaces count as printable, so command names and paths with spaces
    are shown as they are; a newline or other control character, which would
    break the one-event-per-line output, makes the whole string quoted.
    """
    # str.isprintable() is True exactly for Go's unicode.IsPrint characters:
    # letters, marks, numbers, punctuation, symbols and the ASCII space.
    if text.isprintable():
        return text
    return quote(text)


# --- compact lines ---------------------------------------------------------------


def format_time(ns: int) -> str:
    """Render a wall-clock time in nanoseconds since the Unix epoch for a compact line.

    UTC with microseconds, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (the fraction
    truncated), as the Go client's ``TimeLayout``.
    """
    seconds, nanos = divmod(ns, _NS_PER_SECOND)
    return f"{_utc(seconds):%Y-%m-%dT%H:%M:%S}.{nanos // 1000:06d}Z"


def format_rfc3339(ns: int) -> str:
    """Render a wall-clock time in nanoseconds since the Unix epoch as RFC 3339
    in UTC with all nine digits of nanoseconds: ``2024-05-01T12:00:00.000001000Z``."""
    seconds, nanos = divmod(ns, _NS_PER_SECOND)
    return f"{_utc(seconds):%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def _utc(seconds: int) -> datetime.datetime:
    # Clamped to the years datetime can show (a boot time far outside them
    # is not a real one).
    seconds = min(max(seconds, _MIN_SECONDS), _MAX_SECONDS)
    return _EPOCH + datetime.timedelta(seconds=seconds)


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MIN_SECONDS = int((datetime.datetime(1, 1, 1, tzinfo=datetime.UTC) - _EPOCH).total_seconds())
_MAX_SECONDS = int(
    (datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC) - _EPOCH).total_seconds()
)


def _wall_ns(event: event_pb2.Event, boot_time_ns: int) -> int:
    # Go converts the unsigned timestamp to a signed Duration, so values from
    # 2**63 up wrap around; mirror that to print the same time.
    timestamp = event.timestamp_ns
    if timestamp > _INT64_MAX:
        timestamp -= _UINT64
    return boot_time_ns + timestamp


# ANSI SGR codes of the coloured compact line: a dim time, a bold name, and
# a failed call's return value in red.
DIM, BOLD, RED, RESET = "\x1b[2m", "\x1b[1m", "\x1b[31m", "\x1b[0m"


def format_compact(event: event_pb2.Event, boot_time_ns: int, *, color: bool = False) -> str:
    """Render ``event`` as one human-readable line, without a trailing newline::

        <wall time> <name> <comm>[<pid>/<tid>] ret=<return value> lat=<latency>
            fd=<num> <fd> <key>=<value>...

    (all on one line), for example::

        2024-05-01T12:00:00.000123Z connect curl[42/42] ret=0 lat=12.3us
            fd=3 tcp 10.0.0.1:51000->93.184.216.34:443

    The wall time is ``boot_time_ns`` (the ``boot_time`` of the
    SubscribeResponse that carried the event, in nanoseconds since the Unix
    epoch: ``response.boot_time.ToNanoseconds()``) plus the event's
    ``timestamp_ns``, rendered by :func:`format_time`. ``ret=`` and ``lat=``
    appear only for syscall exit events, and ``lat=`` only when the latency is
    known (see :func:`format_latency`). The fd part appears only when the
    event has a file descriptor; it is described by :func:`format_fd`. Each
    attribute follows as key=value (see :func:`format_attribute`), then the
    payload, when the event carries one, as ``payload="..."`` (see
    :func:`quote_bytes`) and, when it was cut, ``payload_length=<bytes moved>``.
    Empty parts are left out, with no extra spaces. With ``color``, the time
    is dim, the name bold and a negative return value red (ANSI codes).
    """
    parts: list[str] = []

    def add(part: str) -> None:
        if part:
            parts.append(part)

    def paint(code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if color and text else text

    add(paint(DIM, format_time(_wall_ns(event, boot_time_ns))))
    add(paint(BOLD, event.name))
    if event.HasField("thread"):
        thread = event.thread
        add(f"{quote_if_unprintable(thread.comm)}[{thread.pid}/{thread.tid}]")
    if event.source == event_pb2.SOURCE_SYSCALL_EXIT:
        ret = f"ret={event.return_value}"
        if event.return_value < 0:
            ret = paint(RED, " ".join(filter(None, (ret, errno_name(-event.return_value)))))
        add(ret)
        if event.latency_ns > 0:
            add("lat=" + format_latency(event.latency_ns))
    for part in _details(event):
        add(part)
    return " ".join(parts)


def _details(event: event_pb2.Event) -> list[str]:
    """The fd, attributes and payload parts of a compact line (the table's DETAILS)."""
    parts: list[str] = []
    shown: dict[str, set[object]] = {}
    if event.HasField("fd"):
        parts.append(f"fd={event.fd.num}")
        parts.append(format_fd(event.fd))
        shown = _shown_by_fd(event.fd)
    for attribute in event.attributes:
        case = attribute.WhichOneof("value")
        value = getattr(attribute, case) if case is not None else None
        if value in shown.get(attribute.key, ()):
            continue  # the fd part shows it already
        text = ""
        if isinstance(value, int) and not isinstance(value, bool):
            text = symbolic_attribute(event.name, attribute.key, value)
        parts.append(f"{attribute.key}={text or format_attribute(attribute)}")
    if event.payload_length:
        parts.append("payload=" + quote_bytes(event.payload))
        if len(event.payload) < event.payload_length:
            parts.append(f"payload_length={event.payload_length}")
    return [part for part in parts if part]


#: The first line of ``-o table``; :func:`format_table_row` pads to its columns.
TABLE_HEADER = (
    "TIME                        EVENT            PROCESS                  RET          "
    "LATENCY  DETAILS"
)


def format_table_row(event: event_pb2.Event, boot_time_ns: int) -> str:
    """Render ``event`` as one row of ``-o table`` (see :data:`TABLE_HEADER`).

    The columns hold what a compact line shows, without the ``ret=`` and
    ``lat=`` labels; a value wider than its column pushes the rest right.
    """
    process = ""
    if event.HasField("thread"):
        thread = event.thread
        process = f"{quote_if_unprintable(thread.comm)}[{thread.pid}/{thread.tid}]"
    ret = latency = ""
    if event.source == event_pb2.SOURCE_SYSCALL_EXIT:
        name = errno_name(-event.return_value) if event.return_value < 0 else ""
        ret = " ".join(filter(None, (str(event.return_value), name)))
        latency = format_latency(event.latency_ns) if event.latency_ns > 0 else ""
    row = (
        f"{format_time(_wall_ns(event, boot_time_ns)):<27} {event.name:<16} {process:<24} "
        f"{ret:<12} {latency:<8} {' '.join(_details(event))}"
    )
    return row.rstrip(" ")


def _shown_by_fd(fd: event_pb2.Fd) -> dict[str, set[object]]:
    """The attribute values the fd part of a compact line shows, by attribute key."""
    if fd.type in (event_pb2.FD_TYPE_FILE, event_pb2.FD_TYPE_DIRECTORY) and fd.path:
        return {"path": {fd.path}}
    if fd.type == event_pb2.FD_TYPE_UNIX_SOCKET and fd.unix_path:
        return {"path": {fd.unix_path}}
    if fd.type in (event_pb2.FD_TYPE_IPV4_SOCKET, event_pb2.FD_TYPE_IPV6_SOCKET):
        ends = [end for end in (fd.source, fd.destination) if end.address or end.port]
        addresses: set[object] = {end.address for end in ends}
        ports: set[object] = {end.port for end in ends}
        return {"local_address": addresses, "remote_address": addresses,
                "local_port": ports, "remote_port": ports}  # fmt: skip
    return {}


def format_latency(ns: int) -> str:
    """Render a duration in nanoseconds with a unit chosen by its size.

    "850ns" below a microsecond, "12.3us" below a millisecond, "4.56ms" below
    a second and "1.234s" from a second up. A value that would round up to
    1000 of a unit is shown in the next unit ("1.00ms", not "1000.0us").
    """
    if ns < 1000:
        return f"{ns}ns"
    if ns < 999_950:
        return f"{float(ns) / 1e3:.1f}us"
    if ns < 999_995_000:
        return f"{float(ns) / 1e6:.2f}ms"
    return f"{float(ns) / 1e9:.3f}s"


def format_enum(enum: EnumDescriptor, value: int) -> str:
    """Name an enum value in lowercase without the enum's prefix.

    For example ``syscall_exit`` for ``SOURCE_SYSCALL_EXIT`` and ``ipv4_socket``
    for ``FD_TYPE_IPV4_SOCKET``. Like Go's ``String()``, a value the enum does
    not define is shown as its number.
    """
    # The prefix is the enum's name in upper snake case: FdType -> FD_TYPE_.
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).lower() + "_"
    known = enum.values_by_number.get(value)
    name = known.name.lower() if known is not None else str(value)
    return name.removeprefix(prefix)


def format_fd(fd: event_pb2.Fd) -> str:
    """Describe what a file descriptor refers to (without its number).

    - IPv4 and IPv6 sockets: ``<protocol> <source>-><destination>``, for
      example ``tcp 10.0.0.1:51000->[2001:db8::1]:443``; the protocol is left
      out when unknown, and an unknown endpoint is shown as ``?`` (see
      :func:`format_endpoint`);
    - unix sockets: ``unix <path>``, or ``unix`` when the path is not known;
    - files and directories: the path, or ``file``/``directory`` when it is
      not known;
    - anything else: the lowercase type name, for example ``pipe``.

    It returns "" when the type is unspecified.
    """
    kind = fd.type
    if kind == event_pb2.FD_TYPE_UNSPECIFIED:
        return ""
    if kind in (event_pb2.FD_TYPE_IPV4_SOCKET, event_pb2.FD_TYPE_IPV6_SOCKET):
        connection = format_endpoint(fd.source) + "->" + format_endpoint(fd.destination)
        if fd.protocol != event_pb2.L4_PROTOCOL_UNSPECIFIED:
            return format_enum(event_pb2.L4Protocol.DESCRIPTOR, fd.protocol) + " " + connection
        return connection
    if kind == event_pb2.FD_TYPE_UNIX_SOCKET:
        return "unix " + quote_if_unprintable(fd.unix_path) if fd.unix_path else "unix"
    if kind in (event_pb2.FD_TYPE_FILE, event_pb2.FD_TYPE_DIRECTORY) and fd.path:
        return quote_if_unprintable(fd.path)
    return format_enum(event_pb2.FdType.DESCRIPTOR, kind)


def format_endpoint(endpoint: event_pb2.Endpoint | None) -> str:
    """Render an IPv4 or IPv6 endpoint as ``address:port``.

    An IPv6 address (any address with a colon) is put in brackets:
    ``[::1]:80``. An endpoint whose address is empty and whose port is zero,
    or None, is not known and renders as ``?``.
    """
    if endpoint is None or (not endpoint.address and endpoint.port == 0):
        return "?"
    host = f"[{endpoint.address}]" if ":" in endpoint.address else endpoint.address
    return f"{host}:{endpoint.port}"


def format_attribute(attribute: event_pb2.Attribute) -> str:
    """Render the value of whichever case of the attribute's value oneof is set.

    Integers in decimal, doubles in the shortest form that round-trips (Go's
    ``%v``: ``0.25``, ``1e+21``), booleans as ``true`` or ``false``, bytes in
    lowercase hex, and strings as they are, except that a string that is
    empty, contains whitespace or contains unprintable characters is quoted
    (see :func:`quote`) so that the line stays one line and splits on spaces;
    a list of strings as its strings so rendered, between brackets
    (``[/bin/echo hello "two words"]``).
    An attribute with no value set renders as "".
    """
    case = attribute.WhichOneof("value")
    if case is None:
        return ""
    if case == "double_value":
        return format_float(attribute.double_value)
    if case == "bool_value":
        return "true" if attribute.bool_value else "false"
    if case == "bytes_value":
        return attribute.bytes_value.hex()
    if case == "string_value":
        return _attribute_text(attribute.string_value)
    if case == "string_list_value":
        return "[" + " ".join(map(_attribute_text, attribute.string_list_value.values)) + "]"
    value: int = getattr(attribute, case)
    return str(value)


def _attribute_text(text: str) -> str:
    # Every whitespace character except the ASCII space is unprintable.
    if not text or " " in text or not text.isprintable():
        return quote(text)
    return text


_LOSS_REASONS = {
    probe_pb2.LOSS_REASON_KERNEL_BUFFER_FULL: "kernel buffer full",
    probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL: "subscriber queue full",
    probe_pb2.LOSS_REASON_SERVICE_ERROR: "service error",
    probe_pb2.LOSS_REASON_NOT_RECORDED: "not in the recording",
    probe_pb2.LOSS_REASON_SERVICE_STOPPED: "service stopped",
}


def format_loss(loss: probe_pb2.Loss) -> str:
    """Render a loss notice as ``lost <count> events (<reason>)``.

    The reason is "kernel buffer full", "subscriber queue full", "service
    error", "not in the recording", "service stopped" or "unknown".
    When the loss has sequence numbers (``first_seq`` > 0), `` seq
    <first>-<last>`` follows.
    """
    reason = _LOSS_REASONS.get(loss.reason, "unknown")
    text = f"lost {loss.count} events ({reason})"
    if loss.first_seq > 0:
        last = loss.first_seq
        if loss.count > 0:
            last = (loss.first_seq + loss.count - 1) % _UINT64  # Go's uint64 arithmetic
        text += f" seq {loss.first_seq}-{last}"
    return text
