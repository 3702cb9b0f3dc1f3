"""The connections the collector follows, and where each socket payload goes.

A connection is keyed by the process and descriptor number (``thread.pid``,
``fd.num``) and holds its two ends (``fd.source``, ``fd.destination``); a
close, the process's exit, or an accept or connect that returns the same
number with other ends ends it. ``fd.role`` says which side this process
is: a client's requests are what it writes, a server's what it reads. The
connection's protocol is detected from its first request and paired by
:mod:`kindling.collector.pairing`; UDP sockets are only looked at for DNS.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from kindling.collector.events import Endpoint, Process, attributes, ends, process_of
from kindling.collector.pairing import (
    DnsPairing,
    Exchange,
    GenericPairing,
    Outcome,
    Pairing,
    pairing_for,
)
from kindling.collector.protocols.detect import GENERIC, detect_request
from kindling.event.v1 import event_pb2

__all__ = ["ConnectionInfo", "ConnectionTable", "ExchangeSink", "Side"]

_TCP = event_pb2.L4_PROTOCOL_TCP
_UDP = event_pb2.L4_PROTOCOL_UDP
_CLIENT = event_pb2.SOCKET_ROLE_CLIENT
_SERVER = event_pb2.SOCKET_ROLE_SERVER


class Side(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True)
class ConnectionInfo:
    """Who made an exchange, and between which ends."""

    process: Process
    side: Side
    local: Endpoint
    remote: Endpoint

    @property
    def server(self) -> Endpoint:
        return self.local if self.side is Side.SERVER else self.remote


class ExchangeSink(Protocol):
    """Where the table reports what it pairs (the metrics)."""

    def exchange(self, exchange: Exchange, info: ConnectionInfo) -> None: ...

    def unmatched(self, protocol: str, count: int) -> None: ...

    def malformed(self, protocol: str) -> None: ...


class _Connection:
    __slots__ = ("last_ns", "local", "pairing", "process", "remote", "side", "udp")

    def __init__(
        self, process: Process, local: Endpoint, remote: Endpoint, side: Side | None, udp: bool
    ) -> None:
        self.process = process
        self.local = local
        self.remote = remote
        self.side = side
        self.udp = udp
        self.pairing: Pairing | None = DnsPairing(tcp=False) if udp else None
        self.last_ns = 0


_Key = tuple[int, int]


class ConnectionTable:
    """Every followed connection of the node, at most ``max_connections``
    (the least recently used goes first); a connection idle for ``idle_s``
    seconds of event time is forgotten, so that one whose close was never
    seen does not stay."""

    def __init__(
        self, sink: ExchangeSink, *, max_connections: int = 65536, idle_s: float = 300.0
    ) -> None:
        self._sink = sink
        self._max = max_connections
        self._idle_ns = int(idle_s * 1e9)
        self._connections: OrderedDict[_Key, _Connection] = OrderedDict()
        self._by_pid: dict[int, set[int]] = {}
        self._next_sweep_ns = 0

    def __len__(self) -> int:
        return len(self._connections)

    # Life cycle.

    def opened(self, event: event_pb2.Event) -> None:
        """An accept or connect made (or remade) the descriptor a connection."""
        key = (event.thread.pid, event.fd.num)
        self._end(key)
        if event.fd.protocol in (_TCP, _UDP):
            self._create(key, event)

    def closed(self, event: event_pb2.Event) -> None:
        self._end((event.thread.pid, event.fd.num))

    def process_exited(self, pid: int) -> None:
        for fd in list(self._by_pid.get(pid, ())):
            self._end((pid, fd))

    def forget_pending(self) -> None:
        """The stream lost events: what is waiting may never be answered, or
        be answered by the wrong response, so it is given up."""
        for connection in self._connections.values():
            if connection.pairing is not None:
                self._report_unmatched(connection.pairing, connection.pairing.clear())

    # Payloads.

    def io(self, event: event_pb2.Event, inbound: bool) -> None:
        """A read-family (``inbound``) or write-family call that moved bytes."""
        if event.return_value <= 0 or not event.payload:
            return
        fd = event.fd
        if fd.protocol not in (_TCP, _UDP):
            return
        key = (event.thread.pid, fd.num)
        connection = self._connections.get(key)
        local, remote = ends(event)
        if connection is None or (
            not connection.udp and (connection.local, connection.remote) != (local, remote)
        ):
            self._end(key)
            connection = self._create(key, event)
        else:
            self._connections.move_to_end(key)
        connection.last_ns = event.timestamp_ns
        cut = event.payload_length > len(event.payload)
        if connection.udp:
            self._datagram(connection, event, inbound, cut)
        else:
            self._stream(connection, event, inbound, cut)
        if event.timestamp_ns >= self._next_sweep_ns:
            self._sweep(event.timestamp_ns)

    def _stream(
        self, connection: _Connection, event: event_pb2.Event, inbound: bool, cut: bool
    ) -> None:
        payload = event.payload
        side = connection.side
        if side is None:
            # The role is unknown (a socket older than the service): a request
            # of a known protocol tells it.
            protocol = detect_request(payload, cut)
            if protocol == GENERIC:
                return
            side = connection.side = Side.SERVER if inbound else Side.CLIENT
        is_request = inbound == (side is Side.SERVER)
        pairing = connection.pairing
        if is_request:
            if pairing is None or (isinstance(pairing, GenericPairing) and not pairing.pending()):
                server_port = (
                    connection.local.port if side is Side.SERVER else connection.remote.port
                )
                protocol = detect_request(payload, cut, server_port)
                if pairing is None or protocol != GENERIC:
                    pairing = connection.pairing = pairing_for(protocol)
            outcome = pairing.request(payload, cut, event.timestamp_ns - event.latency_ns)
        elif pairing is not None:
            outcome = pairing.response(payload, cut, event.timestamp_ns)
        else:
            return
        self._report(connection, pairing, outcome, connection.remote)
        if pairing.finished:
            self._report_unmatched(pairing, pairing.clear())
            connection.pairing = _Opaque()

    def _datagram(
        self, connection: _Connection, event: event_pb2.Event, inbound: bool, cut: bool
    ) -> None:
        pairing = connection.pairing
        assert pairing is not None
        # An unconnected socket's peer is the datagram's own.
        values = attributes(event)
        address, port = values.get("peer_address"), values.get("peer_port")
        remote = connection.remote
        if isinstance(address, str) and address and isinstance(port, int):
            remote = Endpoint(address, port)
        if inbound:
            outcome = pairing.response(event.payload, cut, event.timestamp_ns)
        else:
            outcome = pairing.request(event.payload, cut, event.timestamp_ns - event.latency_ns)
        self._report(connection, pairing, outcome, remote)

    def _report(
        self, connection: _Connection, pairing: Pairing, outcome: Outcome, remote: Endpoint
    ) -> None:
        if outcome.malformed:
            self._sink.malformed(pairing.protocol)
        self._report_unmatched(pairing, outcome.unmatched)
        if outcome.exchanges:
            info = ConnectionInfo(
                connection.process, connection.side or Side.CLIENT, connection.local, remote
            )
            for exchange in outcome.exchanges:
                self._sink.exchange(exchange, info)

    def _report_unmatched(self, pairing: Pairing, count: int) -> None:
        if count:
            self._sink.unmatched(pairing.protocol, count)

    # The table.

    def _create(self, key: _Key, event: event_pb2.Event) -> _Connection:
        role = event.fd.role
        side = Side.CLIENT if role == _CLIENT else Side.SERVER if role == _SERVER else None
        udp = event.fd.protocol == _UDP
        if udp:
            side = Side.CLIENT  # DNS over UDP is only followed from the asking side
        local, remote = ends(event)
        connection = _Connection(process_of(event), local, remote, side, udp)
        connection.last_ns = event.timestamp_ns
        self._connections[key] = connection
        self._by_pid.setdefault(key[0], set()).add(key[1])
        while len(self._connections) > self._max:
            self._end(next(iter(self._connections)))
        return connection

    def _end(self, key: _Key) -> None:
        connection = self._connections.pop(key, None)
        if connection is None:
            return
        fds = self._by_pid.get(key[0])
        if fds is not None:
            fds.discard(key[1])
            if not fds:
                del self._by_pid[key[0]]
        if connection.pairing is not None:
            self._report_unmatched(connection.pairing, connection.pairing.pending())

    def _sweep(self, now_ns: int) -> None:
        self._next_sweep_ns = now_ns + min(self._idle_ns, 60 * 10**9)
        while self._connections:
            key, connection = next(iter(self._connections.items()))
            if now_ns - connection.last_ns < self._idle_ns:
                break
            self._end(key)


class _Opaque(Pairing):
    """A connection that switched to a protocol the collector does not follow."""

    protocol = GENERIC

    def request(self, payload: bytes, cut: bool, start_ns: int) -> Outcome:
        return Outcome()

    def response(self, payload: bytes, cut: bool, end_ns: int) -> Outcome:
        return Outcome()

    def pending(self) -> int:
        return 0

    def clear(self) -> int:
        return 0
