"""Turn a batch of kernel records into encoded kindling events.

For a batch, in timestamp order:

1. Events that change the thread and fd tables (exec, open, close...) are
   applied one at a time: that is the only Python step per event, and only
   for them.
2. Every other event takes its context from the tables as they were at its
   own place in the batch: an as-of join (enrich/asof.py) finds the last
   change before it to its fd and its process, and the tables are consulted
   once per distinct (key, change), right after that change.
3. All events are encoded a column at a time and assembled with one gather
   (encode/event.py), without their per-stream sequence numbers, which the
   broker adds per subscriber.

The tables keep context only for the threads the plan's TableScope covers
(where the kernel captures every event that changes them); events outside
it are neither applied nor delivered, and a scope that narrows starts its
tables afresh, from the timestamp at which the kernel changed.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kindling.event.v1 import event_pb2
from kindling.server.catalog import Catalog
from kindling.server.drivers.base import RecordBatch
from kindling.server.pipeline.encode.assemble import PiecePool
from kindling.server.pipeline.encode.batch import EventBatch, EventColumns
from kindling.server.pipeline.encode.event import EventEncoder, RowPieces, StringSource
from kindling.server.pipeline.enrich.asof import NONE, distinct, last_change, next_event
from kindling.server.pipeline.enrich.context import RowContext, mapped_addresses
from kindling.server.pipeline.enrich.handlers import NO_FD, TableUpdates, Touched, signed_column
from kindling.server.pipeline.enrich.procfs import CgroupIndex, ProcFS, cgroup2_mount
from kindling.server.pipeline.enrich.tables import (
    FdInfo,
    FdTable,
    ProcessInfo,
    ProcessTable,
    Tables,
    TableSeed,
)
from kindling.server.pipeline.plan import TableScope
from kindling.server.record import KernelRecord, RecordFlag, Records, take


class _Lookups:
    """The context lookups plain events need, each at its moment: before the
    batch's first change (NONE) or right after a given change row."""

    def __init__(self) -> None:
        self.fd: dict[int, list[int]] = {}
        self.thread: dict[int, list[int]] = {}

    def due(self, at: int) -> tuple[list[int], list[int]]:
        return self.fd.pop(at, []), self.thread.pop(at, [])


