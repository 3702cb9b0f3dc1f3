"""The BCC driver: compiles the eBPF programs, attaches them to tracepoints and
reads their records from per-CPU perf buffers.

The reader never wakes once per event (BCC's default, which slows traced
programs about 20x): the kernel wakes it only after `wakeup_events` records
on a CPU, and otherwise it drains all buffers every `poll_interval_ms`. Each
drain is decoded with one numpy view and merged across CPUs in timestamp
order before it reaches the pipeline.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from typing import Any

from kindling.server.catalog import Catalog
from kindling.server.drivers.base import BatchSink, DriverStats, KernelFeature, RecordBatch
from kindling.server.drivers.bcc import environment, sources
from kindling.server.drivers.merge import TimestampMerger
from kindling.server.drivers.records import RECORD_BASE_SIZE, decode
from kindling.server.errors import StartupError

log = logging.getLogger(__name__)

# BCC wants bytes for names and program text.
PERF_MAP = b"kindling_events"
SELF_MAP = b"kindling_self"
ENABLED_MAP = b"kindling_enabled"


class _Collector:
    """Raw samples of one drain, filled by the perf buffer callbacks."""

    __slots__ = ("lost", "plain", "with_path")

    def __init__(self) -> None:
        self.plain: list[bytes] = []
        self.with_path: list[bytes] = []
        self.lost = 0

    def take(self) -> tuple[list[bytes], list[bytes], int]:
        taken = self.plain, self.with_path, self.lost
        self.plain, self.with_path, self.lost = [], [], 0
        return taken


class BccDriver:
    name = "bcc"
    transport = "perf_buffer"

    def __init__(
        self,
        catalog: Catalog,
        *,
        page_count: int = 256,
        poll_interval_ms: int = 10,
        merge_slack_ms: float = 2.0,
        exclude_pid: int | None = None,
    ) -> None:
        if page_count < 1 or page_count & (page_count - 1):
            raise ValueError("page_count must be a power of two")
        self._catalog = catalog
        self._page_count = page_count
        self._poll_interval_ms = poll_interval_ms
        self._merger = TimestampMerger(int(merge_slack_ms * 1_000_000))
        self._exclude_pid = os.getpid() if exclude_pid is None else exclude_pid
        self._collector = _Collector()
        self._bpf: Any = None
        self._sink: BatchSink | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._enabled: frozenset[int] = frozenset(s.id for s in catalog.specs)
        self._stats = DriverStats()

    # -- Driver protocol ---------------------------------------------------

    def features(self) -> list[KernelFeature]:
        return environment.kernel_features(environment.tracefs_root())

    def preflight(self) -> None:
        environment.check_privileges()
        environment.check_bpf_syscall()
        tracefs = environment.ensure_tracefs()
        environment.check_tracepoints(tracefs, self._catalog)
        environment.check_kernel_headers()
        environment.import_bcc()

    def unavailable_events(self) -> frozenset[int]:
        root = environment.tracefs_root()
        if root is None:
            return frozenset(s.id for s in self._catalog.specs)
        have = environment.available_syscalls(root, self._catalog)
        return frozenset(s.id for s in self._catalog.specs if s.syscall and s.syscall not in have)

    def start(self, sink: BatchSink) -> None:
        self.preflight()
        tracefs = environment.ensure_tracefs()
        bcc = environment.import_bcc()

        directory = sources.bpf_dir()
        syscalls = environment.available_syscalls(tracefs, self._catalog)
        cflags = [f"-I{directory}", *self._catalog.c_defines(syscalls), "-Wno-macro-redefined"]
        if environment.has_exit_group_dead(tracefs):
            cflags.append("-DKINDLING_HAVE_GROUP_DEAD")
        started = time.monotonic()
        try:
            self._bpf = bcc.BPF(text=sources.program_text(directory).encode(), cflags=cflags)  # type: ignore[attr-defined]
        except Exception as error:
            raise StartupError(
                f"the eBPF programs failed to compile or load ({error}); the compiler or "
                "verifier output above says why, and `kindling-probe serve --log-level debug` "
                "shows more"
            ) from None
        log.info("eBPF programs compiled and attached in %.2fs", time.monotonic() - started)

        self._bpf[SELF_MAP][ctypes.c_int(0)] = ctypes.c_uint32(self._exclude_pid)
        self._write_enabled(self._enabled)
        collector = self._collector

        def on_sample(_cpu: int, data: int, size: int) -> None:
            # Hot path: one call per record. Keep it to a copy and an append.
            if size == RECORD_BASE_SIZE:
                collector.plain.append(ctypes.string_at(data, size))
            else:
                collector.with_path.append(ctypes.string_at(data, size))

        def on_lost(lost: int) -> None:
            collector.lost += lost

        # Wake the reader once a CPU's buffer is about an eighth full.
        capacity = self._page_count * os.sysconf("SC_PAGE_SIZE") // (RECORD_BASE_SIZE + 4)
        wakeup_events = max(1, capacity // 8)
        self._bpf[PERF_MAP].open_perf_buffer(
            on_sample, page_cnt=self._page_count, lost_cb=on_lost, wakeup_events=wakeup_events
        )
        self._sink = sink
        self._thread = threading.Thread(target=self._run, name="kindling-bcc-reader", daemon=True)
        self._thread.start()

    def set_enabled_events(self, event_ids: frozenset[int]) -> None:
        self._enabled = event_ids
        if self._bpf is not None:
            self._write_enabled(event_ids)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._bpf is not None:
            self._bpf.cleanup()
            self._bpf = None

    def stats(self) -> DriverStats:
        self._stats.extra["late_records"] = self._merger.late
        self._stats.extra["pending_records"] = self._merger.pending
        return self._stats

    # -- internals ---------------------------------------------------------

    def _write_enabled(self, event_ids: frozenset[int]) -> None:
        table = self._bpf[ENABLED_MAP]
        for event_id in range(self._catalog.max_id + 1):
            table[ctypes.c_int(event_id)] = ctypes.c_uint8(1 if event_id in event_ids else 0)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._bpf.perf_buffer_poll(self._poll_interval_ms)
            self._drain(final=False)
        self._drain(final=True)

    def _drain(self, *, final: bool) -> None:
        drain_start = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        self._bpf.perf_buffer_consume()
        plain, with_path, lost = self._collector.take()
        records, paths = decode(plain, with_path)
        records, paths = self._merger.push(records, paths, drain_start)
        batch = RecordBatch(records, paths, kernel_lost=lost)
        self._deliver(batch)
        if final:
            held, held_paths = self._merger.flush()
            self._deliver(RecordBatch(held, held_paths))

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
