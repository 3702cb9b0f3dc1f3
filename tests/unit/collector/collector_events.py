"""Events as the probe service sends them, for the collector's unit tests."""

from __future__ import annotations

from kindling.event.v1 import event_pb2

CLIENT = event_pb2.SOCKET_ROLE_CLIENT
SERVER = event_pb2.SOCKET_ROLE_SERVER
TCP = event_pb2.L4_PROTOCOL_TCP
UDP = event_pb2.L4_PROTOCOL_UDP


class Clock:
    """Timestamps that only move forward, in nanoseconds."""

    def __init__(self) -> None:
        self.now = 1_000_000_000

    def step(self, ns: int = 1000) -> int:
        self.now += ns
        return self.now


def socket_event(
    name: str,
    *,
    pid: int,
    fd: int,
    role: int,
    client: tuple[str, int] = ("127.0.0.1", 40000),
    server: tuple[str, int] = ("127.0.0.1", 8080),
    ts: int,
    latency: int = 0,
    rv: int = 0,
    payload: bytes = b"",
    length: int | None = None,
    protocol: int = TCP,
    comm: str = "app",
    container: str = "",
    attributes: dict[str, object] | None = None,
) -> event_pb2.Event:
    event = event_pb2.Event(
        name=name,
        timestamp_ns=ts,
        latency_ns=latency,
        return_value=rv,
        payload=payload,
        payload_length=len(payload) if length is None else length,
        thread=event_pb2.Thread(pid=pid, tid=pid, comm=comm, container_id=container),
        fd=event_pb2.Fd(
            num=fd,
            type=event_pb2.FD_TYPE_IPV4_SOCKET,
            protocol=protocol,
            role=role,
            source=event_pb2.Endpoint(address=client[0], port=client[1]),
            destination=event_pb2.Endpoint(address=server[0], port=server[1]),
        ),
    )
    for key, value in (attributes or {}).items():
        attribute = event.attributes.add(key=key)
        if isinstance(value, str):
            attribute.string_value = value
        else:
            assert isinstance(value, int)
            attribute.uint32_value = value
    return event


def io(
    name: str, payload: bytes, *, ts: int, latency: int = 500, **context: object
) -> event_pb2.Event:
    """A read- or write-family call that moved ``payload``."""
    return socket_event(
        name,
        payload=payload,
        rv=len(payload) if "length" not in context else int(str(context["length"])),
        ts=ts,
        latency=latency,
        **context,  # type: ignore[arg-type]
    )


def tracepoint(name: str, *, ts: int, **attributes: object) -> event_pb2.Event:
    """A TCP tracepoint event whose socket's owner the probe did not see."""
    event = event_pb2.Event(name=name, timestamp_ns=ts)
    for key, value in attributes.items():
        attribute = event.attributes.add(key=key)
        if isinstance(value, str):
            attribute.string_value = value
        elif key.endswith("_ns"):
            assert isinstance(value, int)
            attribute.uint64_value = value
        else:
            assert isinstance(value, int)
            attribute.uint32_value = value
    return event
