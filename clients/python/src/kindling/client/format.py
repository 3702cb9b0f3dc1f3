"""Render kindling events as text, exactly like the Go client does.

The functions here mirror ``clients/go/kindling/format.go`` character for
character, so that ``kindling events`` (Python) and ``kindling-events`` (Go)
print the same lines for the same events:

- :func:`format_json` renders a message as single-line JSON in the proto3 JSON
  mapping (what Go's ``protojson.Marshal`` followed by ``json.Compact``
  produces).
- :func:`format_compact` renders an event as one human-readable line.
- :func:`format_latency`, :func:`format_fd`, :func:`format_endpoint`,
  :func:`format_attribute` and :func:`format_loss` render its parts.

Only protobuf is needed, not grpc.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING

from google.protobuf import json_format

from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2

if TYPE_CHECKING:
    from google.protobuf.descriptor import EnumDescriptor
    from google.protobuf.message import Message

__all__ = [
    "format_attribute",
    "format_compact",
    "format_endpoint",
    "format_enum",
    "format_fd",
    "format_float",
    "format_json",
    "format_latency",
    "format_loss",
    "format_time",
    "quote",
    "quote_if_unprintable",
]

_NS_PER_SECOND = 1_000_000_000
_SECONDS_PER_DAY = 86_400
_UINT64 = 1 << 64
_INT64_MAX = (1 << 63) - 1


# --- JSON -------------------------------------------------------------------


def format_json(message: Message) -> str:
    """Render ``message`` (usually an Event) as single-line JSON, without a newline.

    The output is the proto3 JSON mapping with the default options:
    lowerCamelCase field names in field-number order, zero values omitted,
    64-bit integers as strings, enums by name and bytes in base64, for example
    ``{"seq":"1","timestampNs":"123","name":"connect","source":"SOURCE_SYSCALL_EXIT"}``.
    Strings keep their non-ASCII characters; doubles are written like Go's
    protojson writes them (``1``, not ``1.0``). The result equals the Go
    client's ``FormatJSON`` byte for byte.
    """
    return _dump(json_format.MessageToDict(message))


def _dump(value: object) -> str:
    # json.dumps cannot be used for the whole document: it writes floats with
    # repr() ("1.0", "1e+21"), which is not how protojson writes them.
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{_dump_str(str(key))}:{_dump(item)}" for key, item in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(_dump(item) for item in value) + "]"
    if isinstance(value, str):
        return _dump_str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if value is None:
        return "null"
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def _dump_str(value: str) -> str:
    # Escapes exactly what protojson escapes: '"', '\\' and control
    # characters below U+0020 (with lowercase hex); everything else is written
    # as UTF-8.
    return json.dumps(value, ensure_ascii=False)


def _json_float(value: float) -> str:
    # protojson's appendFloat: NaN and infinities are strings (json_format has
    # made them so already); otherwise the shortest representation, in
    # exponent form below 1e-6 and from 1e21 up, with a two-digit negative
    # exponent shortened ("1e-07" becomes "1e-7").
    if not math.isfinite(value):
        return _dump_str("NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = _go_float(value, "e")
        if len(text) >= 4 and text[-4:-1] == "e-0":
            text = text[:-2] + text[-1]
        return text
    return _go_float(value, "f")


# --- Go's strconv.FormatFloat(v, fmt, -1, 64) ---------------------------------


def _shortest_digits(magnitude: float) -> tuple[str, int]:
    """The shortest decimal digits that round-trip, and the decimal point position.

    ``magnitude`` is finite and positive; it equals 0.<digits> * 10**dp.
    """
    mantissa, _, exponent = repr(magnitude).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0"), point


def format_float(value: float) -> str:
    """Render a double the way Go's ``strconv.FormatFloat(value, 'g', -1, 64)`` does.

    That is the shortest representation that round-trips, in exponent form
    below 1e-4 and from 1e6 up: ``0.25``, ``100000``, ``1e+06``,
    ``1.5e-05``, and ``NaN``, ``+Inf`` and ``-Inf``.
    """
    return _go_float(value, "g")


def _go_float(value: float, fmt: str) -> str:
    """``strconv.FormatFloat(value, fmt, -1, 64)`` for fmt "e", "f" or "g"."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        digits, point = "", 0
    else:
        digits, point = _shortest_digits(abs(value))
    if fmt == "g":
        exponent = point - 1
        # For the shortest form, Go decides with a precision of 6: exponent
        # form below 1e-4 and from 1e6 up ("1e+06", "1.5e-05").
        fmt = "e" if exponent < -4 or exponent >= 6 else "f"
    if fmt == "e":
        return sign + _fmt_e(digits, point)
    return sign + _fmt_f(digits, point, max(len(digits) - point, 0))


def _fmt_e(digits: str, point: int) -> str:
    first = digits[:1] or "0"
    rest = digits[1:]
    exponent = point - 1 if digits else 0
    mantissa = first + ("." + rest if rest else "")
    return f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _fmt_f(digits: str, point: int, precision: int) -> str:
    whole = (digits[:point].ljust(point, "0")) if point > 0 else "0"
    if precision <= 0:
        return whole
    fraction = "".join(
        digits[i] if 0 <= i < len(digits) else "0" for i in range(point, point + precision)
    )
    return whole + "." + fraction


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
    """Render a wall-clock time in nanoseconds since the Unix epoch.

    The layout is UTC with microseconds, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
    (Go's ``2006-01-02T15:04:05.000000Z``); the fraction is truncated, not
    rounded. Any year can be shown, also years beyond 9999.
    """
    seconds, nanos = divmod(ns, _NS_PER_SECOND)
    days, second_of_day = divmod(seconds, _SECONDS_PER_DAY)
    year, month, day = _civil_from_days(days)
    hour, rest = divmod(second_of_day, 3600)
    minute, second = divmod(rest, 60)
    year_text = f"-{-year:04d}" if year < 0 else f"{year:04d}"
    return (
        f"{year_text}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
        f".{nanos // 1000:06d}Z"
    )


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """The proleptic Gregorian (year, month, day) of a day number (0 is 1970-01-01)."""
    # Howard Hinnant's civil_from_days, with Python's floor division.
    z = days + 719_468
    era = z // 146_097
    day_of_era = z - era * 146_097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    year = year_of_era + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


def format_compact(event: event_pb2.Event, boot_time_ns: int) -> str:
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
    Empty parts are left out, with no extra spaces.
    """
    parts: list[str] = []

    def add(part: str) -> None:
        if part:
            parts.append(part)

    # Go converts the unsigned timestamp to a signed Duration, so values from
    # 2**63 up wrap around; mirror that to print the same line.
    timestamp = event.timestamp_ns
    if timestamp > _INT64_MAX:
        timestamp -= _UINT64
    add(format_time(boot_time_ns + timestamp))
    add(event.name)
    if event.HasField("thread"):
        thread = event.thread
        add(f"{quote_if_unprintable(thread.comm)}[{thread.pid}/{thread.tid}]")
    if event.source == event_pb2.SOURCE_SYSCALL_EXIT:
        add(f"ret={event.return_value}")
        if event.latency_ns > 0:
            add("lat=" + format_latency(event.latency_ns))
    if event.HasField("fd"):
        add(f"fd={event.fd.num}")
        add(format_fd(event.fd))
    for attribute in event.attributes:
        add(f"{attribute.key}={format_attribute(attribute)}")
    if event.payload_length:
        add("payload=" + quote_bytes(event.payload))
        if len(event.payload) < event.payload_length:
            add(f"payload_length={event.payload_length}")
    return " ".join(parts)


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
