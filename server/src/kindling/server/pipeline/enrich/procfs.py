"""Reads from /proc for what the kernel records do not carry.

Used lazily, once per process or file descriptor the pipeline has not seen
created (it existed before the probe started, or its creation was lost):
parent pid, executable and container of a process; what a file descriptor
refers to, including a socket's addresses. A process that is already gone
yields None; callers cache that too.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

# A 64-hex container id in a cgroup path: docker-<id>.scope, /docker/<id>,
# cri-containerd-<id>.scope, crio-<id>.scope, libpod-<id>.scope, ...
_CONTAINER_ID = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])")

TCP_LISTEN = 0x0A


@dataclass(frozen=True)
class ProcessSnapshot:
    ppid: int
    exe: str
    container_id: str


@dataclass(frozen=True)
class SocketEntry:
    """One row of /proc/<pid>/net/{tcp,tcp6,udp,udp6,unix}."""

    kind: str  # "tcp", "udp" or "unix"
    family: int  # socket.AF_*
    local: tuple[str, int]
    remote: tuple[str, int]
    state: int
    unix_path: str = ""


def container_id_from_cgroup(text: str) -> str:
    """The short (12 hex digit) container id in /proc/<pid>/cgroup text, or ""."""
    found = _CONTAINER_ID.findall(text)
    return found[-1][:12] if found else ""


def _hex_ipv4(text: str) -> str:
    return str(ipaddress.IPv4Address(bytes.fromhex(text)[::-1]))


def _hex_ipv6(text: str) -> str:
    raw = bytes.fromhex(text)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(words))


def _parse_endpoint(text: str, ipv6: bool) -> tuple[str, int]:
    address, port = text.split(":")
    return (_hex_ipv6(address) if ipv6 else _hex_ipv4(address)), int(port, 16)


def cgroup2_mount(mountinfo: Path = Path("/proc/self/mountinfo")) -> Path | None:
    """Where the unified (v2) cgroup hierarchy is mounted, if it is."""
    try:
        lines = mountinfo.read_text(errors="surrogateescape").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(" - ", 1)
        if len(fields) == 2 and fields[1].split(" ", 1)[0] == "cgroup2":
            return Path(fields[0].split()[4])
    return None


class CgroupIndex:
    """Container ids by cgroup v2 id, the id eBPF records carry.

    A cgroup's id is the inode number of its directory in the cgroup2 mount,
    so the index is a walk of that tree, repeated (at most once per
    `rescan_seconds`) when a record names a cgroup it has not seen. This
    follows a process that moved into a container's cgroup after it was
    forked (as container runtimes do), and works after the process is gone.
    """

    def __init__(self, root: Path | None, rescan_seconds: float = 1.0) -> None:
        self.root = root
        self._rescan_seconds = rescan_seconds
        self._container_ids: dict[int, str] = {}
        self._scanned_at = -rescan_seconds
        # Grows with every scan: an answer of None may change after the next.
        self.generation = 0

    def container_id(self, cgroup_id: int) -> str | None:
        """The container id ("" outside containers), or None if unknown."""
        found = self._container_ids.get(cgroup_id)
        if found is None and self.root is not None:
            now = time.monotonic()
            if now - self._scanned_at >= self._rescan_seconds:
                self._scanned_at = now
                self._scan(self.root)
                found = self._container_ids.get(cgroup_id)
        return found

    def _scan(self, root: Path) -> None:
        found: dict[int, str] = {}
        for directory, _, _ in os.walk(root):
            try:
                inode = os.stat(directory).st_ino
            except OSError:
                continue  # removed while walking
            found[inode] = container_id_from_cgroup(directory)
        self._container_ids = found
        self.generation += 1


class ProcFS:
    def __init__(self, root: Path = Path("/proc")) -> None:
        self.root = root

    def exe(self, pid: int) -> str:
        """The process's executable path ("" for kernel threads and processes
        that are gone)."""
        try:
            exe = os.readlink(self.root / str(pid) / "exe")
        except OSError:
            return ""
        return exe.removesuffix(" (deleted)")

    def process(self, pid: int) -> ProcessSnapshot | None:
        base = self.root / str(pid)
        try:
            stat = (base / "stat").read_text(errors="surrogateescape")
        except OSError:
            return None
        # The command name may hold spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        ppid = int(fields[1]) if len(fields) > 1 else 0
        exe = self.exe(pid)
        try:
            container_id = container_id_from_cgroup(
                (base / "cgroup").read_text(errors="surrogateescape")
            )
        except OSError:
            container_id = ""
        return ProcessSnapshot(ppid=ppid, exe=exe, container_id=container_id)

    def alive(self, pid: int) -> bool:
        return (self.root / str(pid)).is_dir()

    def pids(self) -> list[int]:
        """Every process now."""
        try:
            return [int(name) for name in os.listdir(self.root) if name.isdigit()]
        except OSError:
            return []

    def fds(self, pid: int) -> list[int]:
        """The fds a process has open now (none once it is gone)."""
        try:
            return sorted(int(name) for name in os.listdir(self.root / str(pid) / "fd"))
        except OSError:
            return []

    def fd_target(self, pid: int, fd: int) -> str | None:
        """What /proc/<pid>/fd/<fd> points to: a path, "socket:[inode]", ..."""
        try:
            return os.readlink(self.root / str(pid) / "fd" / str(fd))
        except OSError:
            return None

    def is_directory(self, pid: int, fd: int) -> bool:
        try:
            return (self.root / str(pid) / "fd" / str(fd)).is_dir()
        except OSError:
            return False

    def sockets(self, pid: int) -> dict[int, SocketEntry]:
        """Every socket in the process's network namespace, by inode."""
        found: dict[int, SocketEntry] = {}
        net = self.root / str(pid) / "net"
        for name, kind, family, ipv6 in (
            ("tcp", "tcp", 2, False),
            ("tcp6", "tcp", 10, True),
            ("udp", "udp", 2, False),
            ("udp6", "udp", 10, True),
        ):
            try:
                lines = (net / name).read_text(errors="surrogateescape").splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                cols = line.split()
                if len(cols) < 10:
                    continue
                found[int(cols[9])] = SocketEntry(
                    kind=kind,
                    family=family,
                    local=_parse_endpoint(cols[1], ipv6),
                    remote=_parse_endpoint(cols[2], ipv6),
                    state=int(cols[3], 16),
                )
        try:
            lines = (net / "unix").read_text(errors="surrogateescape").splitlines()[1:]
        except OSError:
            lines = []
        for line in lines:
            cols = line.split(maxsplit=7)
            if len(cols) < 7:
                continue
            found[int(cols[6])] = SocketEntry(
                kind="unix",
                family=1,
                local=("", 0),
                remote=("", 0),
                state=int(cols[5], 16),
                unix_path=cols[7].strip() if len(cols) > 7 else "",
            )
        return found
