"""What each state-changing event means for the thread and fd tables.

Each handler is registered for its event by name with what it touches, so
the builder knows, before running any handler, which table keys a batch's
changes affect (see asof.py). A handler updates the tables and returns the
fd whose context its own event carries (or NO_FD) and an action to run after
that event is encoded (a close describes the fd it closed).

Syscall events are stamped when the syscall returns, so the tables see them
in return order. Where two threads of a process race on one fd number (one
closes fd 3 while another's openat gets fd 3), return order can differ from
the kernel's own order, and the fd's context can be wrong until its next
open or close.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kindling.event.v1 import event_pb2
from kindling.server.catalog import Catalog
from kindling.server.pipeline.enrich.tables import (
    O_CLOEXEC,
    O_DIRECTORY,
    SOCK_CLOEXEC,
    FdInfo,
    Tables,
    family_fd_type,
    socket_protocol,
)
from kindling.server.pipeline.text import AF_INET, AF_INET6, AF_UNIX, c_string, ip_text, sun_path
from kindling.server.record import KernelRecord, RecordFlag, Records

NO_FD = -1
CLOSE_RANGE_CLOEXEC = 1 << 2
TCP_ESTABLISHED, TCP_SYN_SENT = 1, 2
_IP_SOCKETS = (event_pb2.FD_TYPE_IPV4_SOCKET, event_pb2.FD_TYPE_IPV6_SOCKET)
_U32 = 0xFFFFFFFF

After = Callable[[], None] | None
Update = tuple[int, After]


class Touch(enum.Flag):
    """The table entries a handler changes or reads. Changes are exact (a
    failed close changes nothing): the builder skips changes that a later
    one overwrites before anything reads them."""

    NOTHING = 0
    FD_RET = enum.auto()  # sets the fd the call returned, when it succeeded
    FD_ARG0 = enum.auto()  # sets or removes the fd in arg0
    FD_ARG1 = enum.auto()  # sets the fd in arg1
    ON_ZERO = enum.auto()  # ... the arg0/arg1 changes only when the call returned 0
    READS_ARG0 = enum.auto()  # reads the fd in arg0 (dup, accept, connect)
    PROCESS_FDS = enum.auto()  # changes (and reads) every fd of the process
    PROCESS = enum.auto()  # changes the process's entry (executable, parent)
    CHILD = enum.auto()  # creates the process in arg0, copying every fd of the caller


Handler = Callable[["TableUpdates", KernelRecord, bytes | None], Update]
_REGISTRY: dict[str, tuple[Handler, Touch]] = {}


def updates(*names: str, touches: Touch) -> Callable[[Handler], Handler]:
    """Register a handler for the events with these names."""

    def register(handler: Handler) -> Handler:
        for name in names:
            _REGISTRY[name] = (handler, touches)
        return handler

    return register


def signed_column(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    """A column of 32-bit signed values (fds) stored in u64 record fields."""
    low = (values & np.uint64(_U32)).astype(np.int64)
    signed_values: npt.NDArray[np.int64] = np.where(low >= 1 << 31, low - (1 << 32), low)
    return signed_values


def signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def source_endpoint(r: KernelRecord) -> tuple[str, int] | None:
    if not r.flags & RecordFlag.SRC_VALID:
        return None
    return ip_text(r.family, r.saddr), r.sport


def destination_endpoint(r: KernelRecord) -> tuple[str, int] | None:
    if not r.flags & RecordFlag.DST_VALID:
        return None
    return ip_text(r.family, r.daddr), r.dport


@dataclass
class Touched:
    """What a run of state changes touches, each with its row. fd keys are
    pid << 32 | fd."""

    fd_keys: npt.NDArray[np.int64]  # fds set or removed
    fd_rows: npt.NDArray[np.int64]
    read_keys: npt.NDArray[np.int64]  # fds read
    read_rows: npt.NDArray[np.int64]
    process_fd_pids: npt.NDArray[np.int64]  # every fd of these processes changed
    process_fd_rows: npt.NDArray[np.int64]
    # Processes whose whole fd table is changed or read (exec, exit, fork,
    # close_range): no change of theirs before these rows may be skipped.
    barrier_pids: npt.NDArray[np.int64]
    barrier_rows: npt.NDArray[np.int64]
    process_pids: npt.NDArray[np.int64]  # these processes' entries changed
    process_rows: npt.NDArray[np.int64]


class TableUpdates:
    """The registered handlers, bound to one builder's tables."""

    def __init__(self, catalog: Catalog, tables: Tables) -> None:
        self.tables = tables
        missing = [s.name for s in catalog.specs if s.state_changing and s.name not in _REGISTRY]
        if missing:
            raise ValueError(f"state-changing events without a table update: {missing}")
        self.handlers: dict[int, Handler] = {}
        touches = np.zeros(catalog.max_id + 1, dtype=np.int64)
        for spec in catalog.specs:
            if spec.state_changing:
                handler, touch = _REGISTRY[spec.name]
                self.handlers[spec.id] = handler
                touches[spec.id] = touch.value
        self._touches = touches
        # Siblings whose arguments mean something else.
        self._accept4 = catalog.by_name["accept4"].id if "accept4" in catalog.by_name else -1
        self._dup3 = catalog.by_name["dup3"].id if "dup3" in catalog.by_name else -1
        self._socketpair = (
            catalog.by_name["socketpair"].id if "socketpair" in catalog.by_name else -1
        )

    def apply(self, r: KernelRecord, path: bytes | None) -> Update:
        return self.handlers[r.event_id](self, r, path)

    def touched(self, records: Records, rows: npt.NDArray[np.int64]) -> Touched:
        """What the state changes in `records` (at `rows`) touch."""
        touch = self._touches[records["event_id"]]
        pids = records["pid"].astype(np.int64)
        ret = records["ret"]
        arg0 = signed_column(records["arg0"])
        arg1 = signed_column(records["arg1"])

        def has(flag: Touch) -> npt.NDArray[np.bool_]:
            present: npt.NDArray[np.bool_] = (touch & flag.value) != 0
            return present

        succeeded = np.where(has(Touch.ON_ZERO), ret == 0, True)
        parts = [
            (has(Touch.FD_RET) & (ret >= 0), ret),
            (has(Touch.FD_ARG0) & succeeded & (arg0 >= 0), arg0),
            (has(Touch.FD_ARG1) & succeeded & (arg1 >= 0), arg1),
        ]
        reads = has(Touch.READS_ARG0) & (arg0 >= 0)
        own = has(Touch.PROCESS_FDS)
        child = has(Touch.CHILD)
        process = has(Touch.PROCESS)
        return Touched(
            fd_keys=np.concatenate([pids[m] << 32 | values[m] for m, values in parts]),
            fd_rows=np.concatenate([rows[m] for m, _ in parts]),
            read_keys=pids[reads] << 32 | arg0[reads],
            read_rows=rows[reads],
            process_fd_pids=np.concatenate((pids[own], arg0[child] & _U32)),
            process_fd_rows=np.concatenate((rows[own], rows[child])),
            barrier_pids=np.concatenate((pids[own | child], arg0[child] & _U32)),
            barrier_rows=np.concatenate((rows[own | child], rows[child])),
            process_pids=np.concatenate((pids[process], arg0[child] & _U32)),
            process_rows=np.concatenate((rows[process], rows[child])),
        )

    # -- the handlers ------------------------------------------------------------

    @updates("process_exec", touches=Touch.PROCESS | Touch.PROCESS_FDS)
    def _exec(self, r: KernelRecord, path: bytes | None) -> Update:
        self.tables.processes.on_exec(r.pid, c_string(path))
        self.tables.fds.on_exec(r.pid)
        return NO_FD, None

    @updates("process_fork", touches=Touch.CHILD)
    def _fork(self, r: KernelRecord, path: bytes | None) -> Update:
        child = r.arg0 & _U32
        self.tables.processes.on_fork(r.pid, child)
        self.tables.fds.on_fork(r.pid, child)
        return NO_FD, None

    @updates("process_exit", touches=Touch.PROCESS | Touch.PROCESS_FDS)
    def _exit(self, r: KernelRecord, path: bytes | None) -> Update:
        tables = self.tables

        def forget() -> None:
            tables.processes.on_exit(r.pid)
            tables.fds.on_exit(r.pid)

        return NO_FD, forget

    @updates("openat", "open", "openat2", "creat", touches=Touch.FD_RET)
    def _openat(self, r: KernelRecord, path: bytes | None) -> Update:
        if r.ret < 0:
            return NO_FD, None
        flags = r.arg1
        info = FdInfo(
            type=event_pb2.FD_TYPE_DIRECTORY if flags & O_DIRECTORY else event_pb2.FD_TYPE_FILE,
            path=c_string(path),
            cloexec=bool(flags & O_CLOEXEC),
        )
        self.tables.fds.set(r.pid, r.ret, info)
        return r.ret, None

    @updates("close", touches=Touch.FD_ARG0 | Touch.ON_ZERO)
    def _close(self, r: KernelRecord, path: bytes | None) -> Update:
        fd = signed(r.arg0, 32)
        if fd < 0:
            return NO_FD, None
        if r.ret != 0:
            return fd, None
        pid, fds = r.pid, self.tables.fds
        return fd, lambda: fds.remove(pid, fd)

    @updates("socket", touches=Touch.FD_RET)
    def _socket(self, r: KernelRecord, path: bytes | None) -> Update:
        if r.ret < 0:
            return NO_FD, None
        family, sock_type = r.arg0, r.arg1
        info = FdInfo(
            type=family_fd_type(family),
            protocol=socket_protocol(family, sock_type),
            cloexec=bool(sock_type & SOCK_CLOEXEC),
        )
        self.tables.fds.set(r.pid, r.ret, info)
        return r.ret, None

    @updates("connect", touches=Touch.FD_ARG0 | Touch.READS_ARG0)
    def _connect(self, r: KernelRecord, path: bytes | None) -> Update:
        fd = signed(r.arg0, 32)
        if fd < 0:
            return NO_FD, None
        fds = self.tables.fds
        old = fds.get(r.pid, fd)
        info = dataclasses.replace(old, role=event_pb2.SOCKET_ROLE_CLIENT, listen_local=None)
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
            info.unix_path = sun_path(path)
        fds.set(r.pid, fd, info)
        return fd, None

    @updates("bind", touches=Touch.FD_ARG0 | Touch.READS_ARG0 | Touch.ON_ZERO)
    def _bind(self, r: KernelRecord, path: bytes | None) -> Update:
        """A bound socket's local end: its source until it connects, and the
        server end of connections accepted on it."""
        fd = signed(r.arg0, 32)
        if fd < 0 or r.ret != 0:
            return (NO_FD if fd < 0 else fd), None
        fds = self.tables.fds
        info = dataclasses.replace(fds.get(r.pid, fd))
        if r.family in (AF_INET, AF_INET6):
            if info.type in (event_pb2.FD_TYPE_UNSPECIFIED, event_pb2.FD_TYPE_OTHER_SOCKET):
                info.type = family_fd_type(r.family)
            info.source = info.listen_local = destination_endpoint(r)
        elif r.family == AF_UNIX:
            info.type = event_pb2.FD_TYPE_UNIX_SOCKET
            info.unix_path = sun_path(path)
        fds.set(r.pid, fd, info)
        return fd, None

    @updates("listen", touches=Touch.FD_ARG0 | Touch.READS_ARG0 | Touch.ON_ZERO)
    def _listen(self, r: KernelRecord, path: bytes | None) -> Update:
        fd = signed(r.arg0, 32)
        if fd < 0 or r.ret != 0:
            return (NO_FD if fd < 0 else fd), None
        fds = self.tables.fds
        old = fds.get(r.pid, fd)
        listen_local = source_endpoint(r) or old.listen_local or old.source
        info = dataclasses.replace(
            old, role=event_pb2.SOCKET_ROLE_SERVER, source=None, listen_local=listen_local
        )
        if not info.protocol and info.type in _IP_SOCKETS:
            info.protocol = event_pb2.L4_PROTOCOL_TCP  # listen() implies a stream socket
        fds.set(r.pid, fd, info)
        return fd, None

    @updates("tcp_state_change", touches=Touch.FD_ARG0 | Touch.READS_ARG0)
    def _tcp_state_change(self, r: KernelRecord, path: bytes | None) -> Update:
        """A non-blocking connect completed: its socket's client end is
        known now (the record's local end)."""
        fd = signed(r.arg0, 32)
        if not r.pid or fd < 0:
            return NO_FD, None
        if (r.arg1, r.arg2) != (TCP_SYN_SENT, TCP_ESTABLISHED):
            return fd, None
        fds = self.tables.fds
        info = dataclasses.replace(fds.get(r.pid, fd), role=event_pb2.SOCKET_ROLE_CLIENT)
        if info.type in (event_pb2.FD_TYPE_UNSPECIFIED, event_pb2.FD_TYPE_OTHER_SOCKET):
            info.type = family_fd_type(r.family)
        info.protocol = event_pb2.L4_PROTOCOL_TCP
        info.source = source_endpoint(r)
        info.destination = info.destination or destination_endpoint(r)
        fds.set(r.pid, fd, info)
        return fd, None

    @updates("accept", "accept4", touches=Touch.FD_RET | Touch.READS_ARG0)
    def _accept(self, r: KernelRecord, path: bytes | None) -> Update:
        if r.ret < 0:
            return NO_FD, None
        fds = self.tables.fds
        listener = fds.get(r.pid, signed(r.arg0, 32))
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
            unix_path=sun_path(path) or listener.unix_path,
            cloexec=r.event_id == self._accept4 and bool(r.arg1 & SOCK_CLOEXEC),
        )
        fds.set(r.pid, r.ret, info)
        return r.ret, None

    @updates("dup", "dup2", "dup3", touches=Touch.FD_RET | Touch.READS_ARG0)
    def _dup(self, r: KernelRecord, path: bytes | None) -> Update:
        if r.ret < 0:
            return NO_FD, None
        fds = self.tables.fds
        old = fds.get(r.pid, signed(r.arg0, 32))
        cloexec = r.event_id == self._dup3 and bool(r.arg2 & O_CLOEXEC)
        fds.set(r.pid, r.ret, dataclasses.replace(old, cloexec=cloexec))
        return r.ret, None

    @updates("pipe", "pipe2", "socketpair", touches=Touch.FD_ARG0 | Touch.FD_ARG1 | Touch.ON_ZERO)
    def _fd_pair(self, r: KernelRecord, path: bytes | None) -> Update:
        """pipe, pipe2 and socketpair: two new fds in arg0 and arg1."""
        if r.ret != 0:
            return NO_FD, None
        first, second = signed(r.arg0, 32), signed(r.arg1, 32)
        if r.event_id == self._socketpair:
            info = FdInfo(
                type=family_fd_type(r.family),
                protocol=socket_protocol(r.family, r.arg2),
                cloexec=bool(r.arg2 & SOCK_CLOEXEC),
            )
        else:
            info = FdInfo(type=event_pb2.FD_TYPE_PIPE, cloexec=bool(r.arg2 & O_CLOEXEC))
        fds = self.tables.fds
        fds.set(r.pid, first, info)
        fds.set(r.pid, second, info)
        return first, None

    @updates("close_range", touches=Touch.PROCESS_FDS)
    def _close_range(self, r: KernelRecord, path: bytes | None) -> Update:
        if r.ret != 0:
            return NO_FD, None
        first, last, flags = r.arg0 & _U32, r.arg1 & _U32, r.arg2 & _U32
        pid, fds = r.pid, self.tables.fds

        def close() -> None:
            fds.close_range(pid, first, last, cloexec_only=bool(flags & CLOSE_RANGE_CLOEXEC))

        return NO_FD, close
