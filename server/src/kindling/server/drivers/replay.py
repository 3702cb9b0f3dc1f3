"""The replay driver: serves a recording made by `kindling-probe record`
through the service's API, so that collectors can be developed and tested on
machines without eBPF (`kindling-probe serve --replay FILE`).

A recording holds events already built, so this driver hands the pipeline
EventBatches (one per recorded response) that go straight to the
subscribers' filters. It stands in for the kernel too: what the kernel
would have filtered (events nobody asked for, pid and cgroup scopes, the
deny sets, failed I/O, payloads nobody wants, the snaplen) it filters
before publishing, and it counts what it emitted and filtered per event as
the kernel's counters do.

Playing starts when the first subscriber arrives and runs once, at the
recorded pace times `speed`, or as fast as it can (`speed` None). Events
keep their recorded timestamps; the service reports the recording's node
and boot time, so wall-clock times are the recorded ones. Losses in the
recording are reported again: the kernel's and the service's with their
reasons, and events the recorded stream itself lost as NOT_RECORDED.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from kindling.client.recording import RecordingError, read_recording
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2, recording_pb2
from kindling.server.catalog import Catalog
from kindling.server.drivers.base import (
    NOTHING,
    BatchSink,
    DriverStats,
    EventCounters,
    FailureSink,
    KernelFeature,
    KernelFilter,
)
from kindling.server.errors import StartupError
from kindling.server.pipeline.encode import wire
from kindling.server.pipeline.encode.batch import COMM_DTYPE, EventBatch, EventColumns
from kindling.server.pipeline.enrich.context import address_bytes
from kindling.server.pipeline.fanout.filters.selection import UNKNOWN_EVENT

log = logging.getLogger(__name__)

# Events whose name the service's catalogue does not know (a recording made
# by another version) carry this id: only subscribers that ask for no
# particular event receive them.
# The kernel compares at most this many bytes of a thread's name.
_COMM_BYTES = 15
_SOCKETS = frozenset(
    {
        event_pb2.FD_TYPE_IPV4_SOCKET,
        event_pb2.FD_TYPE_IPV6_SOCKET,
        event_pb2.FD_TYPE_UNIX_SOCKET,
    }
)
_EVENT = wire.FieldNumbers(event_pb2.Event)
# The longest pause between two recorded responses at speed 1: a recording
# with a long quiet stretch should not look like a hung service.
MAX_PAUSE_SECONDS = 5.0


@dataclass
class _Response:
    """One recorded response, split into the columns the filters need."""

    timestamp_ns: int  # of its first event; 0 when it has none
    heads: list[bytes]  # each event's bytes without seq and payload fields
    payloads: list[bytes]
    payload_lengths: list[int]
    columns: EventColumns  # as recorded (has_payload: before any cut)
    on_socket: npt.NDArray[np.bool_]
    kernel_lost: int
    failed: int
    not_recorded: int


Endpoint = tuple[str, int]


def _ends(event: event_pb2.Event) -> tuple[Endpoint | None, Endpoint | None]:
    """The local and remote ends filters see, as the live service finds them:
    the connection's (by the socket's role), else the event's own attributes
    (TCP events' local and remote ends, a datagram's peer)."""
    fd = event.fd
    source = (fd.source.address, fd.source.port) if fd.HasField("source") else None
    destination = (
        (fd.destination.address, fd.destination.port) if fd.HasField("destination") else None
    )
    if source or destination:
        if fd.role == event_pb2.SOCKET_ROLE_SERVER:
            return destination, source
        return source, destination
    values = {a.key: a for a in event.attributes}

    def end(address: str, port: str) -> Endpoint | None:
        if address not in values:
            return None
        return values[address].string_value, values[port].uint32_value if port in values else 0

    if "peer_address" in values:
        return None, end("peer_address", "peer_port")
    return end("local_address", "local_port"), end("remote_address", "remote_port")


def _split(response: probe_pb2.SubscribeResponse, ids: dict[str, int]) -> _Response:
    events = response.events
    columns = EventColumns.of(
        len(events),
        event_ids=[ids.get(e.name, UNKNOWN_EVENT) for e in events],
        pids=[e.thread.pid for e in events],
        tids=[e.thread.tid for e in events],
        uids=[e.thread.uid for e in events],
        gids=[e.thread.gid for e in events],
        cgroup_ids=[e.thread.cgroup_id for e in events],
        comms=[e.thread.comm.encode()[:_COMM_BYTES] for e in events],
        categories=[e.category for e in events],
        return_values=[e.return_value for e in events],
        latencies=[e.latency_ns for e in events],
        has_payload=[bool(e.payload) for e in events],
        ppids=[e.thread.ppid for e in events],
        exes=[e.thread.exe for e in events],
        container_ids=[e.thread.container_id for e in events],
        fd_types=[e.fd.type for e in events],
        protocols=[e.fd.protocol for e in events],
    )
    # A recording names each event's parent, not its grandparents: process
    # tree filters follow one generation in a replay.
    columns.ancestors[:, 0] = columns.ppids
    for i, event in enumerate(events):
        local, remote = _ends(event)
        if local is not None:
            columns.local_addresses[i] = np.frombuffer(address_bytes(local[0]), np.uint8)
            columns.local_ports[i] = local[1]
        if remote is not None:
            columns.remote_addresses[i] = np.frombuffer(address_bytes(remote[0]), np.uint8)
            columns.remote_ports[i] = remote[1]
    heads, payloads, lengths = [], [], []
    for event in events:
        payloads.append(event.payload)
        lengths.append(event.payload_length)
        event.ClearField("seq")
        event.ClearField("payload")
        event.ClearField("payload_length")
        heads.append(event.SerializeToString())
    kernel_lost = failed = not_recorded = 0
    for loss in response.losses:
        if loss.reason == probe_pb2.LOSS_REASON_KERNEL_BUFFER_FULL:
            kernel_lost += loss.count
        elif loss.reason == probe_pb2.LOSS_REASON_SERVICE_ERROR:
            failed += loss.count
        else:  # the recording stream's own queue, or a reason from the future
            not_recorded += loss.count
    return _Response(
        timestamp_ns=events[0].timestamp_ns if events else 0,
        heads=heads,
        payloads=payloads,
        payload_lengths=lengths,
        columns=columns,
        on_socket=np.array([e.fd.type in _SOCKETS for e in events], dtype=bool),
        kernel_lost=kernel_lost,
        failed=failed,
        not_recorded=not_recorded,
    )


def _isin(values: npt.NDArray[np.integer], members: frozenset[int]) -> npt.NDArray[np.bool_]:
    return np.isin(values, np.fromiter(members, dtype=np.int64, count=len(members)))


def select(response: _Response, kernel: KernelFilter) -> npt.NDArray[np.bool_]:
    """Which of the response's events the kernel would have sent."""
    columns = response.columns
    ids = columns.event_ids
    delivered = _isin(ids, kernel.delivered)
    if kernel.delivered:
        delivered |= ids == UNKNOWN_EVENT
    keep = delivered
    if kernel.pid_scoped:
        keep &= ~_isin(ids, kernel.pid_scoped) | _isin(columns.pids, kernel.allow_pids)
    if kernel.cgroup_scoped:
        keep &= ~_isin(ids, kernel.cgroup_scoped) | _isin(columns.cgroup_ids, kernel.allow_cgroups)
    if kernel.deny_pids:
        keep &= ~_isin(columns.pids, kernel.deny_pids)
    if kernel.deny_comms:
        keep &= ~np.isin(columns.comms, np.array(sorted(kernel.deny_comms), dtype=COMM_DTYPE))
    if kernel.drop_failed:
        keep &= ~(_isin(ids, kernel.drop_failed) & (columns.return_values <= 0))
    return keep


