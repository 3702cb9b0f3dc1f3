"""Thread and file descriptor tables.

The kernel records carry only what the eBPF programs can see cheaply: ids,
comm, a syscall's arguments. These tables remember what the state-changing
events said (fork, exec, exit; openat, socket, connect, accept, close) so
that later events can carry their process and fd context. What the tables
never saw created is looked up once in /proc.

Each entry caches its encoded sub-message, so the common case costs a dict
lookup per event.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from kindling.event.v1 import event_pb2
from kindling.server.pipeline.encode import wire
from kindling.server.pipeline.encode.batch import ANCESTRY_DEPTH
from kindling.server.pipeline.enrich.procfs import (
    TCP_LISTEN,
    CgroupIndex,
    ProcessSnapshot,
    ProcFS,
    SocketEntry,
)
from kindling.server.pipeline.text import AF_INET, AF_INET6, AF_UNIX

AF_NETLINK = 16

SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
SOCK_TYPE_MASK = 0xF
SOCK_CLOEXEC = 0o2000000
O_DIRECTORY = 0o200000
O_CLOEXEC = 0o2000000

EVENT = wire.FieldNumbers(event_pb2.Event)
THREAD = wire.FieldNumbers(event_pb2.Thread)
FD = wire.FieldNumbers(event_pb2.Fd)
ENDPOINT = wire.FieldNumbers(event_pb2.Endpoint)


K = TypeVar("K")
V = TypeVar("V")


class _BoundedDict(OrderedDict[K, V]):
    """A dict that forgets its oldest entries beyond a size."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        if len(self) > self.limit:
            self.popitem(last=False)


@dataclass
class ProcessInfo:
    ppid: int = 0
    exe: str = ""
    container_id: str = ""
    # Encoded Event.thread fields by (tid, uid, gid, comm, cgroup_id), with
    # the cgroup index generation they were made in if the cgroup was unknown.
    threads: _BoundedDict[tuple[int, int, int, bytes, int], tuple[bytes, int | None]] = field(
        default_factory=lambda: _BoundedDict(4096)
    )


class ProcessTable:
    def __init__(
        self, procfs: ProcFS, cgroups: CgroupIndex | None = None, limit: int = 65536
    ) -> None:
        self._procfs = procfs
        self._cgroups = cgroups or CgroupIndex(None)
        self._processes: _BoundedDict[int, ProcessInfo] = _BoundedDict(limit)

    def get(self, pid: int) -> ProcessInfo:
        info = self._processes.get(pid)
        if info is None:
            snapshot = self._procfs.process(pid)
            info = (
                ProcessInfo(snapshot.ppid, snapshot.exe, snapshot.container_id)
                if snapshot
                else ProcessInfo()
            )
            self._processes[pid] = info
        return info

    def ancestors(self, pid: int, depth: int = ANCESTRY_DEPTH) -> tuple[int, ...]:
        """The process's parent, grandparent and so on, at most `depth`."""
        chain: list[int] = []
        ppid = self.get(pid).ppid
        while ppid and len(chain) < depth and ppid not in chain:
            chain.append(ppid)
            ppid = self.get(ppid).ppid if ppid != 1 else 0
        return tuple(chain)

    def seed(self, pid: int, snapshot: ProcessSnapshot) -> None:
        """Start a process's entry from a snapshot of /proc."""
        self._processes[pid] = ProcessInfo(snapshot.ppid, snapshot.exe, snapshot.container_id)

    def on_fork(self, parent_pid: int, child_pid: int) -> None:
        parent = self.get(parent_pid)
        self._processes[child_pid] = ProcessInfo(parent_pid, parent.exe, parent.container_id)

    def on_exec(self, pid: int, filename: str) -> None:
        old = self.get(pid)
        # The kernel's view (/proc/<pid>/exe: symlinks resolved) while the
        # process runs, as for the processes seeded from /proc, so that
        # Thread.exe does not depend on whether the service saw the exec;
        # the path the exec was given (maybe relative, maybe a symlink) once
        # the process is gone. A later exec's record corrects a race.
        exe = self._procfs.exe(pid) or filename
        self._processes[pid] = ProcessInfo(old.ppid, exe, old.container_id)

    def on_exit(self, pid: int) -> None:
        self._processes.pop(pid, None)

    def thread_field(
        self, pid: int, tid: int, uid: int, gid: int, comm: bytes, cgroup_id: int
    ) -> bytes:
        """The encoded Event.thread field for a record."""
        info = self.get(pid)
        key = (tid, uid, gid, comm, cgroup_id)
        cached = info.threads.get(key)
        if cached is not None and cached[1] is None:
            return cached[0]
        # The record's cgroup says where the thread is now; what the process
        # table remembers is only a fallback. Asking the index again for an
        # unknown cgroup is what lets it rescan (at most once per interval).
        container_id = self._cgroups.container_id(cgroup_id)
        if cached is not None and container_id is None and cached[1] == self._cgroups.generation:
            return cached[0]
        known = container_id is not None or self._cgroups.root is None
        if container_id is None:
            container_id = info.container_id
        payload = b"".join(
            (
                wire.uint_field(THREAD.pid, pid),
                wire.uint_field(THREAD.tid, tid),
                wire.uint_field(THREAD.ppid, info.ppid),
                wire.uint_field(THREAD.uid, uid),
                wire.uint_field(THREAD.gid, gid),
                wire.str_field(THREAD.comm, comm),
                wire.str_field(THREAD.exe, info.exe),
                wire.str_field(THREAD.container_id, container_id),
                wire.uint_field(THREAD.cgroup_id, cgroup_id),
            )
        )
        encoded = wire.message_field(EVENT.thread, payload)
        info.threads[key] = (encoded, None if known else self._cgroups.generation)
        return encoded


