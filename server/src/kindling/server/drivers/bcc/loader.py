"""Compile and load the eBPF programs with BCC, attach them on demand, and
give access to their maps.

BCC attaches every TRACEPOINT_PROBE as soon as it loads a program text; the
loader turns that off, so a tracepoint gets its program only while the
driver asks for it. Programs are verified once, up front, which keeps an
attach down to a system call.

The bench reuses this loader (with its own transport reader), so what it
measures is exactly what the service runs.
"""

from __future__ import annotations

import ctypes
import enum
import logging
import mmap
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kindling.server.catalog import Catalog
from kindling.server.drivers import host
from kindling.server.drivers.base import PID_LIMIT, KernelLimits
from kindling.server.drivers.bcc import environment, sources
from kindling.server.drivers.transports.base import RecordSizes
from kindling.server.drivers.transports.ringbuf import stride as ringbuf_stride
from kindling.server.errors import StartupError
from kindling.server.record import RECORD_SIZE

log = logging.getLogger(__name__)


LIMITS = KernelLimits()


class TransportKind(enum.Enum):
    RING_BUFFER = "ring_buffer"
    PERF_BUFFER = "perf_buffer"


class Pairing(enum.Enum):
    """Where a syscall's entry waits for its exit when its thread id is too
    large for the array of slots (see kindling_inflight_slot in kindling.h)."""

    TASK_STORAGE = "task_storage"
    HASH = "lru_hash"


# Where struct pt_regs (the entry frame, fixed by each architecture's entry
# code) holds the user stack pointer: after r15..ss's first 19 words on
# x86_64, after regs[31] on arm64. Exec arguments are read from that stack.
PT_REGS_SP = {"x86_64": 19 * 8, "aarch64": 31 * 8}

# Entry slots indexed by thread id: 56 bytes each, so at most 14 MB. Threads
# with larger ids (kernels with a pid_max above it) use the fallback.
MAX_TID_SLOTS = 1 << 18


class EventControl(enum.IntFlag):
    """Bits of kindling_event_control.bits (KINDLING_EVC_* in C)."""

    CAPTURE = 0x1
    PID_SCOPED = 0x2
    CGROUP_SCOPED = 0x4
    DROP_FAILED = 0x8
    PAYLOAD = 0x10  # copy the payload of calls on sockets
    PAYLOAD_ANY_FD = 0x20  # ... and on any other descriptor
    DELIVERED = 0x40  # a subscriber receives it (not only the context tables)


# Counter slots per CPU: a multiple of 2 keeps each CPU's row on its own
# cache lines (32-byte counters).
_COUNTER_FIELDS = ("emitted", "filtered", "lost", "reserved")


@dataclass(frozen=True)
class LoaderOptions:
    transport: TransportKind
    pairing: Pairing
    # Ring buffer: pages of each of the two buffers (shared by all CPUs).
    ring_pages: int = 1024
    # The service's own thread group id, never captured.
    exclude_pid: int = 0
    # Bytes of a data record's data area (record.py): the most payload an
    # event can carry.
    data_capacity: int = 512

    @property
    def record_sizes(self) -> RecordSizes:
        return RecordSizes(self.data_capacity)


