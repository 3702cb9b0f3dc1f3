"""The one subscription the collector makes: only the events it reads, with
socket payloads, and only the fields it reads."""

from __future__ import annotations

from kindling.client import event_filter, exclude_fields, subscribe_request
from kindling.collector.events import CONNECTION_EVENTS, READ_FAMILY, TCP_EVENTS, WRITE_FAMILY
from kindling.probe.v1 import probe_pb2

__all__ = ["SOCKET_EVENTS", "subscription_request"]

#: The syscalls followed on IPv4 and IPv6 sockets.
SOCKET_EVENTS = sorted(CONNECTION_EVENTS | READ_FAMILY | WRITE_FAMILY)
# Fields no part of the collector reads: the service need not send them.
_UNREAD_FIELDS = [
    "source",
    "category",
    "cpu",
    "thread.tid",
    "thread.ppid",
    "thread.uid",
    "thread.gid",
    "thread.exe",
    "thread.cgroup_id",
    "fd.path",
    "fd.unix_path",
]


def subscription_request(own_pid: int) -> probe_pb2.SubscribeRequest:
    """What the collector asks for; its own process (``own_pid``) is left out.

    Two filters: the socket syscalls on IP sockets only (unix sockets, the
    service's own included, stay out), and the TCP tracepoints and process
    exits, which need no descriptor filter: a tracepoint's descriptor is
    only known when the probe saw its socket connect or accept, and a
    filter on it would drop the rest.
    """
    return subscribe_request(
        allow=[
            event_filter(names=SOCKET_EVENTS, fd_types=["ipv4_socket", "ipv6_socket"]),
            event_filter(names=[*sorted(TCP_EVENTS), "process_exit"]),
        ],
        deny=[event_filter(pids=[own_pid])],
        payload="sockets",
        fields=[exclude_fields(_UNREAD_FIELDS)],
    )
