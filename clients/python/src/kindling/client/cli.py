"""`kindling`: print kernel events from the kindling probe service, describe it, configure it.

``kindling events`` behaves exactly like the Go client's ``kindling-events``
command (clients/go/cmd/kindling-events): the same output, messages (with the
prefix "kindling:"), exit statuses and signal handling. Exit statuses: 0 on
success (including when --count events were printed, when --timeout ends a
run without --count, and on SIGINT or SIGTERM); 1 on errors, when the service
stops, and when --timeout ends a run before --count events arrived; 2 for bad
usage and for requests the service rejects as invalid; 141 (like a process
killed by SIGPIPE) when stdout is closed early, as by ``| head``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from importlib import metadata
from typing import IO, TYPE_CHECKING, NoReturn, TextIO

import kindling.client._grpc_logging  # noqa: F401  (must run before grpc is imported)
from kindling.client import (
    DEFAULT_SOCKET,
    PAYLOAD_MODES,
    SOCKET_ENV,
    InvalidRequest,
    ProbeClient,
    ReconnectingSubscription,
    RequestFailed,
    ServiceNotFound,
    ServiceUnavailable,
    StreamRestarted,
    StreamResumed,
    Subscription,
    default_socket,
)
from kindling.client.cli_filters import add_filter_flags, build_filters, in_flag_terms
from kindling.client.format import (
    TABLE_HEADER,
    format_compact,
    format_enum,
    format_float,
    format_json,
    format_json_event,
    format_loss,
    format_table_row,
    format_time,
    quote_if_unprintable,
)
from kindling.client.reach import unreachable
from kindling.client.stats import Counters, counters, stats_lines
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2

if TYPE_CHECKING:
    from types import FrameType

    import grpc

PROG = "kindling"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE

_MAX_PID = (1 << 32) - 1


# --- output -------------------------------------------------------------------


class _OutputError(Exception):
    """Writing to stdout failed (other than by a closed pipe)."""


class _Output:
    """Lines for stdout, buffered until :meth:`flush` and written as UTF-8."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        # Like the Go command, write UTF-8 whatever the locale's encoding.
        self._binary: IO[bytes] | None = getattr(stream, "buffer", None)
        self._lines: list[str] = []

    def line(self, text: str) -> None:
        self._lines.append(text)

    def flush(self) -> None:
        data = "".join(line + "\n" for line in self._lines)
        self._lines.clear()
        try:
            if self._binary is not None:
                self._stream.flush()
                self._binary.write(data.encode("utf-8", "backslashreplace"))
                self._binary.flush()
            else:
                self._stream.write(data)
                self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as error:
            raise _OutputError(error.strerror or str(error)) from error


def _notice(message: str) -> None:
    """Write one ``kindling: <message>`` line to stderr."""
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.stderr.flush()


def _fail(message: str) -> int:
    _notice(message)
    return EXIT_ERROR


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit cannot fail again."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


# --- errors of calls ----------------------------------------------------------------


_GO_CODE_NAMES = {"OK": "OK", "CANCELLED": "Canceled"}


def _code_name(code: grpc.StatusCode) -> str:
    """The status code's name as grpc-go spells it, for example "PermissionDenied"."""
    name: str = code.name
    return _GO_CODE_NAMES.get(name) or "".join(word.capitalize() for word in name.split("_"))


def _request_failed(error: RequestFailed, action: str) -> int:
    """Report a failed call (``action`` is, say, "subscribing to") and return the exit status."""
    socket, details = error.socket, error.details
    if isinstance(error, InvalidRequest):
        flagged = in_flag_terms(details)
        _notice(flagged or f"the service rejected the request: {details}")
        return EXIT_USAGE
    if isinstance(error, ServiceUnavailable):
        if error.started:
            return _fail(f"the kindling probe service at {socket} stopped ({details})")
        if error.code.name == "CANCELLED":
            return _fail(f"{action} the kindling probe service at {socket} failed: {details}")
        problem = unreachable(socket)  # the errno of a connect() of our own says why
        if problem is not None:
            return _fail(problem)
        return _fail(
            f"the kindling probe service is not reachable at {socket} ({details}); "
            'start it with "kindling-probe serve" or pass --socket'
        )
    return _fail(
        f"{action} the kindling probe service at {socket} failed: "
        f"{_code_name(error.code)}: {details}"
    )