class _StateRows:
    """Pieces of the state rows delivered, stored into RowPieces at once."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.prefix: list[int] = []
        self.thread: list[int] = []
        self.fd: list[int] = []
        self.strings: list[int] = []
        self.category: list[int] = []

    def store(self, pieces: RowPieces) -> None:
        if not self.rows:
            return
        rows = np.array(self.rows, dtype=np.int64)
        pieces.keep[rows] = True
        pieces.prefix[rows] = self.prefix
        pieces.thread[rows] = self.thread
        pieces.fd[rows] = self.fd
        pieces.strings[rows] = self.strings
        pieces.category[rows] = self.category


class EventBuilder:
    def __init__(
        self, catalog: Catalog, procfs: ProcFS | None = None, cgroups: CgroupIndex | None = None
    ) -> None:
        """Without arguments, reads the live /proc and cgroup2 mount."""
        if procfs is None:
            procfs = ProcFS()
            cgroups = cgroups or CgroupIndex(cgroup2_mount())
        self.catalog = catalog
        self.tables = Tables(procfs, cgroups or CgroupIndex(None))
        self.updates = TableUpdates(catalog, self.tables)
        self.encoder = EventEncoder(catalog)
        self.delivered: frozenset[int] = frozenset(s.id for s in catalog.specs)
        self.unknown_records = 0
        # Whom the tables keep context for; by default everyone. The service
        # follows what the kernel captures (plan.py) with set_scope().
        self.scope = TableScope.everyone()
        self._scope_changes: list[tuple[int, TableScope, TableSeed]] = []
        self._scope_lock = threading.Lock()
        # Per event id, for whole columns at once.
        size = catalog.max_id + 1
        self._known = self._ids_mask(s.id for s in catalog.specs)
        self._state = self._ids_mask(s.id for s in catalog.specs if s.state_changing)
        self._fd_context = self._ids_mask(s.id for s in catalog.specs if s.fd_context)
        # Events whose records carry a connection's local and remote ends
        # (TCP tracepoints), and those that carry a datagram's peer.
        self._own_ends = self._ids_mask(
            s.id
            for s in catalog.specs
            if s.source == event_pb2.SOURCE_TRACEPOINT and s.category == event_pb2.CATEGORY_NET
        )
        self._peer_ends = self._ids_mask(
            s.id for s in catalog.specs if any(a.key == "peer_address" for a in s.attributes)
        )
        self._size = size

    def _ids_mask(self, ids: Iterable[int]) -> npt.NDArray[np.bool_]:
        mask = np.zeros(self.catalog.max_id + 1, dtype=bool)
        mask[list(ids)] = True
        return mask

    @property
    def processes(self) -> ProcessTable:
        return self.tables.processes

    @property
    def fds(self) -> FdTable:
        return self.tables.fds

    # -- scope ---------------------------------------------------------------------

    def set_scope(self, scope: TableScope, at_ns: int, seed: TableSeed | None = None) -> None:
        """Keep tables for `scope` from records stamped `at_ns` on (when the
        kernel started capturing for it), starting from `seed` (what /proc
        said of newly covered processes then). Called from any thread."""
        with self._scope_lock:
            self._scope_changes.append((at_ns, scope, seed or TableSeed()))

    def snapshot(self, process_pids: Iterable[int], fd_pids: Iterable[int]) -> TableSeed:
        """A seed for set_scope(), from this builder's view of /proc."""
        return TableSeed.take(self.tables.procfs, process_pids, fd_pids)

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
            self.tables.reset_threads()
        if not fds_kept:
            self.tables.reset_fds()
        self.tables.seed(seed)
        self.scope = scope

    # -- a batch ---------------------------------------------------------------------

    def build(self, batch: RecordBatch) -> EventBatch:
        """Update the tables from the batch and encode its deliverable events."""
        records = batch.records
        pool = PiecePool()
        pieces = RowPieces(len(records))
        # One snapshot per batch: Configure may change it from another thread.
        delivered = self._ids_mask(self.delivered)
        context = RowContext(len(records))
        for start, stop in self._scope_segments(records["ts"]):
            self._enrich(batch, start, stop, delivered, pool, pieces, context)
        blob, offsets, kept, rows, payload_sizes = self.encoder.encode(
            records, batch.data, pieces, pool
        )
        with_payload = payload_sizes > 0
        self._record_ends(rows, kept, context)
        columns = EventColumns(
            event_ids=rows["event_id"],
            pids=rows["pid"],
            tids=rows["tid"],
            uids=rows["uid"],
            gids=rows["gid"],
            cgroup_ids=rows["cgroup_id"],
            comms=rows["comm"],
            categories=pieces.category[kept],
            return_values=rows["ret"],
            latencies=rows["latency_ns"],
            has_payload=with_payload,
            ppids=context.ppid[kept],
            ancestors=context.ancestors[kept],
            exes=context.exe[kept],
            container_ids=context.container_id[kept],
            fd_types=context.fd_type[kept],
            protocols=context.protocol[kept],
            local_ports=context.local_port[kept],
            remote_ports=context.remote_port[kept],
            local_addresses=context.local_address[kept],
            remote_addresses=context.remote_address[kept],
        )
        return EventBatch(
            blob=blob,
            offsets=offsets,
            columns=columns,
            kernel_lost=batch.kernel_lost,
            payload_sizes=payload_sizes if with_payload.any() else None,
            payload_on_socket=(rows["flags"] & RecordFlag.ON_SOCKET) != 0,
        )

    def _record_ends(self, rows: Records, kept: npt.NDArray[np.intp], context: RowContext) -> None:
        """Rows whose fd gave no ends take the ones their record carries."""
        if not len(rows):
            return
        no_ends = (context.local_port[kept] == 0) & (context.remote_port[kept] == 0)
        ids = rows["event_id"].astype(np.intp)
        flags = rows["flags"]
        own = no_ends & self._own_ends[ids]
        peer = no_ends & self._peer_ends[ids] & ((flags & RecordFlag.DST_VALID) != 0)
        if not (own.any() or peer.any()):
            return
        family = rows["family"]
        local = mapped_addresses(family, _bytes16(rows["saddr"]))
        remote = mapped_addresses(family, _bytes16(rows["daddr"]))
        has_local = own & ((flags & RecordFlag.SRC_VALID) != 0)
        has_remote = (own & ((flags & RecordFlag.DST_VALID) != 0)) | peer
        context.local_address[kept[has_local]] = local[has_local]
        context.local_port[kept[has_local]] = rows["sport"][has_local]
        context.remote_address[kept[has_remote]] = remote[has_remote]
        context.remote_port[kept[has_remote]] = rows["dport"][has_remote]

    def _enrich(
        self,
        batch: RecordBatch,
        first: int,
        end: int,
        delivered: npt.NDArray[np.bool_],
        pool: PiecePool,
        pieces: RowPieces,
        context: RowContext,
    ) -> None:
        """Rows first..end-1, which share the current table scope: apply their
        state changes and give every delivered row its pieces and context."""
        records = batch.records[first:end]
        event_ids = records["event_id"].astype(np.intp)
        known = event_ids < self._size
        event_ids = np.where(known, event_ids, 0)
        known &= self._known[event_ids]
        self.unknown_records += int(np.count_nonzero(~known))
        in_threads = self.scope.threads.mask(records) & known
        in_fds = self.scope.fds.mask(records) & known
        fd_context = self._fd_context[event_ids]
        # A delivered event lies in the fd region if it has fd context, in
        # the thread region otherwise.
        deliver = delivered[event_ids] & np.where(fd_context, in_fds, in_threads)
        state = self._state[event_ids] & in_threads
        state_rows = np.flatnonzero(state)
        plain_rows = np.flatnonzero(deliver & ~state)

        # Plain rows: which change each one's fd and thread context follow.
        touched = self.updates.touched(take(records, state_rows), state_rows)
        pids = records["pid"].astype(np.int64)
        fd = signed_column(records["arg0"])
        has_fd = fd_context & (fd >= 0)
        fd_rows = plain_rows[has_fd[plain_rows]]
        fd_keys_of_rows = pids[fd_rows] << 32 | fd[fd_rows]
        fd_at = np.maximum(
            last_change(fd_keys_of_rows, fd_rows, touched.fd_keys, touched.fd_rows),
            last_change(pids[fd_rows], fd_rows, touched.process_fd_pids, touched.process_fd_rows),
        )
        thread_at = last_change(
            pids[plain_rows], plain_rows, touched.process_pids, touched.process_rows
        )
        fd_keys, fd_which = distinct([pids[fd_rows], fd[fd_rows], fd_at, event_ids[fd_rows]])
        plain = take(records, plain_rows)
        thread_keys, thread_which = distinct(
            [plain["pid"], plain["tid"], plain["uid"], plain["gid"], plain["comm"],
             plain["cgroup_id"], thread_at]
        )  # fmt: skip
        lookups = _Lookups()
        for i, key in enumerate(fd_keys):
            lookups.fd.setdefault(key[2], []).append(i)
        for i, key in enumerate(thread_keys):
            lookups.thread.setdefault(key[-1], []).append(i)
        fd_pieces = np.full(len(fd_keys), -1, dtype=np.int64)
        fd_prefixes = np.full(len(fd_keys), -1, dtype=np.int64)
        fd_categories = np.zeros(len(fd_keys), dtype=np.uint8)
        fd_infos: list[FdInfo | None] = [None] * len(fd_keys)
        processes: list[ProcessInfo | None] = [None] * len(thread_keys)
        lineages: list[tuple[int, ...]] = [()] * len(thread_keys)
        thread_pieces = np.full(len(thread_keys), -1, dtype=np.int64)

        def look_up(at: int) -> None:
            fd_due, thread_due = lookups.due(at)
            for i in fd_due:
                pid, number, _, event_id = fd_keys[i]
                field, info = self.tables.fds.context(pid, number)
                fd_type = info.type
                fd_infos[i] = info
                spec = self.catalog.by_id[event_id]
                fd_pieces[i] = pool.add(field)
                fd_prefixes[i] = pool.add(self.encoder.prefix(spec, fd_type))
                fd_categories[i] = self.encoder.category(spec, fd_type)
            for i in thread_due:
                pid, tid, uid, gid, comm, cgroup_id, _ = thread_keys[i]
                if pid:  # 0: an event of no known thread (a socket without owner)
                    thread_pieces[i] = pool.add(
                        self.tables.processes.thread_field(pid, tid, uid, gid, comm, cgroup_id)
                    )
                    processes[i] = self.tables.processes.get(pid)
                    lineages[i] = self.tables.processes.ancestors(pid)

        look_up(NONE)
        skip = _overwritten(touched, records, state_rows, deliver, fd_keys_of_rows, fd_rows)
        needed = state_rows[~skip]
        delivered_state = _StateRows()
        self._apply_state_rows(
            batch, first, needed, in_fds, deliver, pool, delivered_state, look_up, context
        )
        for at in sorted({*lookups.fd, *lookups.thread}):
            look_up(at)  # none is left, unless the overwrite analysis missed a read
        delivered_state.store(pieces)

        rows = first + plain_rows
        pieces.keep[rows] = True
        pieces.thread[rows] = thread_pieces[thread_which]
        pieces.fd[first + fd_rows] = fd_pieces[fd_which]
        pieces.prefix[first + fd_rows] = fd_prefixes[fd_which]
        pieces.category[first + fd_rows] = fd_categories[fd_which]
        context.set_processes(first + plain_rows, thread_which, processes, lineages)
        context.set_fds(first + fd_rows, fd_which, fd_infos)
        no_fd = plain_rows[~has_fd[plain_rows]]
        for event_id in np.unique(event_ids[no_fd]).tolist():
            chosen = no_fd[event_ids[no_fd] == event_id]
            spec = self.catalog.by_id[event_id]
            pieces.prefix[first + chosen] = pool.add(self.encoder.prefix(spec, 0))
            pieces.category[first + chosen] = self.encoder.category(spec, 0)
        flags = records["flags"]
        with_strings = plain_rows[
            self.encoder.needs_strings(event_ids[plain_rows], flags[plain_rows])
        ]
        for row in with_strings.tolist():
            source = StringSource.of(
                records[row], batch.paths[first + row], batch.data[first + row]
            )
            pieces.strings[first + row] = pool.add(
                self.encoder.strings(int(event_ids[row]), source)
            )

    def _apply_state_rows(
        self,
        batch: RecordBatch,
        first: int,
        state_rows: npt.NDArray[np.intp],
        in_fds: npt.NDArray[np.bool_],
        deliver: npt.NDArray[np.bool_],
        pool: PiecePool,
        out: _StateRows,
        look_up: Callable[[int], None],
        context: RowContext,
    ) -> None:
        """The state changes, one at a time and in order, each followed by
        the lookups due right after it. Outside the fd table's scope a change
        leaves the fd table as it is."""
        rows = state_rows.tolist()
        values = take(batch.records[first:], state_rows).tolist()
        tails = batch.tails[first:][state_rows].tolist()
        fds_ok = in_fds[state_rows].tolist()
        wanted = deliver[state_rows].tolist()
        for row, value, (path, data), fd_ok, deliver_it in zip(
            rows, values, tails, fds_ok, wanted, strict=True
        ):
            record = KernelRecord._make(value)
            fds = self.tables.fds
            fds.frozen = not fd_ok
            try:
                fd, after = self.updates.apply(record, path)
                if deliver_it:
                    self._deliver_state(record, path, data, fd, first + row, pool, out, context)
                if after is not None:
                    after()
            finally:
                fds.frozen = False
            look_up(row)

    def _deliver_state(
        self,
        r: KernelRecord,
        path: bytes | None,
        data: bytes | None,
        fd: int,
        row: int,
        pool: PiecePool,
        out: _StateRows,
        context: RowContext,
    ) -> None:
        spec = self.catalog.by_id[r.event_id]
        fd_field, fd_type = b"", 0
        if fd != NO_FD:
            fd_field, info = self.tables.fds.context(r.pid, fd)
            fd_type = info.type
            context.set_fd(row, info)
        out.rows.append(row)
        out.prefix.append(pool.add(self.encoder.prefix(spec, fd_type)))
        out.category.append(self.encoder.category(spec, fd_type))
        if r.pid:
            thread = self.tables.processes.thread_field(
                r.pid, r.tid, r.uid, r.gid, r.comm, r.cgroup_id
            )
            out.thread.append(pool.add(thread))
            processes = self.tables.processes
            context.set_process(row, processes.get(r.pid), processes.ancestors(r.pid))
        else:
            out.thread.append(-1)
        out.fd.append(pool.add(fd_field) if fd_field else -1)
        strings = b""
        if self.encoder.has_strings(spec.id):
            strings = self.encoder.strings(spec.id, StringSource.of(r, path, data))
        out.strings.append(pool.add(strings) if strings else -1)


