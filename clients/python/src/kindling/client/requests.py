"""Builders of the contract's requests, so that collectors need not touch raw protos.

:func:`event_filter` makes one ``EventFilter`` from typed keyword arguments,
:func:`subscribe_request` a whole ``SubscribeRequest`` (allow and deny
lists, payload mode, field masks, batching, overflow policy, resume
window), and :func:`include_fields`, :func:`exclude_fields`,
:func:`batching` and :func:`kernel_filters` the messages inside them::

    from kindling.client import ProbeClient, event_filter, subscribe_request

    request = subscribe_request(
        allow=[event_filter(names=["connect"], remote_ports=[80, (8000, 8999)])],
        deny=[event_filter(comms=["sshd"])],
        payload="sockets",
        resume_window=60,
    )
    with ProbeClient() as client, client.subscribe(request) as subscription:
        ...

Every builder checks what the contract's types cannot hold (a negative pid,
port 0, an address that is not one, a batching delay beyond 10 s) and raises
``ValueError`` (``TypeError`` for a value of the wrong type) whose message
starts with the argument: ``pids[1]: -3 is not a process id``. What only the
service knows, such as the event catalogue and RE2 syntax, it checks itself
and rejects with :class:`~kindling.client.errors.InvalidRequest`.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable
from datetime import timedelta
from typing import Literal, Protocol, TypeAlias, TypeVar

from google.protobuf import duration_pb2, field_mask_pb2

from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2

__all__ = [
    "OVERFLOW_POLICIES",
    "PAYLOAD_MODES",
    "CategoryChoice",
    "FdTypeChoice",
    "OverflowChoice",
    "PayloadChoice",
    "PortChoice",
    "ProtocolChoice",
    "Seconds",
    "SourceChoice",
    "batching",
    "event_filter",
    "exclude_fields",
    "include_fields",
    "kernel_filters",
    "subscribe_request",
]

#: A duration: seconds, or a ``timedelta``.
Seconds: TypeAlias = float | timedelta
#: A port, or an inclusive ``(first, last)`` range of ports.
PortChoice: TypeAlias = int | tuple[int, int]
#: A category by its short name ("net", "file", ...) or its contract value.
CategoryChoice: TypeAlias = str | event_pb2.Category.ValueType
#: A source by its short name ("syscall_exit", "tracepoint", ...) or its contract value.
SourceChoice: TypeAlias = str | event_pb2.Source.ValueType
#: A descriptor type by its short name ("ipv4_socket", "pipe", ...) or its contract value.
FdTypeChoice: TypeAlias = str | event_pb2.FdType.ValueType
#: A layer-4 protocol by its short name ("tcp", "udp", ...) or its contract value.
ProtocolChoice: TypeAlias = str | event_pb2.L4Protocol.ValueType

PayloadChoice = Literal["none", "sockets", "all"]
#: SubscribeRequest.payload for each ``payload`` choice.
PAYLOAD_MODES: dict[str, probe_pb2.PayloadMode.ValueType] = {
    "none": probe_pb2.PAYLOAD_MODE_UNSPECIFIED,
    "sockets": probe_pb2.PAYLOAD_MODE_SOCKETS,
    "all": probe_pb2.PAYLOAD_MODE_ALL,
}

OverflowChoice = Literal["drop_newest", "drop_oldest", "disconnect"]
#: SubscribeRequest.overflow for each ``overflow`` choice.
OVERFLOW_POLICIES: dict[str, probe_pb2.OverflowPolicy.ValueType] = {
    "drop_newest": probe_pb2.OVERFLOW_POLICY_DROP_NEWEST,
    "drop_oldest": probe_pb2.OVERFLOW_POLICY_DROP_OLDEST,
    "disconnect": probe_pb2.OVERFLOW_POLICY_DISCONNECT,
}

# The contract's bounds (probe.proto).
MAX_RESUME_WINDOW = timedelta(minutes=5)
MAX_BATCH_DELAY = timedelta(seconds=10)
_UINT32 = 2**32 - 1
_UINT64 = 2**64 - 1
_INT64 = 2**63 - 1

_E = TypeVar("_E", bound=int)


class _Enum(Protocol[_E]):
    """What the generated enums offer (their wrapper's methods)."""

    def Value(self, name: str) -> _E: ...  # noqa: N802 (protobuf's names)

    def keys(self) -> list[str]: ...

    def values(self) -> list[_E]: ...


def event_filter(
    *,
    names: Iterable[str] = (),
    categories: Iterable[CategoryChoice] = (),
    sources: Iterable[SourceChoice] = (),
    pids: Iterable[int] = (),
    process_trees: Iterable[int] = (),
    tids: Iterable[int] = (),
    ppids: Iterable[int] = (),
    uids: Iterable[int] = (),
    gids: Iterable[int] = (),
    comms: Iterable[str] = (),
    exes: Iterable[str] = (),
    container_ids: Iterable[str] = (),
    cgroup_ids: Iterable[int] = (),
    fd_types: Iterable[FdTypeChoice] = (),
    protocols: Iterable[ProtocolChoice] = (),
    local_ports: Iterable[PortChoice] = (),
    remote_ports: Iterable[PortChoice] = (),
    local_addresses: Iterable[str] = (),
    remote_addresses: Iterable[str] = (),
    errors_only: bool = False,
    return_values: Iterable[int] = (),
    min_return_value: int | None = None,
    max_return_value: int | None = None,
    min_latency: Seconds | None = None,
    has_payload: bool | None = None,
) -> probe_pb2.EventFilter:
    """One filter: an event matches when it satisfies every argument given,
    and a list argument when it has any one of its values.

    - ``names``: event names of the catalogue (``GetInfo``).
    - ``categories``, ``sources``, ``fd_types``, ``protocols``: short names
      ("net", "syscall_exit", "ipv4_socket", "tcp") or the contract's values.
    - ``pids``, ``tids``, ``ppids``: process, thread and parent process ids;
      ``process_trees``: processes and everything they start.
    - ``uids``, ``gids``, ``cgroup_ids``, ``container_ids``: who and where.
    - ``comms``, ``exes``: RE2 regular expressions matched against the whole
      thread name and executable path.
    - ``local_ports``, ``remote_ports``: ports and inclusive ``(first, last)``
      ranges; ``local_addresses``, ``remote_addresses``: IPv4 or IPv6
      addresses or CIDR blocks.
    - ``errors_only``, ``return_values``, ``min_return_value``,
      ``max_return_value``: the return value (failed calls, exact values,
      bounds); every one given must hold.
    - ``min_latency``: syscalls that took at least this long (seconds or a
      ``timedelta``).
    - ``has_payload``: events that carry a payload (True) or none (False).
    """
    result = probe_pb2.EventFilter(
        names=_strings("names", names),
        categories=_enums("categories", categories, event_pb2.Category, "CATEGORY_"),
        sources=_enums("sources", sources, event_pb2.Source, "SOURCE_"),
        pids=_ids("pids", pids, "a process id"),
        process_trees=_ids("process_trees", process_trees, "a process id"),
        tids=_ids("tids", tids, "a thread id"),
        ppids=_ids("ppids", ppids, "a process id"),
        uids=_ids("uids", uids, "a user id", zero=True),
        gids=_ids("gids", gids, "a group id", zero=True),
        comms=_strings("comms", comms),
        exes=_strings("exes", exes),
        container_ids=_strings("container_ids", container_ids),
        cgroup_ids=_ids("cgroup_ids", cgroup_ids, "a cgroup id", top=_UINT64),
        fd_types=_enums("fd_types", fd_types, event_pb2.FdType, "FD_TYPE_"),
        protocols=_enums("protocols", protocols, event_pb2.L4Protocol, "L4_PROTOCOL_"),
        local_ports=_ports("local_ports", local_ports),
        remote_ports=_ports("remote_ports", remote_ports),
        local_addresses=_addresses("local_addresses", local_addresses),
        remote_addresses=_addresses("remote_addresses", remote_addresses),
    )
    values = [_int64("return_values", i, value) for i, value in enumerate(_list(return_values))]
    bounds = {"min_return_value": min_return_value, "max_return_value": max_return_value}
    if errors_only or values or any(bound is not None for bound in bounds.values()):
        result.return_value.errors_only = _bool("errors_only", errors_only)
        result.return_value.values.extend(values)
        if min_return_value is not None:
            result.return_value.min = _int64("min_return_value", None, min_return_value)
        if max_return_value is not None:
            result.return_value.max = _int64("max_return_value", None, max_return_value)
    if min_latency is not None:
        result.min_latency_ns = _duration_ns("min_latency", min_latency)
    if has_payload is not None:
        result.has_payload = _bool("has_payload", has_payload)
    return result


def subscribe_request(
    *,
    allow: Iterable[probe_pb2.EventFilter] = (),
    deny: Iterable[probe_pb2.EventFilter] = (),
    payload: PayloadChoice = "none",
    fields: Iterable[probe_pb2.FieldSelection] = (),
    batching: probe_pb2.Batching | None = None,
    overflow: OverflowChoice | None = None,
    resume_window: Seconds | None = None,
) -> probe_pb2.SubscribeRequest:
    """A request for a stream.

    - ``allow``: an event is sent when it matches one of these filters
      (:func:`event_filter`); none allows every event.
    - ``deny``: an event matching one of these is not sent.
    - ``payload``: "sockets" or "all" asks for the bytes I/O calls moved on
      sockets, or on any descriptor.
    - ``fields``: field masks (:func:`include_fields`, :func:`exclude_fields`).
    - ``batching``: how events are gathered into responses (:func:`batching`).
    - ``overflow``: what the service does when the stream's queue is full:
      "drop_newest" (its default), "drop_oldest" or "disconnect".
    - ``resume_window``: makes the stream resumable for this long after a
      disconnect (up to 5 minutes).
    """
    request = probe_pb2.SubscribeRequest(
        allow_list=_messages("allow", allow, probe_pb2.EventFilter),
        deny_list=_messages("deny", deny, probe_pb2.EventFilter),
        payload=_choice("payload", payload, PAYLOAD_MODES),
        fields=_messages("fields", fields, probe_pb2.FieldSelection),
    )
    if batching is not None:
        if not isinstance(batching, probe_pb2.Batching):
            raise TypeError(f"batching: expected a Batching, not {batching!r}")
        request.batching.CopyFrom(batching)
    if overflow is not None:
        request.overflow = _choice("overflow", overflow, OVERFLOW_POLICIES)
    if resume_window is not None:
        request.resume_window.CopyFrom(
            _duration("resume_window", resume_window, MAX_RESUME_WINDOW, positive=True)
        )
    return request


def include_fields(paths: Iterable[str], *, events: Iterable[str] = ()) -> probe_pb2.FieldSelection:
    """A field mask that keeps only ``paths`` (``seq``, ``timestamp_ns`` and
    ``name`` always stay) of the ``events`` named, or of every event no
    other selection names. A path is a field of ``Event`` ("payload",
    "thread") or one level down ("thread.pid", "fd.path")."""
    return probe_pb2.FieldSelection(
        events=_strings("events", events),
        include=field_mask_pb2.FieldMask(paths=_strings("paths", paths)),
    )


def exclude_fields(paths: Iterable[str], *, events: Iterable[str] = ()) -> probe_pb2.FieldSelection:
    """A field mask that drops ``paths`` (see :func:`include_fields`) from
    the ``events`` named, or from every event no other selection names."""
    return probe_pb2.FieldSelection(
        events=_strings("events", events),
        exclude=field_mask_pb2.FieldMask(paths=_strings("paths", paths)),
    )


def batching(*, max_events: int = 0, max_delay: Seconds = 0.0) -> probe_pb2.Batching:
    """At most ``max_events`` events per response (0: the service's most),
    and how long the first event of a response may wait for more (up to
    10 s; 0 sends what is ready at once)."""
    result = probe_pb2.Batching(max_events=_int("max_events", None, max_events, 0, _UINT32))
    result.max_delay.CopyFrom(_duration("max_delay", max_delay, MAX_BATCH_DELAY))
    return result


def kernel_filters(
    *,
    deny_pids: Iterable[int] = (),
    deny_comms: Iterable[str] = (),
    drop_failed_io: bool = False,
) -> probe_pb2.KernelFilters:
    """The filters the kernel applies for every subscriber (for
    :meth:`~kindling.client.ProbeClient.configure`): processes and thread
    names (at most 15 bytes) never captured, and whether I/O that moved no
    data is dropped."""
    comms = _strings("deny_comms", deny_comms)
    for i, comm in enumerate(comms):
        if not comm or len(comm.encode()) > 15:
            raise ValueError(f"deny_comms[{i}]: {comm!r} is not a thread name (1 to 15 bytes)")
    return probe_pb2.KernelFilters(
        deny_pids=_ids("deny_pids", deny_pids, "a process id"),
        deny_comms=comms,
        drop_failed_io=_bool("drop_failed_io", drop_failed_io),
    )


# The checks, each naming the argument (and the index in a list) it failed.


def _list(values: object) -> list[object]:
    # A lone string is iterable too, but never meant as a list of its characters.
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise TypeError
    return list(values)


def _items(name: str, values: object) -> list[object]:
    try:
        return _list(values)
    except TypeError:
        raise TypeError(f"{name}: expected a list, not {type(values).__name__}") from None


def _where(name: str, index: int | None) -> str:
    return name if index is None else f"{name}[{index}]"


def _int(name: str, index: int | None, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{_where(name, index)}: expected an integer, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{_where(name, index)}: {value} is out of range ({low} to {high})")
    return value


def _int64(name: str, index: int | None, value: object) -> int:
    return _int(name, index, value, -_INT64 - 1, _INT64)


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, not {value!r}")
    return value


def _strings(name: str, values: Iterable[str]) -> list[str]:
    items = _items(name, values)
    for i, value in enumerate(items):
        if not isinstance(value, str):
            raise TypeError(f"{name}[{i}]: expected a string, not {value!r}")
    return [str(value) for value in items]


def _ids(
    name: str, values: Iterable[int], what: str, *, zero: bool = False, top: int = _UINT32
) -> list[int]:
    low = 0 if zero else 1
    result = []
    for i, value in enumerate(_items(name, values)):
        try:
            result.append(_int(name, i, value, low, top))
        except ValueError:
            raise ValueError(f"{name}[{i}]: {value} is not {what} ({low} to {top})") from None
    return result


def _enums(name: str, values: Iterable[str | _E], enum: _Enum[_E], prefix: str) -> list[_E]:
    # Short names are the contract's value names without their prefix,
    # lowercased; UNSPECIFIED matches nothing, so it is not offered.
    choices = [key.removeprefix(prefix).lower() for key in enum.keys()][1:]  # noqa: SIM118
    result: list[_E] = []
    for i, value in enumerate(_items(name, values)):
        if isinstance(value, str):
            if value.lower() not in choices:
                raise ValueError(
                    f"{name}[{i}]: {value!r} is not one of {', '.join(choices)}"
                ) from None
            result.append(enum.Value(prefix + value.upper()))
        elif isinstance(value, int) and not isinstance(value, bool) and value in enum.values():
            result.append(value)
        else:
            raise ValueError(f"{name}[{i}]: {value!r} is not one of {', '.join(choices)}")
    return result


def _ports(name: str, values: Iterable[PortChoice]) -> list[probe_pb2.PortRange]:
    result = []
    for i, value in enumerate(_items(name, values)):
        first, last = value if isinstance(value, tuple) and len(value) == 2 else (value, value)
        if isinstance(first, bool) or not isinstance(first, int) or not isinstance(last, int):
            raise TypeError(f"{name}[{i}]: expected a port or a (first, last) pair, not {value!r}")
        if not 1 <= first <= last <= 65535:
            raise ValueError(f"{name}[{i}]: {value!r} is not a port or range of ports (1 to 65535)")
        result.append(probe_pb2.PortRange(first=first, last=last if last != first else 0))
    return result


def _addresses(name: str, values: Iterable[str]) -> list[str]:
    addresses = _strings(name, values)
    for i, address in enumerate(addresses):
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise ValueError(
                f"{name}[{i}]: {address!r} is not an IPv4 or IPv6 address or CIDR block"
            ) from None
    return addresses


def _seconds(name: str, value: object) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise TypeError(f"{name}: expected seconds or a timedelta, not {value!r}")
    return float(value)


def _duration_ns(name: str, value: Seconds) -> int:
    seconds = _seconds(name, value)
    if not 0 <= seconds < _UINT64 / 1e9:
        raise ValueError(f"{name}: {value!r} is not a duration of zero or more")
    return round(seconds * 1e9)


def _duration(
    name: str, value: Seconds, most: timedelta, *, positive: bool = False
) -> duration_pb2.Duration:
    seconds = _seconds(name, value)
    if not (seconds > 0 if positive else seconds >= 0) or seconds > most.total_seconds():
        low = "more than 0" if positive else "0"
        raise ValueError(f"{name}: {value!r} is out of range ({low} to {most.total_seconds():g} s)")
    result = duration_pb2.Duration()
    result.FromNanoseconds(round(seconds * 1e9))
    return result


def _choice(name: str, value: str, choices: dict[str, _E]) -> _E:
    if value not in choices:
        raise ValueError(f"{name}: {value!r} is not one of {', '.join(choices)}")
    return choices[value]


_M = TypeVar("_M", probe_pb2.EventFilter, probe_pb2.FieldSelection)


def _messages(name: str, values: Iterable[_M], kind: type[_M]) -> list[_M]:
    items = _items(name, values)
    for i, value in enumerate(items):
        if not isinstance(value, kind):
            raise TypeError(f"{name}[{i}]: expected a {kind.__name__}, not {value!r}")
    return [value for value in items if isinstance(value, kind)]