def _service_not_found(error: ServiceNotFound) -> int:
    return _fail(f"{error} or pass --socket" if error.missing else str(error))


# --- kindling events ----------------------------------------------------------------


class Stopper:
    """Cancels a subscription once and remembers why: "signal", "timeout" or "count"."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._subscription: Subscription | ReconnectingSubscription | None = None

    @property
    def reason(self) -> str | None:
        with self._lock:
            return self._reason

    def attach(self, subscription: Subscription | ReconnectingSubscription) -> None:
        with self._lock:
            self._subscription = subscription
            stopped = self._reason is not None
        if stopped:
            subscription.cancel()

    def stop(self, reason: str) -> None:
        with self._lock:
            if self._reason is None:
                self._reason = reason
            subscription = self._subscription
        if subscription is not None:
            subscription.cancel()


@contextlib.contextmanager
def stop_on_signals(stopper: Stopper) -> Iterator[None]:
    """While active, SIGINT and SIGTERM stop ``stopper`` instead of interrupting."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can handle signals
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        # The handler runs between two bytecodes of the main thread, which
        # may be inside grpc; cancelling from another thread keeps grpc's
        # state changes in their usual order.
        threading.Thread(target=stopper.stop, args=("signal",), daemon=True).start()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)


def _events(args: argparse.Namespace) -> int:
    socket: str = args.socket
    names: list[str] = args.allow_names or []
    count: int = args.count
    timeout: float = args.timeout
    as_json = args.output == "json"
    as_table = args.output == "table"
    color = use_color(args.color, sys.stdout)

    client = ProbeClient(socket)
    stopper = Stopper()
    timer: threading.Timer | None = None
    with client, stop_on_signals(stopper):
        # The timeout cancels the stream rather than setting a gRPC deadline,
        # as the Go command does, so that it is told apart from any error.
        if timeout > 0:
            delay = min(timeout, threading.TIMEOUT_MAX)
            timer = threading.Timer(delay, stopper.stop, args=("timeout",))
            timer.daemon = True
            timer.start()
        try:
            request = probe_pb2.SubscribeRequest(payload=PAYLOAD_MODES[args.payload])
            allow, deny = args.filters
            if allow is not None:
                request.allow_list.append(allow)
            request.deny_list.extend(deny)
            if not args.include_self:
                # The CLI's own gRPC traffic would otherwise fill its output.
                request.deny_list.add(pids=[os.getpid()])
            out = _Output(sys.stdout)
            printed = 0

            def stopped() -> int:
                # The stream ended because of a signal, --timeout or --count.
                if stopper.reason != "timeout" or count == 0 or printed >= count:
                    return EXIT_OK
                return _fail(
                    f"timed out after {format_float(timeout)}s with {printed} of {count} events"
                )

            _warn_disabled(client, names)
            with _subscribe(client, request, args.follow) as subscription:
                stopper.attach(subscription)
                try:
                    for response in subscription:
                        if not isinstance(response, probe_pb2.SubscribeResponse):
                            out.flush()
                            _reconnected(response, socket)
                            continue
                        for loss in response.losses:
                            _notice(format_loss(loss))
                        boot_time_ns = response.boot_time.ToNanoseconds()
                        for event in response.events:
                            if as_table and printed == 0:
                                out.line(TABLE_HEADER)
                            if as_json:
                                line = format_json_event(event, boot_time_ns, response.node_name)
                            elif as_table:
                                line = format_table_row(event, boot_time_ns)
                            else:
                                line = format_compact(event, boot_time_ns, color=color)
                            out.line(line)
                            printed += 1
                            if count and printed >= count:
                                stopper.stop("count")
                                out.flush()
                                return EXIT_OK
                        out.flush()
                except RequestFailed as error:
                    out.flush()
                    if stopper.reason is not None:
                        return stopped()
                    return _request_failed(error, "subscribing to")
            out.flush()
            if stopper.reason is not None:
                return stopped()
            return _fail(
                f"the kindling probe service at {socket} ended the stream (the service stopped)"
            )
        finally:
            if timer is not None:
                timer.cancel()


