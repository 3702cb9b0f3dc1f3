"""Turn kernel records into kindling events.

For each record, in timestamp order: update the thread and fd tables from
what the event says, then encode the event (without its per-stream sequence
number, which the broker adds per subscriber) with its thread and fd context.
Events that Configure disabled still update the tables but are not encoded.

Syscall events are stamped when the syscall returns, so the tables see them
in return order. Where two threads of a process race on one fd number (one
closes fd 3 while another's openat gets fd 3), return order can differ from
the kernel's own order, and the fd's context can be wrong until its next
open or close.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kindling.event.v1 import event_pb2
from kindling.server import catalog as cat
from kindling.server.catalog import AttrType, Catalog, EventSpec
from kindling.server.drivers.base import RecordBatch
from kindling.server.pipeline import wire
from kindling.server.pipeline.assemble import PiecePool, Segments
from kindling.server.pipeline.plan import TableScope
from kindling.server.pipeline.procfs import CgroupIndex, ProcFS, cgroup2_mount
from kindling.server.pipeline.state import (
    AF_INET,
    AF_INET6,
    AF_UNIX,
    O_CLOEXEC,
    O_DIRECTORY,
    SOCK_CLOEXEC,
    FdInfo,
    FdTable,
    ProcessTable,
    TableSeed,
    family_fd_type,
    ip_text,
    socket_protocol,
)
from kindling.server.record import KernelRecord as Record
from kindling.server.record import Records

log = logging.getLogger(__name__)

NO_FD = -1
# Runs of plain events shorter than this are handled row by row.
MIN_PLAIN_RUN = 32

_EVENT = wire.FieldNumbers(event_pb2.Event)
F_TIMESTAMP, F_NAME, F_SOURCE, F_CATEGORY = (
    _EVENT.timestamp_ns, _EVENT.name, _EVENT.source, _EVENT.category
)  # fmt: skip
F_CPU, F_RETURN_VALUE, F_LATENCY, F_ATTRIBUTES = (
    _EVENT.cpu, _EVENT.return_value, _EVENT.latency_ns, _EVENT.attributes
)  # fmt: skip
_ATTRIBUTE = wire.FieldNumbers(event_pb2.Attribute)
# AttrType's values are the names of the Attribute.value oneof's cases.
_ONEOF_FIELD = {kind: getattr(_ATTRIBUTE, kind.value) for kind in AttrType}

_NET_FD_TYPES = frozenset(
    {
        event_pb2.FD_TYPE_IPV4_SOCKET,
        event_pb2.FD_TYPE_IPV6_SOCKET,
        event_pb2.FD_TYPE_NETLINK_SOCKET,
        event_pb2.FD_TYPE_OTHER_SOCKET,
    }
)
_IPC_FD_TYPES = frozenset({event_pb2.FD_TYPE_UNIX_SOCKET, event_pb2.FD_TYPE_PIPE})


@dataclass
class EventBatch:
    """Encoded events of one record batch, with the columns filters need.

    The events are back to back in `blob`: event i (without its per-stream
    sequence number) is blob[offsets[i] : offsets[i + 1]].
    """

    blob: bytes
    offsets: npt.NDArray[np.int64]
    event_ids: npt.NDArray[np.uint16]
    pids: npt.NDArray[np.uint32]
    cgroup_ids: npt.NDArray[np.uint64]
    kernel_lost: int = 0
    # Records the service failed to turn into events.
    failed: int = 0

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def events(self) -> list[bytes]:
        """Each event's bytes (for tests and tools; the broker uses the blob)."""
        at = self.offsets.tolist()
        return [self.blob[at[i] : at[i + 1]] for i in range(len(self))]

    @classmethod
    def from_events(
        cls,
        events: list[bytes],
        event_ids: npt.NDArray[np.uint16],
        pids: npt.NDArray[np.uint32],
        kernel_lost: int = 0,
        cgroup_ids: npt.NDArray[np.uint64] | None = None,
    ) -> EventBatch:
        offsets = np.zeros(len(events) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in events], out=offsets[1:])
        if cgroup_ids is None:
            cgroup_ids = np.ones(len(events), dtype=np.uint64)
        return cls(b"".join(events), offsets, event_ids, pids, cgroup_ids, kernel_lost)

    @classmethod
    def losses_only(cls, kernel_lost: int, failed: int) -> EventBatch:
        return cls(
            blob=b"",
            offsets=np.zeros(1, dtype=np.int64),
            event_ids=np.empty(0, dtype=np.uint16),
            pids=np.empty(0, dtype=np.uint32),
            cgroup_ids=np.empty(0, dtype=np.uint64),
            kernel_lost=kernel_lost,
            failed=failed,
        )


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _c_string(raw: bytes | None) -> str:
    if not raw:
        return ""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _sun_path(raw: bytes | None) -> str:
    """A unix socket path from raw sun_path bytes; abstract names get '@'."""
    if not raw:
        return ""
    if raw[0] == 0:
        return "@" + raw[1:].rstrip(b"\0").decode("utf-8", "replace")
    return _c_string(raw)