Endpoint = tuple[str, int]


@dataclass
class FdInfo:
    type: int = event_pb2.FD_TYPE_UNSPECIFIED
    path: str = ""
    protocol: int = event_pb2.L4_PROTOCOL_UNSPECIFIED
    role: int = event_pb2.SOCKET_ROLE_UNSPECIFIED
    source: Endpoint | None = None
    destination: Endpoint | None = None
    unix_path: str = ""
    cloexec: bool = False
    # Local end of a listening socket, for connections accepted on it.
    listen_local: Endpoint | None = None

    def encode(self, num: int) -> bytes:
        payload = b"".join(
            (
                wire.int_field(FD.num, num),
                wire.uint_field(FD.type, self.type),
                wire.str_field(FD.path, self.path),
                wire.uint_field(FD.protocol, self.protocol),
                wire.uint_field(FD.role, self.role),
                _endpoint_field(FD.source, self.source),
                _endpoint_field(FD.destination, self.destination),
                wire.str_field(FD.unix_path, self.unix_path),
            )
        )
        return wire.message_field(EVENT.fd, payload)


def _endpoint_field(number: int, endpoint: Endpoint | None) -> bytes:
    if endpoint is None:
        return b""
    address, port = endpoint
    payload = wire.str_field(ENDPOINT.address, address) + wire.uint_field(ENDPOINT.port, port)
    return wire.message_field(number, payload)


_FAMILY_FD_TYPES = {
    AF_INET: event_pb2.FD_TYPE_IPV4_SOCKET,
    AF_INET6: event_pb2.FD_TYPE_IPV6_SOCKET,
    AF_UNIX: event_pb2.FD_TYPE_UNIX_SOCKET,
    AF_NETLINK: event_pb2.FD_TYPE_NETLINK_SOCKET,
}
_SOCKET_PROTOCOLS = {
    SOCK_STREAM: event_pb2.L4_PROTOCOL_TCP,
    SOCK_DGRAM: event_pb2.L4_PROTOCOL_UDP,
    SOCK_RAW: event_pb2.L4_PROTOCOL_RAW,
}


def family_fd_type(family: int) -> int:
    """The fd type of a socket of an address family (AF_*)."""
    return _FAMILY_FD_TYPES.get(family, event_pb2.FD_TYPE_OTHER_SOCKET)


def socket_protocol(family: int, sock_type: int) -> int:
    """The L4 protocol of an IP socket of a type (SOCK_*, flags included)."""
    if family not in (AF_INET, AF_INET6):
        return event_pb2.L4_PROTOCOL_UNSPECIFIED
    return _SOCKET_PROTOCOLS.get(sock_type & SOCK_TYPE_MASK, event_pb2.L4_PROTOCOL_UNSPECIFIED)


_ANON_TYPES = {
    "anon_inode:[eventfd]": event_pb2.FD_TYPE_EVENTFD,
    "anon_inode:[eventpoll]": event_pb2.FD_TYPE_EVENTPOLL,
    "anon_inode:inotify": event_pb2.FD_TYPE_INOTIFY,
    "anon_inode:[timerfd]": event_pb2.FD_TYPE_TIMERFD,
    "anon_inode:[signalfd]": event_pb2.FD_TYPE_SIGNALFD,
}


