"""Turn kernel records into kindling events.

For each record, in timestamp order: update the thread and fd tables from
what the event says, then encode the event (without its per-stream sequence
number, which the broker adds per subscriber) with its thread and fd context.
Events that Configure disabled still update the tables but are not encoded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kindling.event.v1 import event_pb2
from kindling.server import catalog as cat
from kindling.server.catalog import AttrType, Catalog, EventSpec, RecordField
from kindling.server.drivers.base import RecordBatch
from kindling.server.pipeline import wire
from kindling.server.pipeline.procfs import ProcFS
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
    family_fd_type,
    ip_text,
    socket_protocol,
)

log = logging.getLogger(__name__)

NO_FD = -1

# Event field numbers (kindling.event.v1.Event).
F_TIMESTAMP, F_NAME, F_SOURCE, F_CATEGORY = 2, 3, 4, 5
F_CPU, F_RETURN_VALUE, F_LATENCY, F_ATTRIBUTES = 6, 7, 8, 11

_ONEOF_FIELD = {
    AttrType.INT32: 2,
    AttrType.UINT32: 3,
    AttrType.INT64: 4,
    AttrType.UINT64: 5,
    AttrType.BOOL: 7,
    AttrType.STRING: 8,
}

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
    """Encoded events of one record batch, with the columns filters need."""

    events: list[bytes]
    event_ids: npt.NDArray[np.uint16]
    pids: npt.NDArray[np.uint32]
    kernel_lost: int = 0

    def __len__(self) -> int:
        return len(self.events)


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


class _Record:
    """One record's values, unpacked once from the numpy row."""

    __slots__ = (
        "arg0", "arg1", "arg2", "cgroup_id", "comm", "cpu", "daddr", "dport", "event_id",
        "family", "flags", "gid", "latency_ns", "path", "pid", "ret", "saddr", "sport",
        "tid", "ts", "uid",
    )  # fmt: skip

    def __init__(self, row: tuple[object, ...], path: bytes | None) -> None:
        (
            self.ts, self.latency_ns, self.ret, self.cgroup_id, self.arg0, self.arg1,
            self.arg2, self.pid, self.tid, self.uid, self.gid, self.event_id, self.cpu,
            self.family, self.flags, self.sport, self.dport, self.saddr, self.daddr, self.comm,
        ) = row  # type: ignore[assignment]  # fmt: skip
        self.path = path

    ts: int
    latency_ns: int
    ret: int
    cgroup_id: int
    arg0: int
    arg1: int
    arg2: int
    pid: int
    tid: int
    uid: int
    gid: int
    event_id: int
    cpu: int
    family: int
    flags: int
    sport: int
    dport: int
    saddr: bytes
    daddr: bytes
    comm: bytes
    path: bytes | None

    def source_endpoint(self) -> tuple[str, int] | None:
        if not self.flags & cat.F_SRC_VALID:
            return None
        return ip_text(self.family, self.saddr), self.sport

    def destination_endpoint(self) -> tuple[str, int] | None:
        if not self.flags & cat.F_DST_VALID:
            return None
        return ip_text(self.family, self.daddr), self.dport


# A state handler updates the tables and returns the fd whose context the
# event carries (or NO_FD) and an action to run after the event is encoded.
StateHandler = Callable[[_Record], tuple[int, Callable[[], None] | None]]


