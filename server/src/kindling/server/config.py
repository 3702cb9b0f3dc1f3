"""Settings of `kindling-probe serve`, with their defaults and limits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kindling.server.pipeline.plan import DEFAULT_SNAPLEN
from kindling.server.record import DATA_MAX

DEFAULT_SOCKET = Path("/run/kindling.sock")
SOCKET_ENV = "KINDLING_SOCKET"
NODE_NAME_ENV = "KINDLING_NODE_NAME"


def default_socket() -> Path:
    return Path(os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET)


def default_node_name() -> str:
    return os.environ.get(NODE_NAME_ENV) or os.uname().nodename


@dataclass(frozen=True)
class ServeConfig:
    socket: Path = DEFAULT_SOCKET
    node_name: str = ""
    # How records leave the kernel: "auto" (the ring buffer where the kernel
    # has it), "ring_buffer" or "perf_buffer".
    transport: str = "auto"
    # Size of each of the three ring buffers in pages, shared by all CPUs (a
    # power of two).
    ring_buffer_pages: int = 1024
    # Per-CPU perf buffer size in pages (a power of two).
    perf_buffer_pages: int = 256
    # Longest time a record waits in the kernel before the reader drains it.
    poll_interval_ms: int = 10
    # What one stream queues at most, in events and MiB, before its overflow
    # policy drops events.
    subscriber_queue_events: int = 65536
    subscriber_queue_mb: int = 32
    # What all streams' queues and resume buffers hold together at most
    # (MiB): the part of the service's memory that grows with subscribers
    # and with how slowly they read.
    queue_memory_mb: int = 256
    # Sent responses a resumable stream keeps at most (MiB).
    resume_buffer_mb: int = 16
    # Streams at once at most (each costs a task and its queue).
    max_subscribers: int = 4096
    # The group whose members may connect to the socket (None: root's).
    socket_group: str | None = None
    # The group whose members may Configure besides root (None: root alone).
    admin_group: str | None = None
    # HOST:PORT for the Prometheus metrics; None: no listener.
    metrics_address: str | None = None
    # Where to send traces of the unary calls over OTLP/gRPC; None: nowhere.
    otlp_endpoint: str | None = None
    # Events per SubscribeResponse at most. Larger responses cost both ends
    # less per event (measured: 2048 against 512 saved a fifth of the
    # service's and a seventh of a Go subscriber's CPU at 300k events/s).
    max_batch_events: int = 2048
    # The most payload bytes an event carries; Configure may change it,
    # up to max_snaplen.
    snaplen: int = DEFAULT_SNAPLEN
    # The Configure-able configuration the service starts with (generation
    # 1): events not captured, the kernel's service-wide filters, and the
    # batching delay of streams that ask for none.
    disable_events: tuple[str, ...] = ()
    deny_pids: tuple[int, ...] = ()
    deny_comms: tuple[str, ...] = ()
    drop_failed_io: bool = False
    batch_delay_ms: int = 0
    # A recording to serve instead of the kernel's events, at this factor of
    # the recorded pace (None: as fast as possible).
    replay: Path | None = None
    replay_speed: float | None = 1.0

    @property
    def max_snaplen(self) -> int:
        """The payload room of the kernel's data records: the snaplen asked
        for, and no less than the default (exec arguments use it too)."""
        return max(DEFAULT_SNAPLEN, (self.snaplen + 7) // 8 * 8)


SNAPLEN_LIMIT = DATA_MAX