class FdTable:
    """File descriptors per process, with their encoded Event.fd fields.

    While `frozen`, the table changes nothing and caches nothing: events of
    processes it does not keep complete (outside its scope) only look up."""

    def __init__(self, procfs: ProcFS, limit: int = 65536) -> None:
        self.frozen = False
        self._procfs = procfs
        self._by_pid: _BoundedDict[int, dict[int, FdInfo]] = _BoundedDict(limit)
        # pid -> fd -> (encoded field, fd type); dropped whenever the FdInfo changes.
        self._encoded: _BoundedDict[int, dict[int, tuple[bytes, FdInfo]]] = _BoundedDict(limit)

    def _fds(self, pid: int) -> dict[int, FdInfo]:
        fds = self._by_pid.get(pid)
        if fds is None:
            fds = self._by_pid[pid] = {}
        return fds

    def get(self, pid: int, fd: int) -> FdInfo:
        if self.frozen:
            found = self._by_pid.get(pid, {}).get(fd)
            return found if found is not None else (self._resolve(pid, fd) or FdInfo())
        fds = self._fds(pid)
        info = fds.get(fd)
        if info is None:
            info = self._resolve(pid, fd)
            if info is None:
                info = FdInfo()
                if self._procfs.alive(pid):
                    # Not open now: remember nothing, so whatever a syscall the
                    # probe does not trace opens there later is looked up afresh.
                    return info
                # The process is gone: nothing will ever be open there again.
            fds[fd] = info
        return info

    def set(self, pid: int, fd: int, info: FdInfo) -> None:
        if self.frozen:
            return
        self._fds(pid)[fd] = info
        self._forget_encoded(pid, fd)

    def remove(self, pid: int, fd: int) -> None:
        if self.frozen:
            return
        fds = self._by_pid.get(pid)
        if fds is not None:
            fds.pop(fd, None)
        self._forget_encoded(pid, fd)

    def _forget_encoded(self, pid: int, fd: int) -> None:
        encoded = self._encoded.get(pid)
        if encoded is not None:
            encoded.pop(fd, None)

    def context(self, pid: int, fd: int) -> tuple[bytes, FdInfo]:
        """The encoded Event.fd field and what the table knows of the fd."""
        encoded = self._encoded.get(pid)
        if encoded is None:
            encoded = self._encoded[pid] = {}
        found = encoded.get(fd)
        if found is None:
            info = self.get(pid, fd)
            found = (info.encode(fd), info)
            if fd in self._by_pid.get(pid, {}):
                encoded[fd] = found
        return found

    def close_range(self, pid: int, first: int, last: int, *, cloexec_only: bool) -> None:
        """close_range(first, last): forget those fds, or mark them close-on-exec."""
        fds = self._by_pid.get(pid)
        if not fds or self.frozen:
            return
        for fd in [fd for fd in fds if first <= fd <= last]:
            if cloexec_only:
                fds[fd] = dataclasses.replace(fds[fd], cloexec=True)
            else:
                del fds[fd]
            self._forget_encoded(pid, fd)

    def on_fork(self, parent_pid: int, child_pid: int) -> None:
        # fork() duplicates the descriptor table: copy the mapping (entries are
        # replaced, never changed in place, so they can be shared).
        if self.frozen:
            return
        parent = self._by_pid.get(parent_pid)
        self._by_pid[child_pid] = dict(parent) if parent else {}
        self._encoded.pop(child_pid, None)

    def on_exec(self, pid: int) -> None:
        if self.frozen:
            return
        fds = self._by_pid.get(pid)
        if fds:
            for fd in [fd for fd, info in fds.items() if info.cloexec]:
                del fds[fd]
        self._encoded.pop(pid, None)

    def on_exit(self, pid: int) -> None:
        if self.frozen:
            return
        self._by_pid.pop(pid, None)
        self._encoded.pop(pid, None)

    def seed(self, pid: int, fds: dict[int, FdInfo]) -> None:
        """Start a process's table from a snapshot of its open fds."""
        if self.frozen:
            return
        self._by_pid[pid] = dict(fds)
        self._encoded.pop(pid, None)

    # -- lazy resolution from /proc ------------------------------------------

    def _resolve(self, pid: int, fd: int) -> FdInfo | None:
        return resolve_fd(self._procfs, pid, fd)


