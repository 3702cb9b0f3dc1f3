"""The filter flags of ``kindling events``: every field of the contract's
``EventFilter`` as a flag, and ``--exclude-`` flags for the deny list.

The filter flags together make the stream's one allow filter: an event is
printed when it matches every flag given, and one value of each (``--name
connect,accept4 --remote-port 80`` prints connects and accepts on port 80).
Each ``--exclude-`` flag makes a deny filter of its own, so an event matching
any one of them is left out. List flags take comma lists and may be repeated;
``--comm`` and ``--exe`` take one RE2 pattern per flag, as patterns may hold
commas themselves.

``kindling-events`` (clients/go/cmd/kindling-events/filters.go) has the same
flags, words and checks; the shared vectors in clients/testdata/cli.json hold
both to the requests they send and the errors they print.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2

_UINT32 = (1 << 32) - 1
_UINT64 = (1 << 64) - 1
_INT64 = (1 << 63) - 1


def _split(text: str, what: str) -> list[str]:
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"{what} must not be empty; separate them by commas")
    return parts


def _strings(what: str) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        return _split(text, what)

    return parse


def _pattern(text: str) -> list[str]:
    if not text:
        raise argparse.ArgumentTypeError("a pattern must not be empty")
    return [text]


def _ids(what: str, *, zero: bool = False, top: int = _UINT32) -> Callable[[str], list[int]]:
    low = 0 if zero else 1
    words = "0 or a positive integer" if zero else "a positive integer"

    def parse(text: str) -> list[int]:
        values = []
        for part in _split(text, "a value"):
            value = int(part) if re.fullmatch(r"[0-9]+", part) else -1
            if not low <= value <= top:
                raise argparse.ArgumentTypeError(f'"{part}" is not {what} ({words})')
            values.append(value)
        return values

    return parse


def _enum(what: str, enum: Any, prefix: str) -> tuple[Callable[[str], list[int]], list[str]]:
    # Short names are the contract's value names without their prefix,
    # lowercased; UNSPECIFIED matches nothing, so it is not offered.
    choices = [name.removeprefix(prefix).lower() for name in enum.keys()][1:]  # noqa: SIM118

    def parse(text: str) -> list[int]:
        values = []
        for part in _split(text, "a value"):
            if part.lower() not in choices:
                raise argparse.ArgumentTypeError(
                    f'invalid {what} "{part}": use {", ".join(choices)}'
                )
            values.append(int(enum.Value(prefix + part.upper())))
        return values

    return parse, choices


def parse_ports(text: str) -> list[probe_pb2.PortRange]:
    """Ports and ranges of ports: ``80,443,8000-8999``."""
    ranges = []
    for part in _split(text, "a port"):
        match = re.fullmatch(r"([0-9]{1,5})(?:-([0-9]{1,5}))?", part)
        first = int(match[1]) if match else 0
        last = int(match[2]) if match and match[2] else first
        if not 1 <= first <= last <= 65535:
            raise argparse.ArgumentTypeError(
                f'"{part}" is not a port (1 to 65535) or a range of ports (8000-8999)'
            )
        ranges.append(probe_pb2.PortRange(first=first, last=last if last != first else 0))
    return ranges


def parse_addresses(text: str) -> list[str]:
    """IPv4 or IPv6 addresses and CIDR blocks: ``10.0.0.1,10.0.0.0/8,fd00::/8``."""
    addresses = _split(text, "an address")
    for address in addresses:
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'"{address}" is not an IP address or CIDR block (10.0.0.1, 10.0.0.0/8, fd00::/8)'
            ) from None
    return addresses


def parse_int64(text: str) -> int:
    value = int(text) if re.fullmatch(r"-?[0-9]{1,19}", text) else None
    if value is None or not -_INT64 - 1 <= value <= _INT64:
        raise argparse.ArgumentTypeError(f'"{text}" is not an integer')
    return value


def _int64s(text: str) -> list[int]:
    return [parse_int64(part) for part in _split(text, "a value")]


@dataclass(frozen=True)
class FilterFlag:
    """One list field of EventFilter and the flags that fill it."""

    name: str  # the flag without dashes: "remote-port"
    field: str  # the EventFilter field: "remote_ports", "return_value.values"
    metavar: str
    help: str  # what the values select: "events on these remote ports"
    parse: Callable[[str], list[Any]]
    choices: Sequence[str] = ()

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def exclude_flag(self) -> str:
        return f"--exclude-{self.name}"


_categories, _category_names = _enum("category", event_pb2.Category, "CATEGORY_")
_sources, _source_names = _enum("source", event_pb2.Source, "SOURCE_")
_fd_types, _fd_type_names = _enum("descriptor type", event_pb2.FdType, "FD_TYPE_")
_protocols, _protocol_names = _enum("protocol", event_pb2.L4Protocol, "L4_PROTOCOL_")

#: The list fields, in the contract's order of importance; exclusions follow it too.
FILTER_FLAGS = [
    FilterFlag("name", "names", "NAMES", "events with these names", _strings("an event name")),
    FilterFlag(
        "category",
        "categories",
        "CATEGORIES",
        "events of these categories",
        _categories,
        _category_names,
    ),
    FilterFlag(
        "source", "sources", "SOURCES", "events from these sources", _sources, _source_names
    ),
    FilterFlag("pid", "pids", "PIDS", "events of these process ids", _ids("a process id")),
    FilterFlag("tid", "tids", "TIDS", "events of these thread ids", _ids("a thread id")),
    FilterFlag(
        "ppid", "ppids", "PIDS", "events of processes with these parents", _ids("a process id")
    ),
    FilterFlag(
        "process-tree",
        "process_trees",
        "PIDS",
        "events of these processes and everything they start",
        _ids("a process id"),
    ),
    FilterFlag("uid", "uids", "UIDS", "events of these user ids", _ids("a user id", zero=True)),
    FilterFlag("gid", "gids", "GIDS", "events of these group ids", _ids("a group id", zero=True)),
    FilterFlag(
        "comm",
        "comms",
        "REGEX",
        "events of threads whose whole name matches this RE2 pattern",
        _pattern,
    ),
    FilterFlag(
        "exe",
        "exes",
        "REGEX",
        "events of processes whose whole executable path matches this RE2 pattern",
        _pattern,
    ),
    FilterFlag(
        "container",
        "container_ids",
        "IDS",
        "events in these containers (full or 12-digit ids)",
        _strings("a container id"),
    ),
    FilterFlag(
        "cgroup",
        "cgroup_ids",
        "IDS",
        "events in these cgroups (by id)",
        _ids("a cgroup id", top=_UINT64),
    ),
    FilterFlag(
        "fd-type",
        "fd_types",
        "TYPES",
        "events on descriptors of these types",
        _fd_types,
        _fd_type_names,
    ),
    FilterFlag(
        "protocol",
        "protocols",
        "PROTOCOLS",
        "events on sockets of these protocols",
        _protocols,
        _protocol_names,
    ),
    FilterFlag(
        "local-port",
        "local_ports",
        "PORTS",
        "events on sockets with these local ports (80,8000-8999)",
        parse_ports,
    ),
    FilterFlag(
        "remote-port",
        "remote_ports",
        "PORTS",
        "events on sockets with these remote ports",
        parse_ports,
    ),
    FilterFlag(
        "local-address",
        "local_addresses",
        "ADDRESSES",
        "events on sockets with these local addresses or CIDR blocks",
        parse_addresses,
    ),
    FilterFlag(
        "remote-address",
        "remote_addresses",
        "ADDRESSES",
        "events on sockets with these remote addresses or CIDR blocks",
        parse_addresses,
    ),
    FilterFlag("ret", "return_value.values", "VALUES", "calls that returned these values", _int64s),
]

#: The single-valued fields' flags, for messages of the service about them.
_SCALAR_FLAGS = {
    "return_value.errors_only": "--errors-only",
    "return_value.min": "--min-ret",
    "return_value.max": "--max-ret",
    "return_value": "--min-ret",
    "min_latency_ns": "--min-latency",
    "has_payload": "--has-payload",
}


def _dest(prefix: str, flag: FilterFlag) -> str:
    return f"{prefix}_{flag.field.replace('.', '_')}"


def add_filter_flags(
    parser: argparse.ArgumentParser, parse_seconds: Callable[[str], float]
) -> None:
    """Add the filter and exclusion flags to ``parser``."""
    filters = parser.add_argument_group(
        "filters",
        "An event is printed when it matches every filter given, and one value of each.",
    )
    for flag in FILTER_FLAGS:
        filters.add_argument(
            flag.flag,
            dest=_dest("allow", flag),
            action="extend",
            type=flag.parse,
            metavar=flag.metavar,
            help=f"print only {flag.help}"
            + (f": {', '.join(flag.choices)}" if flag.choices else ""),
        )
    filters.add_argument(
        "--errors-only", action="store_true", help="print only calls that failed (returned -errno)"
    )
    filters.add_argument(
        "--min-ret", type=parse_int64, metavar="N", help="print only calls that returned N or more"
    )
    filters.add_argument(
        "--max-ret", type=parse_int64, metavar="N", help="print only calls that returned N or less"
    )
    filters.add_argument(
        "--min-latency",
        type=parse_seconds,
        metavar="DURATION",
        help="print only calls that took at least this long: 1ms, 250us, or seconds",
    )
    filters.add_argument(
        "--has-payload",
        type=_has_payload,
        metavar="BOOL",
        help="print only events that carry a payload (true) or none (false)",
    )
    exclusions = parser.add_argument_group(
        "exclusions", "An event matching any one of these is left out."
    )
    for flag in FILTER_FLAGS:
        exclusions.add_argument(
            flag.exclude_flag,
            dest=_dest("deny", flag),
            action="extend",
            type=flag.parse,
            metavar=flag.metavar,
            help=f"leave out {flag.help}",
        )


def _has_payload(text: str) -> bool:
    if text not in ("true", "false"):
        raise argparse.ArgumentTypeError(
            f'invalid payload presence "{text}": use --has-payload true or false'
        )
    return text == "true"


def _fill(target: probe_pb2.EventFilter, field: str, values: list[Any]) -> None:
    message: Any = target
    *parents, name = field.split(".")
    for parent in parents:
        message = getattr(message, parent)
    getattr(message, name).extend(values)


def build_filters(
    args: argparse.Namespace,
) -> tuple[probe_pb2.EventFilter | None, list[probe_pb2.EventFilter]]:
    """The allow filter (None when no filter flag was given) and the deny
    filters of the parsed ``args``; ArgumentTypeError for bounds that
    contradict each other."""
    allow = probe_pb2.EventFilter()
    deny = []
    for flag in FILTER_FLAGS:
        if values := getattr(args, _dest("allow", flag)):
            _fill(allow, flag.field, values)
        if values := getattr(args, _dest("deny", flag)):
            deny.append(probe_pb2.EventFilter())
            _fill(deny[-1], flag.field, values)
    if args.errors_only:
        allow.return_value.errors_only = True
    if args.min_ret is not None:
        allow.return_value.min = args.min_ret
    if args.max_ret is not None:
        allow.return_value.max = args.max_ret
    if args.min_ret is not None and args.max_ret is not None and args.min_ret > args.max_ret:
        raise argparse.ArgumentTypeError(
            f"--min-ret {args.min_ret} is more than --max-ret {args.max_ret}"
        )
    if args.min_latency:
        allow.min_latency_ns = round(args.min_latency * 1e9)
    if args.has_payload is not None:
        allow.has_payload = args.has_payload
    return (allow if allow.ByteSize() or allow.HasField("has_payload") else None), deny


_FIELD_FLAGS = {flag.field: flag for flag in FILTER_FLAGS}
_REQUEST_PATH = re.compile(r"(allow_list\[0\]|deny_list\[\d+\])\.([a-z_]+(?:\.[a-z_]+)?)(\[\d+\])?")


def in_flag_terms(details: str) -> str | None:
    """The service's explanation of a rejected request, naming the flag instead
    of the request field (``--name: unknown event name 'conect'; ...``), or
    None when it is about no flag."""
    match = _REQUEST_PATH.match(details)
    if match is None:
        return None
    where, field = match[1], match[2]
    if field in _FIELD_FLAGS:
        flag = _FIELD_FLAGS[field]
        name = flag.flag if where.startswith("allow") else flag.exclude_flag
    elif field in _SCALAR_FLAGS and where.startswith("allow"):
        name = _SCALAR_FLAGS[field]
    else:
        return None
    return name + details[match.end() :]