def _payload_fields(payload: bytes, length: int) -> bytes:
    return wire.str_field(_EVENT.payload, payload) + wire.uint_field(_EVENT.payload_length, length)


def build_batch(response: _Response, kernel: KernelFilter) -> EventBatch:
    """The EventBatch of what `kernel` lets through, with payloads cut to
    the snaplen and kept only for events (and descriptors) that want them."""
    chosen = np.flatnonzero(select(response, kernel)).tolist()
    events, payload_sizes = [], []
    for i in chosen:
        event_id = int(response.columns.event_ids[i])
        payload = response.payloads[i]
        wanted = event_id in kernel.payload_any_fd or (
            event_id in kernel.payload and bool(response.on_socket[i])
        )
        tail = b""
        if payload and wanted and kernel.snaplen:
            tail = _payload_fields(payload[: kernel.snaplen], response.payload_lengths[i])
        events.append(response.heads[i] + tail)
        payload_sizes.append(len(tail))
    index = np.array(chosen, dtype=np.int64)
    columns = response.columns.take(index)
    columns.has_payload = np.array(payload_sizes, dtype=np.int64) > 0
    batch = EventBatch.from_events(events, columns, kernel_lost=response.kernel_lost)
    batch.failed = response.failed
    batch.not_recorded = response.not_recorded
    if any(payload_sizes):
        batch.payload_sizes = np.array(payload_sizes, dtype=np.int64)
        batch.payload_on_socket = response.on_socket[index]
    return batch


Recording = tuple[BinaryIO, recording_pb2.RecordingHeader, Iterator[probe_pb2.SubscribeResponse]]


def open_recording(path: Path) -> Recording:
    """The open file, its header and its responses (read lazily);
    StartupError with a sentence when it is not a recording."""
    try:
        file = path.open("rb")
    except OSError as error:
        raise StartupError(f"cannot open the recording {path}: {error.strerror}") from None
    try:
        header, responses = read_recording(file)
    except RecordingError as error:
        file.close()
        raise StartupError(f"{path} cannot be replayed: {error}") from None
    return file, header, responses