def source_endpoint(r: Record) -> tuple[str, int] | None:
    if not r.flags & cat.F_SRC_VALID:
        return None
    return ip_text(r.family, r.saddr), r.sport


def destination_endpoint(r: Record) -> tuple[str, int] | None:
    if not r.flags & cat.F_DST_VALID:
        return None
    return ip_text(r.family, r.daddr), r.dport


# A state handler updates the tables and returns the fd whose context the
# event carries (or NO_FD) and an action to run after the event is encoded.
After = Callable[[], None] | None
StateHandler = Callable[[Record, bytes | None], tuple[int, After]]


@dataclass(frozen=True)
class _AttributePlan:
    """How to encode one attribute, worked out once per catalogue entry.

    String attributes (the path) are encoded per event; numeric ones for a
    whole batch at once. Each event's attributes appear in catalogue order,
    which puts the strings first (Catalog checks that).
    """

    event_id: int
    column: str  # RECORD_DTYPE field, or "path"
    kind: AttrType
    key_and_tag: bytes  # Attribute.key field + the value's oneof tag
    present_flag: int


def _attribute_plans(spec: EventSpec) -> list[_AttributePlan]:
    plans = []
    for attr in spec.attributes:
        wire_type = wire.WIRE_LEN if attr.type is AttrType.STRING else wire.WIRE_VARINT
        plans.append(
            _AttributePlan(
                event_id=spec.id,
                column=attr.field.value,
                kind=attr.type,
                key_and_tag=(
                    wire.str_field(_ATTRIBUTE.key, attr.key)
                    + wire.tag(_ONEOF_FIELD[attr.type], wire_type)
                ),
                present_flag=attr.present_flag,
            )
        )
    return plans


def _numeric_values(records: Records, plan: _AttributePlan) -> npt.NDArray[np.uint64]:
    """An attribute's column as protobuf encodes it: two's-complement uint64."""
    raw: npt.NDArray[np.uint64] = records[plan.column].astype(np.uint64, copy=False)
    if plan.kind is AttrType.INT32:
        return raw.astype(np.uint32).view(np.int32).astype(np.int64).view(np.uint64)
    if plan.kind is AttrType.UINT32:
        return raw & np.uint64(0xFFFFFFFF)
    if plan.kind is AttrType.BOOL:
        nonzero: npt.NDArray[np.bool_] = raw != 0
        return nonzero.astype(np.uint64)
    return raw


_ATTRIBUTES_TAG = wire.tag(F_ATTRIBUTES, wire.WIRE_LEN)
_U32 = 0xFFFFFFFF
CLOSE_RANGE_CLOEXEC = 1 << 2


class _RowPieces:
    """For each row of a batch: whether it is delivered, and the pool ids of
    its shared pieces (-1 where it has none)."""

    def __init__(self, rows: int) -> None:
        self.keep = np.zeros(rows, dtype=bool)
        self.prefix = np.full(rows, -1, dtype=np.int64)
        self.thread = np.full(rows, -1, dtype=np.int64)
        self.fd = np.full(rows, -1, dtype=np.int64)
        self.strings = np.full(rows, -1, dtype=np.int64)