class _Counters:
    """The kernel counters, read from the counters map's mapped memory."""

    def __init__(self, map_fd: int, cpus: int, row: int, events: int) -> None:
        size = cpus * row * 8 * len(_COUNTER_FIELDS)
        self._map = mmap.mmap(map_fd, (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE,
                              mmap.MAP_SHARED, mmap.PROT_READ)  # fmt: skip
        table = np.frombuffer(self._map, dtype="<u8", count=size // 8)
        self._table = table.reshape(cpus, row, len(_COUNTER_FIELDS))[:, :events, :3]

    def totals(self) -> npt.NDArray[np.uint64]:
        """(events, 3): emitted, filtered and lost per event id, summed over CPUs."""
        totals: npt.NDArray[np.uint64] = self._table.sum(axis=0, dtype=np.uint64)
        return totals

    def lost_by_cpu(self) -> list[int]:
        """Records lost, summed over events, per CPU (where the reservation failed)."""
        lost: list[int] = self._table[:, :, 2].sum(axis=1, dtype=np.uint64).tolist()
        return lost

    def close(self) -> None:
        del self._table
        self._map.close()


class BccLoader:
    def __init__(self, catalog: Catalog, options: LoaderOptions) -> None:
        self.catalog = catalog
        self.options = options
        self.bpf: Any = None
        self.hooks: list[str] = []  # every hook this kernel and program text have
        self._attached: dict[str, None] = {}  # in attach order
        self._cpus = os.cpu_count() or 1
        self._row = (catalog.max_id + 2) // 2 * 2
        self.counters: _Counters | None = None
        # Process sets are bitmaps of this many 64-bit words (see kindling.h).
        self.pid_words = PID_LIMIT // 64
        self.tid_slots = min(host.pid_max(), MAX_TID_SLOTS)

    # -- compile and load ------------------------------------------------------

    def cflags(self, tracefs: Path) -> list[str]:
        directory = sources.bpf_dir()
        hooks = host.available_hooks(tracefs, self.catalog)
        flags = [
            f"-I{directory}",
            *self.catalog.c_defines(hooks),
            *(f"-DKINDLING_EVC_{bit.name}={bit.value}" for bit in EventControl),
            f"-DKINDLING_PID_WORDS={self.pid_words}",
            f"-DKINDLING_CGROUP_WORDS={LIMITS.cgroup_ids // 64}",
            f"-DKINDLING_TID_SLOTS={self.tid_slots}",
            f"-DKINDLING_MAX_DENY_COMMS={LIMITS.deny_comms}",
            f"-DKINDLING_MAX_CPUS={self._cpus}",
            f"-DKINDLING_COUNTER_ROW={self._row}",
            f"-DKINDLING_DATA_CAPACITY={self.options.data_capacity}",
            "-Wno-macro-redefined",
        ]
        if host.has_exit_group_dead(tracefs):
            flags.append("-DKINDLING_HAVE_GROUP_DEAD")
        if self.options.transport is TransportKind.RING_BUFFER:
            pages = self.options.ring_pages
            flags += [
                "-DKINDLING_TRANSPORT_RINGBUF",
                f"-DKINDLING_SHORT_PAGES={pages}",
                f"-DKINDLING_LONG_PAGES={pages}",
                f"-DKINDLING_DATA_PAGES={pages}",
                f"-DKINDLING_WAKEUP_RECORDS={self.wakeup_records()}",
            ]
        if self.options.pairing is Pairing.TASK_STORAGE:
            flags.append("-DKINDLING_TASK_STORAGE")
        sp_offset = PT_REGS_SP.get(os.uname().machine)
        if sp_offset is not None and host.has_task_pt_regs()[0]:
            flags += ["-DKINDLING_HAVE_TASK_PT_REGS", f"-DKINDLING_PT_REGS_SP={sp_offset}"]
        return flags

    def wakeup_records(self) -> int:
        """Records of an event per CPU after which the ring buffer wakes the
        reader early: all CPUs together then fill a quarter of the short
        ring. The reader otherwise drains on its timer, in batches as large
        as the interval allows (the pipeline's cost per event falls with the
        batch size)."""
        records = self.ring_size() // ringbuf_stride(RECORD_SIZE)
        return max(64, records // (4 * self._cpus))

    def load(self) -> None:
        """Compile the programs and verify them all, attaching none."""
        tracefs = host.ensure_tracefs()
        bcc: Any = environment.import_bcc()

        class OnDemandBPF(bcc.BPF):  # type: ignore[misc]
            def _trace_autoload(self) -> None:
                """Attach nothing while loading: the driver attaches on demand."""

        started = time.monotonic()
        try:
            self.bpf = OnDemandBPF(
                text=sources.program_text().encode(), cflags=self.cflags(tracefs)
            )
            compiled = self._function_names()
            program = self.catalog.program
            self.hooks = [h for h in self.catalog.all_hooks if program(h).encode() in compiled]
            for name in dict.fromkeys(program(h) for h in self.hooks):
                self.bpf.load_func(name.encode(), bcc.BPF.TRACEPOINT)
        except Exception as error:
            raise StartupError(
                f"the eBPF programs failed to compile or load ({error}); the compiler or "
                "verifier output above says why, and `kindling-probe serve --log-level debug` "
                "shows more"
            ) from None
        log.info(
            "eBPF programs compiled and verified in %.2fs (%s; syscall entries in %d slots, "
            "then %s)",
            time.monotonic() - started,
            self.options.transport.value,
            self.tid_slots,
            self.options.pairing.value,
        )
        config = self.table("kindling_config")
        leaf = config.Leaf()
        leaf.self_pid = self.options.exclude_pid
        config[ctypes.c_int(0)] = leaf
        self.counters = _Counters(
            self.map_fd("kindling_counters"), self._cpus, self._row, self.catalog.max_id + 1
        )

    def _function_names(self) -> set[bytes]:
        """The programs the text compiled to (optional syscalls may be left out)."""
        from bcc import lib  # noqa: PLC0415  (bcc's ctypes bindings)

        module = self.bpf.module
        return {lib.bpf_function_name(module, i) for i in range(lib.bpf_num_functions(module))}

    # -- attach on demand --------------------------------------------------------

    def attach(self, hook: str) -> None:
        if hook in self._attached:
            return
        self.bpf.attach_tracepoint(tp=hook.encode(), fn_name=self.catalog.program(hook).encode())
        self._attached[hook] = None

    def release(self, hook: str) -> int | None:
        """Take a hook's attachment away from BCC and return its perf event fd,
        for close_attachment(). Closing it is what detaches the program, and
        it waits for the kernel's RCU grace period (tens of milliseconds):
        the driver does that off the caller's thread, many at once."""
        if hook not in self._attached:
            return None
        del self._attached[hook]
        return int(self.bpf.tracepoint_fds.pop(hook.encode()))

    @staticmethod
    def close_attachment(fd: int) -> None:
        from bcc import lib  # noqa: PLC0415  (bcc's ctypes bindings)

        if lib.bpf_close_perf_event_fd(fd) < 0:
            log.warning("closing tracepoint attachment fd %d failed", fd)

    @property
    def attached(self) -> list[str]:
        return list(self._attached)

    # -- maps ------------------------------------------------------------------

    def table(self, name: str) -> Any:
        return self.bpf[name.encode()]

    def map_fd(self, name: str) -> int:
        return int(self.table(name).map_fd)

    def ring_size(self) -> int:
        return self.options.ring_pages * mmap.PAGESIZE

    def close(self) -> None:
        if self.counters is not None:
            self.counters.close()
            self.counters = None
        if self.bpf is not None:
            self.bpf.cleanup()
            self.bpf = None
        self._attached.clear()