def _bytes16(column: npt.NDArray[np.void]) -> npt.NDArray[np.uint8]:
    """A 16-byte record field as an (n, 16) array of bytes."""
    return np.frombuffer(column.tobytes(), dtype=np.uint8).reshape(-1, 16)


def _overwritten(
    touched: Touched,
    records: Records,
    state_rows: npt.NDArray[np.intp],
    deliver: npt.NDArray[np.bool_],
    query_keys: npt.NDArray[np.int64],
    query_rows: npt.NDArray[np.intp],
) -> npt.NDArray[np.bool_]:
    """Which state rows can be skipped: their changes are overwritten by a
    later change of the same fds before anything reads those fds, and they
    are not delivered themselves. A server that opens and closes a file per
    request makes two changes per request to the same few fd numbers; only
    the last of each batch needs applying.

    Reads are the plain events' lookups, the fds that handlers read (dup,
    accept, connect) and every fd a delivered state event may describe; a
    change or read of a process's whole table (exec, exit, fork, close_range)
    is a barrier no change of that process before it may be skipped across."""
    delivered_rows = state_rows[deliver[state_rows]]
    shown = take(records, delivered_rows)
    pids = shown["pid"].astype(np.int64)
    shown_keys, shown_rows = [], []
    for column in (shown["ret"], signed_column(shown["arg0"]), signed_column(shown["arg1"])):
        valid = column >= 0
        shown_keys.append(pids[valid] << 32 | column[valid])
        shown_rows.append(delivered_rows[valid])
    reads_keys = np.concatenate((query_keys, touched.read_keys, *shown_keys))
    reads_rows = np.concatenate((query_rows, touched.read_rows, *shown_rows))
    after = touched.fd_rows + 1
    next_change = next_event(touched.fd_keys, after, touched.fd_keys, touched.fd_rows)
    next_read = next_event(touched.fd_keys, after, reads_keys, reads_rows)
    next_barrier = next_event(
        touched.fd_keys >> 32, after, touched.barrier_pids, touched.barrier_rows
    )
    kept_changes = (next_change >= next_read) | (next_change >= next_barrier)
    must_run = np.isin(state_rows, touched.fd_rows[kept_changes])
    must_run |= np.isin(state_rows, touched.barrier_rows) | deliver[state_rows]
    skippable: npt.NDArray[np.bool_] = ~must_run
    return skippable


def warm_up(catalog: Catalog) -> None:
    """Run every stage once on a throwaway builder, so that first calls (and
    the modules numpy imports lazily) cost their time before the service
    reports SERVING rather than while a first subscriber's events wait."""
    from kindling.server.pipeline.encode.framing import frame_events  # noqa: PLC0415
    from kindling.server.record import RECORD_DTYPE, no_tails  # noqa: PLC0415

    records = np.zeros(64, dtype=RECORD_DTYPE)
    records["ts"] = np.arange(1, 65)
    records["pid"] = records["tid"] = 1
    ids = [s.id for s in catalog.specs]
    records["event_id"] = [ids[i % len(ids)] for i in range(64)]
    with tempfile.TemporaryDirectory() as empty:
        builder = EventBuilder(catalog, ProcFS(Path(empty)))
        batch = builder.build(RecordBatch(records, no_tails(64)))
    frame_events(batch, np.arange(len(batch), dtype=np.int64), 1)