class _SingleRows:
    """Pieces of the rows handled one by one, stored into _RowPieces at once
    (a numpy store per row and field would cost more than the rest)."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.prefix: list[int] = []
        self.thread: list[int] = []
        self.fd: list[int] = []
        self.strings: list[int] = []

    def add(self, row: int, *, prefix: int, thread: int, fd: int, strings: int) -> None:
        self.rows.append(row)
        self.prefix.append(prefix)
        self.thread.append(thread)
        self.fd.append(fd)
        self.strings.append(strings)

    def store(self, pieces: _RowPieces) -> None:
        if not self.rows:
            return
        rows = np.array(self.rows, dtype=np.int64)
        pieces.keep[rows] = True
        pieces.prefix[rows] = self.prefix
        pieces.thread[rows] = self.thread
        pieces.fd[rows] = self.fd
        pieces.strings[rows] = self.strings


def _distinct(
    rows: Records, fields: tuple[str, ...]
) -> tuple[list[tuple[Any, ...]], npt.NDArray[np.intp]]:
    """The distinct values of some fields over the rows, and for each row
    the index of its value.

    Rows come in runs of equal keys (a thread doing I/O on one fd), so the
    runs are found with numpy and only their first rows are compared in
    Python; a structured np.unique would sort, which costs more."""
    n = len(rows)
    columns = [rows[f] for f in fields]
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for column in columns:
        change[1:] |= column[1:] != column[:-1]
    firsts = np.flatnonzero(change)
    index: dict[tuple[Any, ...], int] = {}
    run_values = np.array(
        [
            index.setdefault(key, len(index))
            for key in zip(*(column[firsts].tolist() for column in columns), strict=True)
        ],
        dtype=np.intp,
    )
    which = np.repeat(run_values, np.diff(np.append(firsts, n)))
    return list(index), which


def _string_attributes(plans: list[_AttributePlan], path: bytes | None) -> bytes:
    out = []
    for plan in plans:
        text = wire.utf8(_c_string(path))
        payload = plan.key_and_tag + wire.varint(len(text)) + text
        out.append(_ATTRIBUTES_TAG + wire.varint(len(payload)) + payload)
    return b"".join(out)


class EventBuilder:
    def __init__(
        self, catalog: Catalog, procfs: ProcFS | None = None, cgroups: CgroupIndex | None = None
    ) -> None:
        """Without arguments, reads the live /proc and cgroup2 mount."""
        if procfs is None:
            procfs = ProcFS()
            cgroups = cgroups or CgroupIndex(cgroup2_mount())
        self.catalog = catalog
        self._procfs = procfs
        self._cgroups = cgroups or CgroupIndex(None)
        self.processes = ProcessTable(procfs, self._cgroups)
        self.fds = FdTable(procfs)
        self.delivered: frozenset[int] = frozenset(s.id for s in catalog.specs)
        # Whom the tables keep context for; by default everyone. The service
        # follows what the kernel captures (plan.py) with set_scope().
        self.scope = TableScope.everyone()
        self._scope_changes: list[tuple[int, TableScope, TableSeed]] = []
        self._scope_lock = threading.Lock()
        self._fd_context = np.zeros(catalog.max_id + 1, dtype=bool)
        self._fd_context[[s.id for s in catalog.specs if s.fd_context]] = True
        self.unknown_records = 0
        # Runs of plain events shorter than this go row by row: for them,
        # numpy's per-call cost outweighs its speed.
        self.min_plain_run = MIN_PLAIN_RUN
        handlers: dict[str, StateHandler] = {
            "process_exec": self._on_process_exec,
            "process_fork": self._on_process_fork,
            "process_exit": self._on_process_exit,
            "openat": self._on_openat,
            "close": self._on_close,
            "read": self._on_io,
            "write": self._on_io,
            "socket": self._on_socket,
            "connect": self._on_connect,
            "accept": self._on_accept,
            "accept4": self._on_accept,
            "dup": self._on_dup,
            "dup2": self._on_dup,
            "dup3": self._on_dup,
            "pipe": self._on_fd_pair,
            "pipe2": self._on_fd_pair,
            "socketpair": self._on_fd_pair,
            "close_range": self._on_close_range,
        }
        unhandled = [s.name for s in catalog.specs if s.state_changing and s.name not in handlers]
        if unhandled:
            raise ValueError(f"state-changing events without a table update: {unhandled}")
        self._handlers = {
            catalog.by_name[name].id: handler
            for name, handler in handlers.items()
            if name in catalog.by_name
        }
        # Events whose arguments mean different things from their siblings'.
        self._accept4_id = catalog.by_name["accept4"].id if "accept4" in catalog.by_name else -1
        self._dup3_id = catalog.by_name["dup3"].id if "dup3" in catalog.by_name else -1
        self._socketpair_id = (
            catalog.by_name["socketpair"].id if "socketpair" in catalog.by_name else -1
        )
        self._prefix: dict[tuple[int, int], bytes] = {}
        plans = [plan for spec in catalog.specs for plan in _attribute_plans(spec)]
        self._string_plans: dict[int, list[_AttributePlan]] = {}
        for plan in plans:
            if plan.kind is AttrType.STRING:
                self._string_plans.setdefault(plan.event_id, []).append(plan)
        self._numeric_plans: dict[int, list[_AttributePlan]] = {}
        for plan in plans:
            if plan.kind is not AttrType.STRING:
                self._numeric_plans.setdefault(plan.event_id, []).append(plan)
        # Plain events only look things up (their fd, if any, is arg0): they
        # can be handled a run at a time. Everything else goes one by one.
        self._plain_ids = np.array(
            [
                s.id
                for s in catalog.specs
                if not s.state_changing
                and s.id not in self._string_plans
                and self._handlers.get(s.id) in (None, self._on_io)
            ],
            dtype=np.uint16,
        )

    # -- batch ---------------------------------------------------------------

    def set_scope(self, scope: TableScope, at_ns: int, seed: TableSeed | None = None) -> None:
        """Keep tables for `scope` from records stamped `at_ns` on (when the
        kernel started capturing for it), starting from `seed` (what /proc
        said of newly covered processes then). Called from any thread."""
        with self._scope_lock:
            self._scope_changes.append((at_ns, scope, seed or TableSeed()))

    def snapshot(self, process_pids: Iterable[int], fd_pids: Iterable[int]) -> TableSeed:
        """A seed for set_scope(), from this builder's view of /proc."""
        return TableSeed.take(self._procfs, process_pids, fd_pids)

    def build(self, batch: RecordBatch) -> EventBatch:
        """Update the tables from the batch and encode its deliverable events.

        Batch-first: scalar fields and numeric attributes are encoded a column
        at a time; plain I/O events (no table changes, no strings) get their
        context per run of equal keys; only events that change the tables go
        one by one. All events are then assembled with one numpy gather.
        """
        records = batch.records
        n = len(records)
        pool = PiecePool()
        # Per row: ids of its shared pieces in `pool` (-1: none).
        pieces = _RowPieces(n)
        # One snapshot per batch: Configure may change it from another thread.
        delivered_ids = self.delivered
        delivered = np.fromiter(delivered_ids, dtype=np.uint16)
        singles = _SingleRows()
        for start, stop in self._scope_segments(records["ts"]):
            self._build_rows(batch, start, stop, delivered_ids, delivered, pool, pieces, singles)
        singles.store(pieces)

        kept = np.flatnonzero(pieces.keep)
        segments = Segments(n)
        pool_buffer = pool.buffer()
        segments.add_table(*wire.varint_field_rows(records["ts"], F_TIMESTAMP))
        segments.add_pieces(pool_buffer, pieces.prefix)
        segments.add_table(*wire.varint_field_rows(records["cpu"].astype(np.uint64), F_CPU))
        segments.add_table(*wire.varint_field_rows(records["ret"].view(np.uint64), F_RETURN_VALUE))
        segments.add_table(*wire.varint_field_rows(records["latency_ns"], F_LATENCY))
        segments.add_pieces(pool_buffer, pieces.thread)
        segments.add_pieces(pool_buffer, pieces.fd)
        segments.add_pieces(pool_buffer, pieces.strings)
        self._numeric_attributes(records, segments)
        blob, offsets = segments.gather(kept)
        chosen = records[kept]
        return EventBatch(
            blob=blob,
            offsets=offsets,
            event_ids=chosen["event_id"].astype(np.uint16, copy=False),
            pids=chosen["pid"].astype(np.uint32, copy=False),
            cgroup_ids=chosen["cgroup_id"].astype(np.uint64, copy=False),
            kernel_lost=batch.kernel_lost,
        )

    def _scope_segments(self, timestamps: npt.NDArray[np.uint64]) -> Iterator[tuple[int, int]]:
        """The batch's rows in runs that share one table scope, applying each
        scope change where its timestamp falls."""
        with self._scope_lock:
            changes, self._scope_changes = self._scope_changes, []
        start = 0
        for i, (at_ns, scope, seed) in enumerate(changes):
            row = int(np.searchsorted(timestamps, at_ns, side="left"))
            if row >= len(timestamps):
                # Not reached yet: keep it (and what follows) for a later batch.
                with self._scope_lock:
                    self._scope_changes[:0] = changes[i:]
                break
            if row > start:
                yield start, row
                start = row
            self._enter_scope(scope, seed)
        if start < len(timestamps):
            yield start, len(timestamps)

    def _enter_scope(self, scope: TableScope, seed: TableSeed) -> None:
        """Start keeping tables for a new scope; a table that no longer covers
        everything it covered starts afresh (it would go stale there)."""
        threads_kept, fds_kept = scope.contains(self.scope)
        if not threads_kept:
            self.processes = ProcessTable(self._procfs, self._cgroups)
        if not fds_kept:
            self.fds = FdTable(self._procfs)
        for pid, process in seed.processes.items():
            self.processes.seed(pid, process)
        for pid, fds in seed.fds.items():
            self.fds.seed(pid, fds)
        self.scope = scope

    def _build_rows(
        self,
        batch: RecordBatch,
        first: int,
        end: int,
        delivered_ids: frozenset[int],
        delivered: npt.NDArray[np.uint16],
        pool: PiecePool,
        pieces: _RowPieces,
        singles: _SingleRows,
    ) -> None:
        """Rows first..end-1, which share the current table scope."""
        records = batch.records[first:end]
        n = end - first
        event_ids = records["event_id"]
        in_threads = self.scope.threads.mask(records)
        in_fds = self.scope.fds.mask(records)
        # Where a delivered event may be: the fd region for events with fd
        # context, the thread region for the others.
        in_scope = np.where(self._fd_context[event_ids], in_fds, in_threads)
        # Plan the rows in order: long runs of plain events go a run at a
        # time; every other row (table changes, strings, short runs, where
        # numpy's per-call cost outweighs its speed) goes one by one.
        steps: list[tuple[int, int]] = []  # (start, stop) of a run, or (row, -1)
        start = 0
        for row in [*np.flatnonzero(~np.isin(event_ids, self._plain_ids)).tolist(), n]:
            if row - start >= self.min_plain_run:
                steps.append((start, row))
            else:
                steps.extend((plain, -1) for plain in range(start, row))
            if row < n:
                steps.append((row, -1))
            start = row + 1
        single_rows = [row for row, stop in steps if stop < 0]
        values = iter(records[single_rows].tolist())
        paths = iter(batch.paths[first:end][single_rows].tolist())
        threads_ok = iter(in_threads[single_rows].tolist())
        fds_ok = iter(in_fds[single_rows].tolist())
        for row, stop in steps:
            if stop < 0:
                record = Record._make(next(values))
                path, thread_ok, fd_ok = next(paths), next(threads_ok), next(fds_ok)
                if thread_ok:
                    self._one_row(record, path, first + row, delivered_ids, fd_ok, pool, singles)
            else:
                self._plain_run(
                    records[row:stop], first + row, delivered, in_scope[row:stop], pool, pieces
                )

    def _one_row(
        self,
        record: Record,
        path: bytes | None,
        row: int,
        delivered: frozenset[int],
        in_fds: bool,
        pool: PiecePool,
        singles: _SingleRows,
    ) -> None:
        """An event that changes the tables (or carries strings), in order,
        from a thread the thread table keeps context for. Outside the fd
        table's scope, it leaves the fd table as it is."""
        spec = self.catalog.by_id.get(record.event_id)
        if spec is None:
            self.unknown_records += 1
            return
        handler = self._handlers.get(spec.id)
        self.fds.frozen = not in_fds
        try:
            fd, after = handler(record, path) if handler else (NO_FD, None)
            if spec.id in delivered and (in_fds or not spec.fd_context):
                self._deliver_row(spec, record, path, fd, row, pool, singles)
            if after is not None:
                after()
        finally:
            self.fds.frozen = False

    def _deliver_row(
        self,
        spec: EventSpec,
        record: Record,
        path: bytes | None,
        fd: int,
        row: int,
        pool: PiecePool,
        singles: _SingleRows,
    ) -> None:
        fd_field, fd_type = self.fds.context(record.pid, fd) if fd != NO_FD else (b"", 0)
        strings = self._string_plans.get(spec.id)
        singles.add(
            row,
            prefix=pool.add(self._prefix_for(spec, fd_type)),
            thread=pool.add(
                self.processes.thread_field(
                    record.pid, record.tid, record.uid, record.gid, record.comm, record.cgroup_id
                )
            ),
            fd=pool.add(fd_field) if fd_field else -1,
            strings=pool.add(_string_attributes(strings, path)) if strings else -1,
        )

    def _plain_run(
        self,
        run: Records,
        start: int,
        delivered: npt.NDArray[np.uint16],
        in_scope: npt.NDArray[np.bool_],
        pool: PiecePool,
        pieces: _RowPieces,
    ) -> None:
        """Plain I/O events (read, write) from row `start` on: nothing in the
        run changes the tables, so each distinct thread and each distinct fd
        is looked up once."""
        wanted = np.isin(run["event_id"], delivered) & in_scope
        if not wanted.any():
            return
        chosen = np.flatnonzero(wanted)
        rows = start + chosen
        sel = run[chosen]
        pieces.keep[rows] = True

        threads, which = _distinct(sel, ("pid", "tid", "uid", "gid", "comm", "cgroup_id"))
        thread_ids = np.array(
            [
                pool.add(self.processes.thread_field(pid, tid, uid, gid, comm, cgroup_id))
                for pid, tid, uid, gid, comm, cgroup_id in threads
            ],
            dtype=np.int64,
        )
        pieces.thread[rows] = thread_ids[which]

        fd_keys, which = _distinct(sel, ("event_id", "pid", "arg0"))
        prefix_ids, fd_ids = [], []
        for event_id, pid, arg0 in fd_keys:
            spec = self.catalog.by_id[event_id]
            fd = _signed(arg0, 32)
            if spec.fd_context and fd >= 0:
                fd_field, fd_type = self.fds.context(pid, fd)
                fd_ids.append(pool.add(fd_field))
            else:
                fd_type = 0
                fd_ids.append(-1)
            prefix_ids.append(pool.add(self._prefix_for(spec, fd_type)))
        pieces.prefix[rows] = np.array(prefix_ids, dtype=np.int64)[which]
        pieces.fd[rows] = np.array(fd_ids, dtype=np.int64)[which]

    def _numeric_attributes(self, records: Records, segments: Segments) -> None:
        """Add each record's numeric Attribute fields as one segment column.

        Each event type's attributes are encoded for its own rows only (one
        numpy pass per attribute), and since a row has one type, all types
        share the column."""
        n = len(records)
        event_ids = records["event_id"]
        flags = records["flags"]
        starts = np.zeros(n, dtype=np.int64)
        lengths = np.zeros(n, dtype=np.int64)
        blobs: list[bytes] = []
        base = 0
        for event_id in np.unique(event_ids).tolist():
            plans = self._numeric_plans.get(event_id)
            if not plans:
                continue
            rows = np.flatnonzero(event_ids == event_id)
            sub = records[rows]
            parts = []
            for plan in plans:
                varints, sizes = wire.varint_rows(_numeric_values(sub, plan))
                key = np.frombuffer(plan.key_and_tag, dtype=np.uint8)
                head = np.empty((len(rows), 2 + len(key)), dtype=np.uint8)
                head[:, 0] = _ATTRIBUTES_TAG[0]
                head[:, 1] = len(key) + sizes  # always < 128: a one-byte length
                head[:, 2:] = key
                used = head.shape[1] + sizes
                if plan.present_flag:
                    used = np.where((flags[rows] & plan.present_flag) != 0, used, 0)
                parts.append((np.hstack([head, varints]), used))
            blob, at = wire.join_rows(parts)
            starts[rows] = base + np.asarray(at[:-1], dtype=np.int64)
            lengths[rows] = np.diff(np.asarray(at, dtype=np.int64))
            blobs.append(blob)
            base += len(blob)
        segments.add(np.frombuffer(b"".join(blobs), dtype=np.uint8), starts, lengths)

    # -- encoding --------------------------------------------------------------

    def _prefix_for(self, spec: EventSpec, fd_type: int) -> bytes:
        """The name, source and category fields (fields 3-5)."""
        category = spec.category
        if spec.category_from_fd:
            if fd_type in _NET_FD_TYPES:
                category = event_pb2.CATEGORY_NET
            elif fd_type in _IPC_FD_TYPES:
                category = event_pb2.CATEGORY_IPC
        prefix = self._prefix.get((spec.id, category))
        if prefix is None:
            prefix = self._prefix[(spec.id, category)] = (
                wire.str_field(F_NAME, spec.name)
                + wire.uint_field(F_SOURCE, spec.source)
                + wire.uint_field(F_CATEGORY, category)
            )
        return prefix

    # -- state handlers (named _on_<event name>) -------------------------------

    def _on_process_exec(self, r: Record, path: bytes | None) -> tuple[int, After]:
        self.processes.on_exec(r.pid, _c_string(path))
        self.fds.on_exec(r.pid)
        return NO_FD, None

    def _on_process_fork(self, r: Record, path: bytes | None) -> tuple[int, After]:
        child = r.arg0 & _U32
        self.processes.on_fork(r.pid, child)
        self.fds.on_fork(r.pid, child)
        return NO_FD, None

    def _on_process_exit(self, r: Record, path: bytes | None) -> tuple[int, After]:
        def forget() -> None:
            self.processes.on_exit(r.pid)
            self.fds.on_exit(r.pid)

        return NO_FD, forget

    def _on_openat(self, r: Record, path: bytes | None) -> tuple[int, After]:
        if r.ret < 0:
            return NO_FD, None
        flags = r.arg1
        info = FdInfo(
            type=event_pb2.FD_TYPE_DIRECTORY if flags & O_DIRECTORY else event_pb2.FD_TYPE_FILE,
            path=_c_string(path),
            cloexec=bool(flags & O_CLOEXEC),
        )
        self.fds.set(r.pid, r.ret, info)
        return r.ret, None

    def _on_close(self, r: Record, path: bytes | None) -> tuple[int, After]:
        fd = _signed(r.arg0, 32)
        if fd < 0:
            return NO_FD, None
        if r.ret != 0:
            return fd, None
        pid = r.pid
        return fd, lambda: self.fds.remove(pid, fd)

    def _on_io(self, r: Record, path: bytes | None) -> tuple[int, After]:
        fd = _signed(r.arg0, 32)
        return (fd if fd >= 0 else NO_FD), None

    def _on_socket(self, r: Record, path: bytes | None) -> tuple[int, After]:
        if r.ret < 0:
            return NO_FD, None
        family, sock_type = r.arg0, r.arg1
        info = FdInfo(
            type=family_fd_type(family),
            protocol=socket_protocol(family, sock_type),
            cloexec=bool(sock_type & SOCK_CLOEXEC),
        )
        self.fds.set(r.pid, r.ret, info)
        return r.ret, None

    def _on_connect(self, r: Record, path: bytes | None) -> tuple[int, After]:
        fd = _signed(r.arg0, 32)
        if fd < 0:
            return NO_FD, None
        old = self.fds.get(r.pid, fd)
        info = FdInfo(
            type=old.type,
            path=old.path,
            protocol=old.protocol,
            role=event_pb2.SOCKET_ROLE_CLIENT,
            source=old.source,
            destination=old.destination,
            unix_path=old.unix_path,
            cloexec=old.cloexec,
        )
        if r.family in (AF_INET, AF_INET6):
            if info.type in (event_pb2.FD_TYPE_UNSPECIFIED, event_pb2.FD_TYPE_OTHER_SOCKET):
                info.type = family_fd_type(r.family)
            info.destination = destination_endpoint(r) or info.destination
            source = source_endpoint(r)
            if source is not None:
                info.source = source
                # The client end came from the TCP state tracepoint.
                info.protocol = event_pb2.L4_PROTOCOL_TCP
        elif r.family == AF_UNIX:
            info.type = event_pb2.FD_TYPE_UNIX_SOCKET
            info.unix_path = _sun_path(path)
        self.fds.set(r.pid, fd, info)
        return fd, None

    def _on_accept(self, r: Record, path: bytes | None) -> tuple[int, After]:
        if r.ret < 0:
            return NO_FD, None
        listener = self.fds.get(r.pid, _signed(r.arg0, 32))
        family = r.family
        if family in (AF_INET, AF_INET6):
            fd_type = family_fd_type(family)
        elif family == AF_UNIX:
            fd_type = event_pb2.FD_TYPE_UNIX_SOCKET
        else:
            fd_type = listener.type
        protocol = listener.protocol
        if not protocol and fd_type in (
            event_pb2.FD_TYPE_IPV4_SOCKET,
            event_pb2.FD_TYPE_IPV6_SOCKET,
        ):
            protocol = event_pb2.L4_PROTOCOL_TCP  # accept() implies a stream socket
        info = FdInfo(
            type=fd_type,
            protocol=protocol,
            role=event_pb2.SOCKET_ROLE_SERVER,
            source=source_endpoint(r),
            destination=destination_endpoint(r) or listener.listen_local,
            unix_path=_sun_path(path) or listener.unix_path,
            cloexec=r.event_id == self._accept4_id and bool(r.arg1 & SOCK_CLOEXEC),
        )
        self.fds.set(r.pid, r.ret, info)
        return r.ret, None

    def _on_dup(self, r: Record, path: bytes | None) -> tuple[int, After]:
        if r.ret < 0:
            return NO_FD, None
        old = self.fds.get(r.pid, _signed(r.arg0, 32))
        cloexec = r.event_id == self._dup3_id and bool(r.arg2 & O_CLOEXEC)
        self.fds.set(r.pid, r.ret, dataclasses.replace(old, cloexec=cloexec))
        return r.ret, None

    def _on_fd_pair(self, r: Record, path: bytes | None) -> tuple[int, After]:
        """pipe, pipe2 and socketpair: two new fds in arg0 and arg1."""
        if r.ret != 0:
            return NO_FD, None
        first, second = _signed(r.arg0, 32), _signed(r.arg1, 32)
        if r.event_id == self._socketpair_id:
            info = FdInfo(
                type=family_fd_type(r.family),
                protocol=socket_protocol(r.family, r.arg2),
                cloexec=bool(r.arg2 & SOCK_CLOEXEC),
            )
        else:
            info = FdInfo(type=event_pb2.FD_TYPE_PIPE, cloexec=bool(r.arg2 & O_CLOEXEC))
        self.fds.set(r.pid, first, info)
        self.fds.set(r.pid, second, info)
        return first, None

    def _on_close_range(self, r: Record, path: bytes | None) -> tuple[int, After]:
        if r.ret != 0:
            return NO_FD, None
        first, last, flags = r.arg0 & _U32, r.arg1 & _U32, r.arg2 & _U32
        pid = r.pid

        def close() -> None:
            self.fds.close_range(pid, first, last, cloexec_only=bool(flags & CLOSE_RANGE_CLOEXEC))

        return NO_FD, close