class EventBuilder:
    def __init__(self, catalog: Catalog, procfs: ProcFS | None = None) -> None:
        procfs = procfs or ProcFS()
        self.catalog = catalog
        self.processes = ProcessTable(procfs)
        self.fds = FdTable(procfs)
        self.delivered: frozenset[int] = frozenset(s.id for s in catalog.specs)
        self.unknown_records = 0
        self._handlers: dict[int, StateHandler] = {}
        for spec in catalog.specs:
            handler = getattr(self, f"_on_{spec.name}", None)
            if handler is not None:
                self._handlers[spec.id] = handler
        self._prefix: dict[tuple[int, int], bytes] = {}
        self._attr_keys = {
            (spec.id, attr.key): wire.str_field(1, attr.key)
            for spec in catalog.specs
            for attr in spec.attributes
        }

    # -- batch ---------------------------------------------------------------

    def build(self, batch: RecordBatch) -> EventBatch:
        records = batch.records
        keep: list[int] = []
        events: list[bytes] = []
        by_id = self.catalog.by_id
        delivered = self.delivered
        for index, (row, path) in enumerate(
            zip(records.tolist(), batch.paths.tolist(), strict=True)
        ):
            record = _Record(row, path)
            spec = by_id.get(record.event_id)
            if spec is None:
                self.unknown_records += 1
                continue
            handler = self._handlers.get(spec.id)
            fd, after = handler(record) if handler else (NO_FD, None)
            if spec.id in delivered:
                events.append(self._encode(spec, record, fd))
                keep.append(index)
            if after is not None:
                after()
        kept = records[keep] if len(keep) != len(records) else records
        return EventBatch(
            events=events,
            event_ids=kept["event_id"].astype(np.uint16, copy=False),
            pids=kept["pid"].astype(np.uint32, copy=False),
            kernel_lost=batch.kernel_lost,
        )

    # -- encoding --------------------------------------------------------------

    def _encode(self, spec: EventSpec, record: _Record, fd: int) -> bytes:
        fd_field = b""
        category = spec.category
        if fd != NO_FD:
            if spec.category_from_fd:
                fd_type = self.fds.get(record.pid, fd).type
                if fd_type in _NET_FD_TYPES:
                    category = event_pb2.CATEGORY_NET
                elif fd_type in _IPC_FD_TYPES:
                    category = event_pb2.CATEGORY_IPC
            fd_field = self.fds.fd_field(record.pid, fd)
        prefix = self._prefix.get((spec.id, category))
        if prefix is None:
            prefix = self._prefix[(spec.id, category)] = (
                wire.str_field(F_NAME, spec.name)
                + wire.uint_field(F_SOURCE, spec.source)
                + wire.uint_field(F_CATEGORY, category)
            )
        thread_field = self.processes.thread_field(
            record.pid, record.tid, record.uid, record.gid, record.comm, record.cgroup_id
        )
        return b"".join(
            (
                wire.uint_field(F_TIMESTAMP, record.ts),
                prefix,
                wire.uint_field(F_CPU, record.cpu),
                wire.int_field(F_RETURN_VALUE, record.ret),
                wire.uint_field(F_LATENCY, record.latency_ns),
                thread_field,
                fd_field,
                self._attributes(spec, record) if spec.attributes else b"",
            )
        )

    def _attributes(self, spec: EventSpec, record: _Record) -> bytes:
        out = []
        for attr in spec.attributes:
            if attr.present_flag and not record.flags & attr.present_flag:
                continue
            number = _ONEOF_FIELD[attr.type]
            if attr.field is RecordField.PATH:
                value_field = wire.message_field(number, _c_string(record.path).encode())
            else:
                raw: int = getattr(record, attr.field.value)
                if attr.type is AttrType.INT32:
                    raw = _signed(raw, 32)
                elif attr.type is AttrType.UINT32:
                    raw &= 0xFFFFFFFF
                elif attr.type is AttrType.INT64:
                    raw = _signed(raw, 64)
                elif attr.type is AttrType.BOOL:
                    raw = 1 if raw else 0
                value_field = wire.oneof_int_field(number, raw)
            payload = self._attr_keys[(spec.id, attr.key)] + value_field
            out.append(wire.message_field(F_ATTRIBUTES, payload))
        return b"".join(out)

    # -- state handlers (named _on_<event name>) -------------------------------

    def _on_process_exec(self, r: _Record) -> tuple[int, Callable[[], None] | None]:
        self.processes.on_exec(r.pid, _c_string(r.path))
        self.fds.on_exec(r.pid)
        return NO_FD, None

    def _on_process_fork(self, r: _Record) -> tuple[int, Callable[[], None] | None]:
        child = r.arg0 & 0xFFFFFFFF
        self.processes.on_fork(r.pid, child)
        self.fds.on_fork(r.pid, child)
        return NO_FD, None

    def _on_process_exit(self, r: _Record) -> tuple[int, Callable[[], None] | None]:
        def forget() -> None:
            self.processes.on_exit(r.pid)
            self.fds.on_exit(r.pid)

        return NO_FD, forget

    def _on_openat(self, r: _Record) -> tuple[int, Callable[[], None] | None]:
        if r.ret < 0:
            return NO_FD, None
        flags = r.arg1
        info = FdInfo(
            type=event_pb2.FD_TYPE_DIRECTORY if flags & O_DIRECTORY else event_pb2.FD_TYPE_FILE,
            path=_c_string(r.path),
            cloexec=bool(flags & O_CLOEXEC),
        )
        self.fds.set(r.pid, r.ret, info)
        return r.ret, None

    def _on_close(self, r: _Record) -> tuple[int, Callable[[], None] | None]:
        fd = _signed(r.arg0, 32)
        if fd < 0:
            return NO_FD, None
        if r.ret != 0:
            return fd, None
        return fd, lambda: self.fds.remove(r.pid, fd)

    def _on_read(self, r: _Record) -> tuple[int, Callable[[], None] | None]:
        fd = _signed(r.arg0, 32)
        return (fd if fd >= 0 else NO_FD), None

    _on_write = _on_read

    def _on_socket(self, r: _Record) -> tuple[int, Callable[[], None] | None]:
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

    def _on_connect(self, r: _Record) -> tuple[int, Callable[[], None] | None]:
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
            info.destination = r.destination_endpoint() or info.destination
            source = r.source_endpoint()
            if source is not None:
                info.source = source
                # The client end came from the TCP state tracepoint.
                info.protocol = event_pb2.L4_PROTOCOL_TCP
        elif r.family == AF_UNIX:
            info.type = event_pb2.FD_TYPE_UNIX_SOCKET
            info.unix_path = _sun_path(r.path)
        self.fds.set(r.pid, fd, info)
        return fd, None

    def _on_accept(self, r: _Record) -> tuple[int, Callable[[], None] | None]:
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
            source=r.source_endpoint(),
            destination=r.destination_endpoint() or listener.listen_local,
            unix_path=_sun_path(r.path) or listener.unix_path,
            cloexec=r.event_id == self.catalog.by_name["accept4"].id
            and bool(r.arg1 & SOCK_CLOEXEC),
        )
        self.fds.set(r.pid, r.ret, info)
        return r.ret, None

    _on_accept4 = _on_accept
