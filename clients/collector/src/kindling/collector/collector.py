"""The collector's loop: the stream's events and notices, each to where it counts."""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Iterable

from kindling.client import (
    LostEvents,
    StreamRestarted,
    StreamResumed,
    in_stream_order,
)
from kindling.collector.connections import ConnectionTable
from kindling.collector.events import READ_FAMILY, TCP_EVENTS, WRITE_FAMILY
from kindling.collector.metrics import Metrics
from kindling.collector.tcp import TcpHealth
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2

__all__ = ["Collector"]

log = logging.getLogger("kindling.collector")

StreamItem = probe_pb2.SubscribeResponse | StreamResumed | StreamRestarted


class Collector:
    """Turns a stream (the responses of a reconnecting subscription) into metrics."""

    def __init__(
        self, metrics: Metrics, *, max_connections: int = 65536, idle_s: float = 300.0
    ) -> None:
        self.metrics = metrics
        self.connections = ConnectionTable(metrics, max_connections=max_connections, idle_s=idle_s)
        self.tcp = TcpHealth(metrics)
        #: Set once the service answered the subscription.
        self.subscribed = threading.Event()

    def consume(self, stream: Iterable[StreamItem]) -> None:
        """Read ``stream`` until it ends."""
        for item in stream:
            if isinstance(item, probe_pb2.SubscribeResponse):
                self.subscribed.set()
                if item.events:
                    self.metrics.received(len(item.events))
                for part in in_stream_order(item):
                    if isinstance(part, LostEvents):
                        self.lost(part)
                    else:
                        self.handle(part)
            elif isinstance(item, StreamResumed):
                log.warning(
                    "the stream broke (%s) and was resumed after event %d",
                    item.cause,
                    item.last_seq,
                )
                self.metrics.stream_broke("resumed")
            else:
                log.warning(
                    "the stream broke and could not be resumed (%s); a new one started",
                    item.cause,
                )
                self.metrics.stream_broke("restarted")
                self.connections.forget_pending()

    def lost(self, loss: LostEvents) -> None:
        self.metrics.lost(loss.reason.name.lower(), loss.count)
        self.connections.forget_pending()

    def handle(self, event: event_pb2.Event) -> None:
        name = event.name
        if name in READ_FAMILY:
            self.connections.io(event, inbound=True)
        elif name in WRITE_FAMILY:
            self.connections.io(event, inbound=False)
        elif name in ("accept", "accept4"):
            if event.return_value >= 0:
                self.connections.opened(event)
        elif name == "connect":
            self.tcp.connect(event)
            if event.return_value in (0, -errno.EINPROGRESS):
                self.connections.opened(event)
        elif name == "close":
            if event.return_value == 0:
                self.connections.closed(event)
        elif name in TCP_EVENTS:
            self.tcp.tracepoint(event)
        elif name == "process_exit":
            self.connections.process_exited(event.thread.pid)
