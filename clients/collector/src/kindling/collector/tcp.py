"""TCP health: connection attempts and their latency, retransmits, resets,
drops and smoothed round-trip times, from the connect syscall and the
kernel's TCP tracepoints.

A blocking connect says how it went itself (its return value and latency).
A non-blocking one returns EINPROGRESS and completes in the kernel:
``tcp_state_change`` from SYN_SENT says whether it reached ESTABLISHED and
after how long (``connect_latency_ns``). Either event may come first (on
loopback the handshake ends before the syscall returns), so each waits a
while for the other, matched by the connection's two ends. A blocking
connect makes a state change too; its own event already counted it.
"""

from __future__ import annotations

import errno
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol, TypeVar

from kindling.collector.events import Endpoint, Process, attributes, ends, process_of
from kindling.event.v1 import event_pb2

__all__ = ["TcpHealth", "TcpSink"]

# Connects still in progress: the call goes on in the kernel.
_IN_PROGRESS = frozenset({errno.EINPROGRESS, errno.EINTR})
# Asking again about a connect in progress, or done: not an attempt.
_NOT_AN_ATTEMPT = frozenset({errno.EALREADY, errno.EISCONN})
#: error.type of a non-blocking connect that failed for a reason the kernel did not tell.
UNKNOWN_ERROR = "_OTHER"

_Ends = tuple[Endpoint, Endpoint]
_T = TypeVar("_T")


class TcpSink(Protocol):
    """Where TCP health goes (the metrics)."""

    def connect(
        self, process: Process, server: Endpoint, error: str | None, duration_s: float | None
    ) -> None: ...

    def retransmit(self, local: Endpoint, remote: Endpoint) -> None: ...

    def reset(self, local: Endpoint, remote: Endpoint, direction: str) -> None: ...

    def drop(self, local: Endpoint, remote: Endpoint, reason: str) -> None: ...

    def srtt(self, local: Endpoint, remote: Endpoint, seconds: float) -> None: ...


@dataclass(frozen=True)
class _Handshake:
    established: bool
    latency_ns: int
    refused: bool


def errno_name(value: int) -> str:
    """ "ECONNREFUSED" for 111; the number itself for one Python does not know."""
    return errno.errorcode.get(value, str(value))


class TcpHealth:
    """Turns connect and TCP tracepoint events into :class:`TcpSink` calls."""

    def __init__(self, sink: TcpSink, remembered: int = 4096) -> None:
        self._sink = sink
        self._remembered = remembered
        # Non-blocking connects waiting for their handshake's end, and the other way round.
        self._connecting: OrderedDict[_Ends, Process] = OrderedDict()
        self._handshakes: OrderedDict[_Ends, _Handshake] = OrderedDict()
        # Connections that just received a reset: refused, if they were in SYN_SENT.
        self._refused: OrderedDict[_Ends, None] = OrderedDict()

    def connect(self, event: event_pb2.Event) -> None:
        if event.fd.protocol != event_pb2.L4_PROTOCOL_TCP:
            return
        process = process_of(event)
        local, remote = ends(event)
        result = event.return_value
        if result == 0:
            self._handshakes.pop((local, remote), None)
            self._sink.connect(process, remote, None, event.latency_ns / 1e9)
        elif -result in _IN_PROGRESS:
            handshake = self._handshakes.pop((local, remote), None)
            if handshake is None:
                self._remember(self._connecting, (local, remote), process)
            else:
                self._finish(process, remote, handshake)
        elif result < 0 and -result not in _NOT_AN_ATTEMPT:
            self._sink.connect(process, remote, errno_name(-result), None)

    def tracepoint(self, event: event_pb2.Event) -> None:
        values = attributes(event)
        local = Endpoint(str(values.get("local_address", "")), _int(values.get("local_port")))
        remote = Endpoint(str(values.get("remote_address", "")), _int(values.get("remote_port")))
        name = event.name
        if name == "tcp_state_change":
            self._state_change(values, local, remote)
        elif name == "tcp_retransmit":
            self._sink.retransmit(local, remote)
        elif name == "tcp_send_reset":
            self._sink.reset(local, remote, "sent")
        elif name == "tcp_receive_reset":
            self._sink.reset(local, remote, "received")
            # It may be the answer to a SYN: the state change that follows tells.
            self._remember(self._refused, (local, remote), None)
        elif name == "tcp_probe":
            self._sink.srtt(local, remote, _int(values.get("srtt_us")) / 1e6)
        elif name == "skb_drop":
            self._sink.drop(local, remote, str(values.get("reason_name", "")) or "UNKNOWN")

    def _state_change(self, values: dict[str, object], local: Endpoint, remote: Endpoint) -> None:
        if values.get("old_state") != "SYN_SENT":
            return
        new_state = values.get("new_state")
        if new_state not in ("ESTABLISHED", "CLOSE"):
            return
        key = (local, remote)
        refused = key in self._refused
        self._refused.pop(key, None)
        handshake = _Handshake(
            new_state == "ESTABLISHED", _int(values.get("connect_latency_ns")), refused
        )
        process = self._connecting.pop(key, None)
        if process is None:
            self._remember(self._handshakes, key, handshake)
        else:
            self._finish(process, remote, handshake)

    def _finish(self, process: Process, remote: Endpoint, handshake: _Handshake) -> None:
        if handshake.established:
            self._sink.connect(process, remote, None, handshake.latency_ns / 1e9)
        else:
            error = errno_name(errno.ECONNREFUSED) if handshake.refused else UNKNOWN_ERROR
            self._sink.connect(process, remote, error, None)

    def _remember(self, table: OrderedDict[_Ends, _T], key: _Ends, value: _T) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self._remembered:
            table.popitem(last=False)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
