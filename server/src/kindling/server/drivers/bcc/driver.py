"""The BCC driver: the loader's programs, a transport that reads their
records, and the kernel filter that decides what they capture (written into
the programs' maps by kernel_maps.py).

The reader thread waits on the transport's buffers with epoll and drains
them all every `poll_interval_ms`, or sooner when the kernel wakes it (which
it does only every so many records, never per record). Each drain is decoded
with one numpy view per buffer and merged across CPUs and buffers in
timestamp order before it reaches the pipeline. With nothing captured, the
reader sleeps.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import threading
import time
from collections.abc import Callable

from kindling.server.catalog import Catalog
from kindling.server.drivers import host
from kindling.server.drivers.base import (
    NOTHING,
    BatchSink,
    DriverStats,
    EventCounters,
    FailureSink,
    KernelFeature,
    KernelFilter,
    RecordBatch,
)
from kindling.server.drivers.bcc import environment
from kindling.server.drivers.bcc.attachments import Attachments
from kindling.server.drivers.bcc.kernel_maps import KernelMaps
from kindling.server.drivers.bcc.loader import (
    BccLoader,
    LoaderOptions,
    Pairing,
    TransportKind,
)
from kindling.server.drivers.merge import TimestampMerger
from kindling.server.drivers.transports.base import (
    BUFFER_NAMES,
    Drain,
    Transport,
    TransportError,
)
from kindling.server.drivers.transports.perfbuf import PerfBufferTransport, online_cpus
from kindling.server.drivers.transports.ringbuf import RingBufferTransport
from kindling.server.errors import StartupError
from kindling.server.pipeline.clock import boot_time_ns
from kindling.server.record import data_record_size

log = logging.getLogger(__name__)

TRANSPORT_CHOICES = ("auto", *(kind.value for kind in TransportKind))
RawSink = Callable[[Drain, int], None]
# With nothing captured no record can arrive: check for stop this often.
IDLE_POLL_SECONDS = 1.0


class BccDriver:
    name = "bcc"

    def __init__(
        self,
        catalog: Catalog,
        *,
        transport: str = "auto",
        perf_buffer_pages: int = 256,
        ring_buffer_pages: int = 1024,
        poll_interval_ms: int = 10,
        merge_slack_ms: float = 2.0,
        exclude_pid: int | None = None,
        pairing: str = "auto",
        data_capacity: int = 512,
    ) -> None:
        for pages, option in ((perf_buffer_pages, "perf"), (ring_buffer_pages, "ring")):
            if pages < 1 or pages & (pages - 1):
                raise ValueError(f"{option} buffer pages must be a power of two")
        if transport not in TRANSPORT_CHOICES:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORT_CHOICES)}")
        self._catalog = catalog
        self._requested_transport = transport
        self._requested_pairing = pairing
        data_record_size(data_capacity)  # checks it
        self._data_capacity = data_capacity
        self._perf_pages = perf_buffer_pages
        self._ring_pages = ring_buffer_pages
        self._poll_seconds = poll_interval_ms / 1000
        self._merger = TimestampMerger(int(merge_slack_ms * 1_000_000))
        self._exclude_pid = os.getpid() if exclude_pid is None else exclude_pid
        self._loader: BccLoader | None = None
        self._attachments: Attachments | None = None
        self._reader: Transport | None = None
        self._sink: BatchSink | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._lock = threading.Lock()
        self._filter = NOTHING
        self._maps: KernelMaps | None = None
        self._stats = DriverStats()
        self._lost_seen = 0
        self._raw_sink: RawSink | None = None
        self._on_failure: FailureSink | None = None
        self._failure = ""

    # -- Driver protocol ---------------------------------------------------

    @property
    def transport(self) -> str:
        if self._reader is not None:
            return self._reader.name
        return self._requested_transport

    def features(self) -> list[KernelFeature]:
        return host.kernel_features(host.tracefs_root())

    def boot_time_ns(self) -> int:
        return boot_time_ns()

    def kernel_release(self) -> str:
        return os.uname().release

    def preflight(self) -> None:
        host.check_privileges()
        host.check_bpf_syscall()
        tracefs = host.ensure_tracefs()
        host.check_tracepoints(tracefs, self._catalog)
        environment.check_kernel_headers()
        environment.import_bcc()
        if self._requested_transport == TransportKind.RING_BUFFER.value:
            available, how = host.has_ring_buffer()
            if not available:
                raise StartupError(
                    f"this kernel has no BPF ring buffer ({how}); it needs Linux 5.8 or later, "
                    "or choose --transport perf_buffer (or auto)"
                )

    def unavailable_events(self) -> frozenset[int]:
        root = host.tracefs_root()
        if root is None:
            return frozenset(s.id for s in self._catalog.specs)
        return self._catalog.unavailable(host.available_hooks(root, self._catalog))

    def start_raw(self, sink: RawSink) -> None:
        """Start, handing `sink` each raw drain (in buffer order, not merged)
        and the records the kernel lost since the last one: for tools that
        only count, such as the benchmark's reference reader."""
        self._raw_sink = sink
        self.start(lambda batch: None)

    def reader_thread_id(self) -> int | None:
        """The reader thread's kernel thread id (for CPU accounting)."""
        return self._thread.native_id if self._thread is not None else None

    @property
    def failure(self) -> str:
        return self._failure

    def start(self, sink: BatchSink, on_failure: FailureSink | None = None) -> None:
        self.preflight()
        loader = BccLoader(
            self._catalog,
            LoaderOptions(
                transport=self._choose_transport(),
                pairing=self._choose_pairing(),
                ring_pages=self._ring_pages,
                exclude_pid=self._exclude_pid,
                data_capacity=self._data_capacity,
            ),
        )
        loader.load()
        try:
            self._reader = self._open_transport(loader)
        except OSError as error:
            loader.close()
            raise StartupError(f"cannot open the kernel buffers ({error})") from None
        self._loader = loader
        self._attachments = Attachments(loader)
        self._maps = KernelMaps(
            self._catalog,
            loader,
            self._attachments,
            exclude_pid=self._exclude_pid,
            unavailable=self.unavailable_events(),
        )
        self._sink = sink
        self._on_failure = on_failure
        with self._lock:
            self._maps.write(self._filter)
        self._thread = threading.Thread(target=self._read, name="kindling-reader", daemon=True)
        self._thread.start()

    def apply(self, kernel_filter: KernelFilter) -> None:
        with self._lock:
            self._filter = kernel_filter
            if self._maps is not None:
                self._maps.write(kernel_filter)
        os.eventfd_write(self._wake, 1)  # the reader's poll interval may change

    def attached(self) -> list[str]:
        with self._lock:
            return self._attachments.attached() if self._attachments is not None else []

    def stop(self) -> None:
        self._stopping.set()
        os.eventfd_write(self._wake, 1)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            self._maps = None
            if self._attachments is not None:
                self._attachments.close()
                self._attachments = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._loader is not None:
            self._loader.close()
            self._loader = None

    def stats(self) -> DriverStats:
        self._stats.late_records = self._merger.late
        self._stats.pending_records = self._merger.pending
        loader = self._loader
        if loader is not None and loader.counters is not None:
            totals = loader.counters.totals().tolist()
            self._stats.events = {
                spec.id: EventCounters(*totals[spec.id]) for spec in self._catalog.specs
            }
            self._stats.lost_by_cpu = loader.counters.lost_by_cpu()
        return self._stats

    # -- choices made at start --------------------------------------------------

    def _choose_transport(self) -> TransportKind:
        if self._requested_transport != "auto":
            return TransportKind(self._requested_transport)
        available, _ = host.has_ring_buffer()
        return TransportKind.RING_BUFFER if available else TransportKind.PERF_BUFFER

    def _choose_pairing(self) -> Pairing:
        if self._requested_pairing != "auto":
            return Pairing(self._requested_pairing)
        available, _ = host.has_task_storage()
        return Pairing.TASK_STORAGE if available else Pairing.HASH

    def _open_transport(self, loader: BccLoader) -> Transport:
        sizes = loader.options.record_sizes
        if loader.options.transport is TransportKind.RING_BUFFER:
            size = loader.ring_size()
            return RingBufferTransport(
                [(loader.map_fd(name), size) for name in BUFFER_NAMES], sizes
            )
        perf = PerfBufferTransport(online_cpus(), self._perf_pages, sizes)
        for buffers, name in zip(perf.by_class, BUFFER_NAMES, strict=True):
            table = loader.table(name)
            for buffer in buffers:
                table[ctypes.c_int(buffer.cpu)] = ctypes.c_int(buffer.fd)
        return perf

    # -- the reader thread ------------------------------------------------------------

    def _read(self) -> None:
        try:
            self._run()
        except Exception as error:
            # Capture is over: say so (health, GetInfo) rather than serve on
            # as if the kernel had gone quiet.
            log.exception("the reader thread failed; no more events will be captured")
            self._failure = f"the reader thread failed: {type(error).__name__}: {str(error)[:160]}"
            if self._on_failure is not None:
                self._on_failure(self._failure)

    def _run(self) -> None:
        assert self._reader is not None
        poller = select.epoll()
        # Edge-triggered: the buffers stay readable while records keep coming,
        # and level-triggered waits would then return at once, every time,
        # turning the timer into a busy loop. An edge is a kernel wake-up.
        for fd in self._reader.fds():
            poller.register(fd, select.EPOLLIN | select.EPOLLET)
        poller.register(self._wake, select.EPOLLIN)
        try:
            while not self._stopping.is_set():
                timeout = self._poll_seconds if self._filter.capture else IDLE_POLL_SECONDS
                for fd, _ in poller.poll(timeout):
                    if fd == self._wake:
                        os.eventfd_read(self._wake)
                self._drain(final=False)
            self._drain(final=True)
        finally:
            poller.close()

    def _drain(self, *, final: bool) -> None:
        assert self._reader is not None
        drain_start = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        try:
            drain = self._reader.drain()
        except TransportError as error:
            log.error("the kernel buffers hold records the reader cannot decode: %s", error)
            return
        drained = (time.clock_gettime_ns(time.CLOCK_BOOTTIME) - drain_start) / 1e9
        lost = self._kernel_lost()
        if self._raw_sink is not None:
            self._raw_sink(drain, lost)
            return
        records, tails = self._merger.push(drain.records, drain.tails, drain_start)
        self._deliver(RecordBatch(records, tails, kernel_lost=lost, drain_seconds=drained))
        if final:
            held, held_tails = self._merger.flush()
            self._deliver(RecordBatch(held, held_tails))

    def _kernel_lost(self) -> int:
        """Records the kernel counted lost since the last drain."""
        counters = self._loader.counters if self._loader is not None else None
        if counters is None:
            return 0
        total = int(counters.totals()[:, 2].sum())
        lost, self._lost_seen = total - self._lost_seen, total
        return lost

    def _deliver(self, batch: RecordBatch) -> None:
        if not len(batch) and not batch.kernel_lost:
            return
        self._stats.records += len(batch)
        self._stats.kernel_lost += batch.kernel_lost
        self._stats.batches += 1
        assert self._sink is not None
        try:
            self._sink(batch)
        except Exception:
            # A pipeline bug must not stop capture; it is logged with context.
            log.exception("the pipeline failed on a batch of %d records", len(batch))