def _subscribe(
    client: ProbeClient, request: probe_pb2.SubscribeRequest, follow: bool
) -> Subscription | ReconnectingSubscription:
    if follow:
        return client.subscribe(request, reconnect=True)
    return client.subscribe(request)


def _reconnected(notice: StreamResumed | StreamRestarted, socket: str) -> None:
    """What --follow says when the stream broke, as kindling-events does."""
    if isinstance(notice, StreamRestarted):
        _notice(
            f"the stream started over: events after seq {notice.last_seq} are unknown (the "
            "service no longer had the stream (it restarted, or its resume window passed); a "
            "new stream starts)"
        )
    _notice(f"reconnected to the kindling probe service at {socket}")


def disabled_warnings(names: Sequence[str], info: probe_pb2.GetInfoResponse) -> list[str]:
    """The warnings for the --name events the service's catalogue has disabled."""
    disabled = {event.name for event in info.events if not event.enabled}
    return [
        f"warning: --name {name}: the service has disabled this event, so none will "
        f'arrive until it is enabled ("kindling configure --enable {name}")'
        for name in dict.fromkeys(names)
        if name in disabled
    ]


def _warn_disabled(client: ProbeClient, names: Sequence[str]) -> None:
    if not names:
        return
    try:
        info = client.get_info(timeout=10)
    except RequestFailed:
        return  # the subscription reports what is wrong
    for warning in disabled_warnings(names, info):
        _notice(warning)


def use_color(choice: str, stream: TextIO) -> bool:
    """Whether --color ``choice`` colours lines written to ``stream``.

    "auto" colours only a terminal, and only when $NO_COLOR is unset or
    empty (https://no-color.org); "always" and "never" decide alone.
    """
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, OSError, ValueError):
        return False