class ReplayDriver:
    name = "replay"
    transport = "recording"

    def __init__(self, catalog: Catalog, path: Path, *, speed: float | None = None) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be greater than zero")
        self._catalog = catalog
        self._path = path
        self._speed = speed
        self._ids = {spec.name: spec.id for spec in catalog.specs}
        self._header: recording_pb2.RecordingHeader | None = None
        self._recorded: Iterator[probe_pb2.SubscribeResponse] = iter(())
        self._filter = NOTHING
        self._changed = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._stats = DriverStats()
        self._counts: dict[int, list[int]] = {}  # id -> [emitted, filtered]
        self._state = "waiting for a subscriber"
        self._failure = ""

    @property
    def header(self) -> recording_pb2.RecordingHeader:
        if self._header is None:
            self._open().close()
        assert self._header is not None
        return self._header

    def _open(self) -> BinaryIO:
        file, self._header, self._recorded = open_recording(self._path)
        return file

    # -- Driver protocol ---------------------------------------------------

    def features(self) -> list[KernelFeature]:
        header = self.header
        recorded = header.recorded_at.ToDatetime().isoformat(timespec="seconds")
        state = self._state
        return [
            KernelFeature(
                "recording",
                True,
                f"{self._path} ({state}): recorded on {header.node_name or 'an unnamed node'} "
                f"at {recorded}Z, kernel {header.kernel_release or 'unknown'}, "
                f"kindling-probe {header.service_version or 'unknown'}",
            )
        ]

    def boot_time_ns(self) -> int:
        return self.header.boot_time.ToNanoseconds()

    def kernel_release(self) -> str:
        return self.header.kernel_release

    def preflight(self) -> None:
        self._open().close()

    def unavailable_events(self) -> frozenset[int]:
        """Events the recording's service could not produce: it cannot have
        recorded them."""
        recorded = self.header.events
        if not recorded:
            return frozenset()
        could = {e.name for e in recorded if e.available}
        return frozenset(s.id for s in self._catalog.specs if s.name not in could)

    @property
    def failure(self) -> str:
        return self._failure

    def start(self, sink: BatchSink, on_failure: FailureSink | None = None) -> None:
        file = self._open()
        self._thread = threading.Thread(
            target=self._play, args=(file, sink, on_failure), name="kindling-replay", daemon=True
        )
        self._thread.start()

    def apply(self, kernel_filter: KernelFilter) -> None:
        with self._changed:
            self._filter = kernel_filter
            self._changed.notify_all()

    def attached(self) -> list[str]:
        return []

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def stats(self) -> DriverStats:
        with self._changed:
            stats = DriverStats(
                records=self._stats.records,
                kernel_lost=self._stats.kernel_lost,
                batches=self._stats.batches,
            )
            stats.events = {
                i: EventCounters(emitted=e, filtered=f) for i, (e, f) in self._counts.items()
            }
        return stats

    # -- playing -----------------------------------------------------------

    def _wait(self, seconds: float | None = None) -> bool:
        """Wait until somebody subscribes (and `seconds` have passed, when
        given); False when the service is stopping."""
        deadline = None if seconds is None else time.monotonic() + seconds
        with self._changed:
            while not self._stopping:
                left = None if deadline is None else deadline - time.monotonic()
                if self._filter.delivered and (left is None or left <= 0):
                    return True
                self._changed.wait(left)
            return False

    def _responses(self) -> Iterator[_Response]:
        for response in self._recorded:
            yield _split(response, self._ids)

    def _play(self, file: BinaryIO, sink: BatchSink, on_failure: FailureSink | None) -> None:
        with file:
            if not self._wait():
                return
            self._state = "playing"
            log.info("replaying %s", self._path)
            began = started = time.monotonic()
            first_ns = 0
            served = 0
            try:
                for response in self._responses():
                    pause = 0.0
                    if response.timestamp_ns and self._speed is not None:
                        first_ns = first_ns or response.timestamp_ns
                        due = started + (response.timestamp_ns - first_ns) / 1e9 / self._speed
                        pause = due - time.monotonic()
                        if pause > MAX_PAUSE_SECONDS:
                            started -= pause - MAX_PAUSE_SECONDS
                            pause = MAX_PAUSE_SECONDS
                    # Also pauses while nobody is subscribed.
                    if not self._wait(max(pause, 0.0)):
                        return
                    served += self._publish(response, sink)
            except RecordingError as error:
                self._failure = f"the recording {self._path} ends early: {error}"
                log.error("%s", self._failure)
                if on_failure is not None:
                    on_failure(self._failure)
            self._state = "finished"
            log.info(
                "replay of %s finished: %d events served in %.1fs",
                self._path,
                served,
                time.monotonic() - began,
            )

    def _publish(self, response: _Response, sink: BatchSink) -> int:
        with self._changed:
            kernel = self._filter
        batch = build_batch(response, kernel)
        with self._changed:
            self._stats.records += len(batch)
            self._stats.batches += 1
            self._stats.kernel_lost += response.kernel_lost
            kept = np.bincount(batch.event_ids, minlength=1)
            seen = np.bincount(response.columns.event_ids, minlength=1)
            for event_id in np.flatnonzero(seen).tolist():
                counts = self._counts.setdefault(event_id, [0, 0])
                emitted = int(kept[event_id]) if event_id < len(kept) else 0
                counts[0] += emitted
                counts[1] += int(seen[event_id]) - emitted
        if len(batch) or batch.kernel_lost or batch.failed or batch.not_recorded:
            sink(batch)
        return len(batch)