@dataclass
class TableSeed:
    """What /proc said of some processes when the kernel started capturing
    their events: the tables start from it, so context is right even for a
    process that exits before the first of its events is processed."""

    processes: dict[int, ProcessSnapshot] = field(default_factory=dict)
    fds: dict[int, dict[int, FdInfo]] = field(default_factory=dict)

    @classmethod
    def take(cls, procfs: ProcFS, process_pids: Iterable[int], fd_pids: Iterable[int]) -> TableSeed:
        seed = cls()
        for pid in process_pids:
            snapshot = procfs.process(pid)
            if snapshot is not None:
                seed.processes[pid] = snapshot
        for pid in fd_pids:
            if pid in seed.processes:
                seed.fds[pid] = snapshot_fds(procfs, pid)
        return seed


def resolve_fd(
    procfs: ProcFS, pid: int, fd: int, sockets: dict[int, SocketEntry] | None = None
) -> FdInfo | None:
    """What /proc says a process's fd is now (None when it is not open).
    `sockets` is the process's socket table, when the caller has read it."""
    target = procfs.fd_target(pid, fd)
    if target is None:
        return None
    if target.startswith("/"):
        is_dir = procfs.is_directory(pid, fd)
        return FdInfo(
            type=event_pb2.FD_TYPE_DIRECTORY if is_dir else event_pb2.FD_TYPE_FILE,
            path=target.removesuffix(" (deleted)"),
        )
    if target.startswith("pipe:"):
        return FdInfo(type=event_pb2.FD_TYPE_PIPE)
    if target.startswith("socket:["):
        inode = int(target[len("socket:[") : -1])
        return _resolve_socket(procfs.sockets(pid) if sockets is None else sockets, inode)
    return FdInfo(type=_ANON_TYPES.get(target, event_pb2.FD_TYPE_OTHER))


def snapshot_fds(procfs: ProcFS, pid: int) -> dict[int, FdInfo]:
    """Every fd a process has open now, as /proc describes it."""
    numbers = procfs.fds(pid)
    sockets: dict[int, SocketEntry] | None = None
    found: dict[int, FdInfo] = {}
    for fd in numbers:
        if sockets is None and (procfs.fd_target(pid, fd) or "").startswith("socket:["):
            sockets = procfs.sockets(pid)
        info = resolve_fd(procfs, pid, fd, sockets)
        if info is not None:
            found[fd] = info
    return found


def _resolve_socket(sockets: dict[int, SocketEntry], inode: int) -> FdInfo:
    entry = sockets.get(inode)
    if entry is None:
        return FdInfo(type=event_pb2.FD_TYPE_OTHER_SOCKET)
    if entry.kind == "unix":
        return FdInfo(type=event_pb2.FD_TYPE_UNIX_SOCKET, unix_path=entry.unix_path)
    info = FdInfo(
        type=family_fd_type(entry.family),
        protocol=event_pb2.L4_PROTOCOL_TCP if entry.kind == "tcp" else event_pb2.L4_PROTOCOL_UDP,
    )
    if entry.kind == "tcp" and entry.state == TCP_LISTEN:
        info.listen_local = entry.local
        info.role = event_pb2.SOCKET_ROLE_SERVER
        return info
    if entry.remote[1] == 0:
        info.source = entry.local
        return info
    if _is_server_side(entry, sockets.values()):
        info.role = event_pb2.SOCKET_ROLE_SERVER
        info.source, info.destination = entry.remote, entry.local
    else:
        info.role = event_pb2.SOCKET_ROLE_CLIENT
        info.source, info.destination = entry.local, entry.remote
    return info


def _is_server_side(entry: SocketEntry, all_sockets: Iterable[SocketEntry]) -> bool:
    """A connection is the server's when something listens on its local port."""
    for other in all_sockets:
        if (
            other.kind == entry.kind
            and other.state == TCP_LISTEN
            and other.local[1] == entry.local[1]
        ):
            return True
    return False


class Tables:
    """The thread and fd tables of one builder. Either starts afresh when the
    scope it keeps context for narrows (its entries could go stale)."""

    def __init__(self, procfs: ProcFS, cgroups: CgroupIndex) -> None:
        self.procfs = procfs
        self.cgroups = cgroups
        self.processes = ProcessTable(procfs, cgroups)
        self.fds = FdTable(procfs)

    def reset_threads(self) -> None:
        self.processes = ProcessTable(self.procfs, self.cgroups)

    def reset_fds(self) -> None:
        self.fds = FdTable(self.procfs)

    def seed(self, seed: TableSeed) -> None:
        for pid, process in seed.processes.items():
            self.processes.seed(pid, process)
        for pid, fds in seed.fds.items():
            self.fds.seed(pid, fds)