# --- kindling info --------------------------------------------------------------------


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        (
            indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def info_text(info: probe_pb2.GetInfoResponse) -> list[str]:
    """The lines ``kindling info`` prints for ``info``."""
    show = quote_if_unprintable
    driver = info.driver
    driver_text = show(driver.name) or "-"
    if driver.transport:
        driver_text += f" ({show(driver.transport)})"
    boot = format_time(info.boot_time.ToNanoseconds()) if info.HasField("boot_time") else "-"
    lines = [
        f"service version:   {show(info.service_version) or '-'}",
        f"contract versions: {', '.join(map(show, info.contract_versions)) or '-'}",
        f"node:              {show(info.node_name) or '-'}",
        f"boot time:         {boot}",
        f"driver:            {driver_text}",
        f"kernel release:    {show(driver.kernel_release) or '-'}",
    ]
    if driver.features:
        lines.append("kernel features:")
        lines += _table(
            [
                [show(f.name), "available" if f.available else "missing", show(f.detail)]
                for f in driver.features
            ]
        )
    else:
        lines.append("kernel features:   -")
    if driver.HasField("scope"):
        lines += _scope_text(driver)
    enabled = sum(1 for e in info.events if e.enabled)
    lines.append(f"events:            {enabled} of {len(info.events)} enabled")
    if info.events:
        rows = [["NAME", "ENABLED", "SOURCE", "CATEGORY", "FD", "ATTRIBUTES"]]
        for e in info.events:
            attributes = " ".join(
                f"{show(a.key)}:{format_enum(probe_pb2.AttributeType.DESCRIPTOR, a.type)}"
                for a in e.attributes
            )
            rows.append(
                [
                    show(e.name),
                    "yes" if e.enabled else "no",
                    format_enum(event_pb2.Source.DESCRIPTOR, e.source),
                    format_enum(event_pb2.Category.DESCRIPTOR, e.category),
                    "yes" if e.fd_context else "no",
                    attributes or "-",
                ]
            )
        lines += _table(rows)
    return lines


_PAYLOAD_NAMES = {mode: name for name, mode in PAYLOAD_MODES.items()}


def _kernel_filters_text(filters: probe_pb2.KernelFilters) -> str:
    show = quote_if_unprintable
    parts = []
    if filters.deny_pids:
        parts.append("deny pids " + " ".join(str(p) for p in filters.deny_pids))
    if filters.deny_comms:
        parts.append("deny names " + " ".join(map(show, filters.deny_comms)))
    if filters.drop_failed_io:
        parts.append("drop failed I/O")
    return "; ".join(parts) or "none"


def _scope_text(driver: probe_pb2.DriverInfo) -> list[str]:
    """What the kernel captures now, and its counters."""
    show = quote_if_unprintable
    scope = driver.scope
    attached = len(driver.attached)
    lines = [
        f"tracepoints:       {attached} attached" if attached else
        "tracepoints:       none attached (nothing is wanted: the kernel does no work)",
        f"kernel filters:    {_kernel_filters_text(scope.kernel_filters)}",
        f"payload snaplen:   {driver.snaplen} bytes (at most {driver.max_snaplen})",
    ]  # fmt: skip
    if scope.events:
        lines.append(
            f"captured:          {len(scope.events)} events "
            f"({scope.allowed_pid_count} processes, {scope.allowed_cgroup_count} cgroups "
            "for the scoped ones)"
        )
        rows = [["NAME", "DELIVERED", "SCOPE"]]
        for e in scope.events:
            scoped = [w for w, on in (("pids", e.pid_scoped), ("cgroups", e.cgroup_scoped),
                                      ("drop-failed", e.drop_failed)) if on]  # fmt: skip
            if e.payload:
                scoped.append(f"payload-{_PAYLOAD_NAMES[e.payload]}")
            rows.append([show(e.name), "yes" if e.delivered else "no (context)",
                         " ".join(scoped) or "everyone"])  # fmt: skip
        lines += _table(rows)
    counted = [c for c in driver.counters if c.emitted or c.filtered or c.lost]
    if counted:
        lines.append("kernel counters:")
        rows = [["EVENT", "EMITTED", "FILTERED", "LOST"]]
        rows += [[show(c.event), str(c.emitted), str(c.filtered), str(c.lost)] for c in counted]
        lines += _table(rows)
    return lines


def _info(args: argparse.Namespace) -> int:
    with ProbeClient(args.socket) as client:
        info = client.get_info()
    out = _Output(sys.stdout)
    if args.output == "json":
        out.line(format_json(info))
    else:
        for line in info_text(info):
            out.line(line)
    out.flush()
    return EXIT_OK


# --- kindling stats -------------------------------------------------------------------

_CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear the screen


def _stats(args: argparse.Namespace) -> int:
    out = _Output(sys.stdout)
    # A terminal is redrawn in place; a pipe gets one block per refresh.
    terminal = sys.stdout.isatty()
    previous: Counters | None = None
    last = time.monotonic()
    shown = 0
    with ProbeClient(args.socket) as client:
        while True:
            info = client.get_info(timeout=10)
            now = time.monotonic()
            lines = stats_lines(info, previous, now - last)
            previous, last = counters(info), now
            if terminal:
                lines[0] = _CLEAR + lines[0]
            elif shown:
                out.line("")
            for line in lines:
                out.line(line)
            out.flush()
            shown += 1
            if args.count and shown >= args.count:
                return EXIT_OK
            time.sleep(args.interval)


# --- kindling configure -------------------------------------------------------------


def _kernel_filters(args: argparse.Namespace) -> probe_pb2.KernelFilters | None:
    if not (args.deny_pid or args.deny_comm or args.drop_failed_io or args.no_kernel_filters):
        return None
    return probe_pb2.KernelFilters(
        deny_pids=args.deny_pid or [],
        deny_comms=args.deny_comm or [],
        drop_failed_io=args.drop_failed_io,
    )


def _configure(args: argparse.Namespace) -> int:
    filters = _kernel_filters(args)
    with ProbeClient(args.socket) as client:
        response = client.configure(
            args.enable or [], args.disable or [], kernel_filters=filters, snaplen=args.snaplen
        )
    out = _Output(sys.stdout)
    for name in response.enabled_events:
        out.line(quote_if_unprintable(name))
    if filters is not None:
        out.line(f"kernel filters: {_kernel_filters_text(response.kernel_filters)}")
    if args.snaplen is not None:
        out.line(f"payload snaplen: {response.snaplen} bytes")
    out.flush()
    if not response.enabled_events:
        _notice("no events are enabled now")
    return EXIT_OK


# --- command line ---------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors look like the Go command's."""

    #: The subcommands' parsers by name (set on the top-level parser).
    commands: dict[str, _Parser]

    def error(self, message: str) -> NoReturn:
        self.exit(
            EXIT_USAGE, f"{PROG}: {_go_usage(message)}\nRun '{self.prog} --help' for usage.\n"
        )


_ARGUMENT_ERROR = re.compile(r"argument (?:-\w/)?(--[\w-]+): (.*)", re.DOTALL)


def _go_usage(message: str) -> str:
    """An argparse usage error in the words pflag uses (the Go command's)."""
    argument = _ARGUMENT_ERROR.fullmatch(message)
    if argument is not None:
        flag, reason = argument.groups()
        if reason == "expected one argument":
            return f"flag needs an argument: {flag}"
        return f"{flag}: {reason}"
    unknown = message.removeprefix("unrecognized arguments: ").split()
    if message.startswith("unrecognized arguments: ") and unknown[0].startswith("-"):
        return f"unknown flag: {unknown[0].partition('=')[0]}"
    return message


def _choice(what: str, choices: Collection[str], hint: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f'invalid {what} "{text}": use {hint}')
        return text

    return parse


def _non_empty(what: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not text:
            raise argparse.ArgumentTypeError(f"the {what} must not be empty")
        return text

    return parse


def parse_pid(text: str) -> int:
    value = int(text) if re.fullmatch(r"[0-9]+", text) else 0
    if not 0 < value <= _MAX_PID:
        raise argparse.ArgumentTypeError(f'"{text}" is not a process id (a positive integer)')
    return value


def _bytes_count(text: str) -> int:
    value = parse_count(text)
    if value >= 1 << 32:
        raise argparse.ArgumentTypeError(f"{value} is more than {(1 << 32) - 1}")
    return value


def parse_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'"{text}" is not a whole number') from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


# A duration as Go writes one (30s, 1m30s, 250ms): the two CLIs take the same.
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_seconds(text: str) -> float:
    """A duration (30s, 1m30s) or a number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
        parts = _DURATION_PART.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            value = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f'"{text}" is not a duration (30s, 1m30s) or a number of seconds, 0 or more'
        )
    return value


def _version() -> str:
    try:
        return metadata.version("kindling-client")
    except metadata.PackageNotFoundError:
        return "unknown"


def _add_socket(parser: argparse.ArgumentParser) -> None:
    current = default_socket().replace("%", "%%")  # help strings are %-formatted
    parser.add_argument(
        "--socket",
        type=_non_empty("socket path"),
        default=default_socket(),
        metavar="PATH",
        help=f"unix socket of the probe service (default: {current}, "
        f"from ${SOCKET_ENV}, else {DEFAULT_SOCKET})",
    )


def build_parser() -> _Parser:
    """The ``kindling`` argument parser; its ``commands`` maps names to subcommand parsers."""
    parser = _Parser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        description="Read kernel events from the kindling probe service, describe the service\n"
        "and configure what it captures.",
        epilog="example:\n  kindling events --name connect --pid 1234 --count 10",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    events = commands.add_parser(
        "events",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        help="print kernel events, one per line",
        description="Print kernel events from the kindling probe service, one per line.",
        usage="kindling events [flags]",
        epilog="Filters: an event is printed when it matches every filter flag given and one\n"
        "value of each; list flags take comma lists or repeat, --comm and --exe one RE2\n"
        "pattern each. An event matching any --exclude- flag is left out, and so is the\n"
        "command's own process, unless --include-self.\n\n"
        "Compact lines show each value once, errno names after failed calls' return\n"
        "values (ret=-2 ENOENT) and flags by name (flags=O_RDONLY|O_CLOEXEC). JSON lines\n"
        "are the event in protobuf JSON (proto field names, zero values written) after\n"
        '"time" (RFC 3339, nanoseconds) and "node".\n\n'
        "Loss notices go to stderr. SIGINT and SIGTERM stop the command cleanly with exit\n"
        "status 0. Exit status 1 means an error, that the service stopped, or that --timeout\n"
        "ended the run before --count events arrived; 2 means bad usage or a request the\n"
        "service rejected.\n\n"
        "examples:\n"
        "  kindling events --name connect,accept4 --pid 1234 -o json --count 10\n"
        "  kindling events --category net --remote-port 80,8000-8999 --errors-only\n"
        "  kindling events --process-tree 4242 --exclude-name read,write --min-latency 1ms",
    )
    _add_socket(events)
    events.add_argument(
        "--include-self",
        action="store_true",
        help="also print the events of this command's own process (left out by default)",
    )
    events.add_argument(
        "--follow",
        action="store_true",
        help="keep going when the service restarts or the connection breaks: reconnect, "
        "resume the stream where it was, and report on stderr what could not be recovered",
    )
    events.add_argument(
        "--payload",
        type=_choice("payload choice", PAYLOAD_MODES, "--payload sockets or --payload all"),
        default="none",
        metavar="WHICH",
        help="show the bytes I/O events moved: sockets (calls on sockets) or all (calls on "
        "any descriptor) (default: none)",
    )
    events.add_argument(
        "-o",
        "--output",
        type=_choice("output format", ("compact", "json", "table"), "-o compact, json or table"),
        default="compact",
        metavar="FORMAT",
        help="output format: compact (one human-readable line per event), json (one "
        "protobuf JSON object per line) or table (aligned columns under a header) "
        "(default: compact)",
    )
    events.add_argument(
        "--color",
        type=_choice("color choice", ("auto", "always", "never"), "--color auto, always or never"),
        default="auto",
        metavar="WHEN",
        help="colour compact lines: auto (on a terminal, unless $NO_COLOR is set), always or "
        "never (default: auto)",
    )
    events.add_argument(
        "--count",
        type=parse_count,
        default=0,
        metavar="N",
        help="exit after printing N events (default: 0, no limit)",
    )
    events.add_argument(
        "--timeout",
        type=parse_seconds,
        default=0.0,
        metavar="DURATION",
        help="stop after this long: 30s, 1m30s, or a number of seconds (default: 0, never)",
    )
    add_filter_flags(events, parse_seconds)

    info = commands.add_parser(
        "info",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        help="describe the service and its event catalogue",
        description="Describe the kindling probe service: its versions, driver, kernel features\n"
        "and the catalogue of events it can capture.",
        epilog="example:\n  kindling info -o json",
    )
    _add_socket(info)
    info.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        metavar="FORMAT",
        help="output format: text, or json (the GetInfoResponse as one protobuf JSON "
        "object) (default: text)",
    )

    configure = commands.add_parser(
        "configure",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        help="enable or disable events; set the kernel filters",
        description="Change which events the kindling probe service captures, for all\n"
        "subscribers, and print the events enabled afterwards, one per line.\n\n"
        "Any of --deny-pid, --deny-comm, --drop-failed-io and --no-kernel-filters\n"
        "replaces the filters the kernel applies for everyone with the ones given\n"
        "(and prints them): what they filter never leaves the kernel.",
        epilog="examples:\n  kindling configure --enable connect --disable read --disable write\n"
        "  kindling configure --deny-comm sshd --deny-comm cron --drop-failed-io",
    )
    _add_socket(configure)
    configure.add_argument(
        "--enable",
        action="append",
        type=_non_empty("event name"),
        metavar="NAME",
        help="start capturing this event; repeat for more events",
    )
    configure.add_argument(
        "--disable",
        action="append",
        type=_non_empty("event name"),
        metavar="NAME",
        help="stop capturing this event; repeat for more events",
    )
    configure.add_argument(
        "--deny-pid",
        action="append",
        type=parse_pid,
        metavar="PID",
        help="never capture this process's events; repeat for more processes",
    )
    configure.add_argument(
        "--deny-comm",
        action="append",
        type=_non_empty("thread name"),
        metavar="NAME",
        help="never capture events of threads with this name (at most 15 bytes); repeat "
        "for more names",
    )
    configure.add_argument(
        "--drop-failed-io",
        action="store_true",
        help="drop reads and writes that moved no data, in the kernel",
    )
    configure.add_argument(
        "--no-kernel-filters",
        action="store_true",
        help="clear the kernel filters (unless others are given with this)",
    )
    configure.add_argument(
        "--snaplen",
        type=_bytes_count,
        metavar="BYTES",
        help="the most payload bytes an event carries from now on (0: no payloads), up to "
        "the service's maximum (kindling info shows both)",
    )
    stats = commands.add_parser(
        "stats",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        help="show the service's live counters, refreshed every second",
        description="Show the kindling probe service's live counters: its streams and, per event\n"
        "the kernel counted, what it emitted (and how many a second), filtered and lost.\n"
        "A terminal is redrawn in place; a pipe gets one block per refresh. SIGINT stops\n"
        "it with exit status 0.",
        epilog="example:\n  kindling stats --interval 2s",
    )
    _add_socket(stats)
    stats.add_argument(
        "--interval",
        type=parse_seconds,
        default=1.0,
        metavar="DURATION",
        help="time between refreshes: 1s, 500ms, or a number of seconds (default: 1s)",
    )
    stats.add_argument(
        "--count",
        type=parse_count,
        default=0,
        metavar="N",
        help="exit after N refreshes (default: 0, no limit)",
    )
    parser.commands = {"events": events, "info": info, "configure": configure, "stats": stats}
    return parser


def _with_values_attached(parser: _Parser, argv: Sequence[str]) -> list[str]:
    """``argv`` with each value-taking flag's value attached (``--ret=-2,0``).

    pflag, which the Go command uses, takes the argument after such a flag
    as its value whatever it looks like; argparse refuses one that starts
    with "-" unless it is a plain negative number. Attaching makes
    ``--ret -2,0`` and ``--uid -1`` mean the same in both commands."""
    command = parser.commands.get(argv[0]) if argv else None
    if command is None:
        return list(argv)
    takes_value = {
        option
        for action in command._actions  # argparse offers no public list
        if action.option_strings and action.nargs is None
        for option in action.option_strings
    }
    result = [argv[0]]
    rest = iter(argv[1:])
    for arg in rest:
        if arg == "--":
            result += [arg, *rest]
            break
        if arg in takes_value and arg.startswith("--"):
            value = next(rest, None)
            result.append(arg if value is None else f"{arg}={value}")
        else:
            result.append(arg)
    return result


def _parse(parser: _Parser, argv: Sequence[str] | None) -> argparse.Namespace:
    argv = sys.argv[1:] if argv is None else argv
    args, extra = parser.parse_known_args(_with_values_attached(parser, argv))
    command = parser.commands[args.command]
    if extra:
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "configure" and not (
        args.enable or args.disable or _kernel_filters(args) is not None or args.snaplen is not None
    ):
        command.error("give at least one --enable, --disable, --snaplen or kernel filter option")
    if args.command == "events":
        try:
            args.filters = build_filters(args)
        except argparse.ArgumentTypeError as error:
            command.error(str(error))
    return args


_COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {
    "events": (_events, "subscribing to"),
    "info": (_info, "querying"),
    "configure": (_configure, "configuring"),
    "stats": (_stats, "querying"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kindling`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status; nothing is raised, not even SystemExit.
    """
    command = ""
    try:
        try:
            args = _parse(build_parser(), argv)
        except SystemExit as exit_:  # --help, --version and usage errors
            code = exit_.code
            return code if isinstance(code, int) else EXIT_OK if code is None else EXIT_ERROR
        command = args.command
        run, action = _COMMANDS[command]
        problem = unreachable(args.socket)
        if problem is not None:
            return _fail(problem)
        try:
            return run(args)
        except ServiceNotFound as error:
            return _service_not_found(error)
        except RequestFailed as error:
            return _request_failed(error, action)
        except _OutputError as error:
            return _fail(f"writing output: {error}")
    except BrokenPipeError:
        # The reader went away (as with "| head"): stop quietly, like the Go
        # command, which the SIGPIPE it gets ends silently.
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        # A SIGINT before or after `events` streams, or during another command.
        return EXIT_OK if command in ("events", "stats") else 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
