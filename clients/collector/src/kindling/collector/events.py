"""What the collector reads from a kindling event: the I/O families, the
process, the connection's ends and typed attributes."""

from __future__ import annotations

from dataclasses import dataclass

from kindling.event.v1 import event_pb2

__all__ = [
    "CONNECTION_EVENTS",
    "READ_FAMILY",
    "TCP_EVENTS",
    "WRITE_FAMILY",
    "Endpoint",
    "Process",
    "attributes",
    "ends",
    "process_of",
]

READ_FAMILY = frozenset({"read", "readv", "recvfrom", "recvmsg", "recvmmsg"})
WRITE_FAMILY = frozenset({"write", "writev", "sendto", "sendmsg", "sendmmsg"})
CONNECTION_EVENTS = frozenset({"accept", "accept4", "connect", "close"})
TCP_EVENTS = frozenset(
    {
        "tcp_state_change",
        "tcp_retransmit",
        "tcp_send_reset",
        "tcp_receive_reset",
        "tcp_probe",
        "skb_drop",
    }
)


@dataclass(frozen=True)
class Endpoint:
    address: str
    port: int

    @classmethod
    def of(cls, endpoint: event_pb2.Endpoint) -> Endpoint:
        return cls(endpoint.address, endpoint.port)

    def __bool__(self) -> bool:
        return bool(self.address or self.port)


@dataclass(frozen=True)
class Process:
    pid: int
    comm: str
    container_id: str


def process_of(event: event_pb2.Event) -> Process:
    thread = event.thread
    return Process(thread.pid, thread.comm, thread.container_id)


def ends(event: event_pb2.Event) -> tuple[Endpoint, Endpoint]:
    """(local, remote) of the event's socket, by its role: the source is the
    client end, so it is local for a connecting process and remote for an
    accepting one."""
    fd = event.fd
    source, destination = Endpoint.of(fd.source), Endpoint.of(fd.destination)
    if fd.role == event_pb2.SOCKET_ROLE_SERVER:
        return destination, source
    return source, destination


def attributes(event: event_pb2.Event) -> dict[str, object]:
    """The event's attributes by key, as Python values."""
    values: dict[str, object] = {}
    for attribute in event.attributes:
        kind = attribute.WhichOneof("value")
        if kind is not None:
            values[attribute.key] = getattr(attribute, kind)
    return values
