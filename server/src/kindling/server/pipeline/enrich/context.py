"""What each row's thread and fd context say, as plain column values for
subscriber filters (the encoded Event.thread and Event.fd pieces carry the
same facts for the wire).

Local and remote ends follow the socket's role: a client's local end is the
connection's source, a server's its destination. Addresses are 16 bytes,
IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), all zeros when unknown.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from kindling.event.v1 import event_pb2
from kindling.server.pipeline.encode.batch import ANCESTRY_DEPTH
from kindling.server.pipeline.enrich.tables import Endpoint, FdInfo, ProcessInfo
from kindling.server.pipeline.text import AF_INET, AF_INET6

NO_ADDRESS = bytes(16)


@lru_cache(maxsize=4096)
def address_bytes(text: str) -> bytes:
    """An address as 16 bytes (IPv4 mapped into IPv6), zeros if not one."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return NO_ADDRESS
    if isinstance(address, ipaddress.IPv4Address):
        return bytes(10) + b"\xff\xff" + address.packed
    return address.packed


_NO_PROCESS = ProcessInfo()
_NO_FD = FdInfo()
_FD_COLUMNS = (
    "fd_type",
    "protocol",
    "local_port",
    "remote_port",
    "local_address",
    "remote_address",
)


def _fd_columns(infos: Sequence[FdInfo]) -> tuple[npt.NDArray[Any], ...]:
    """The fd columns of each info, one array per name of _FD_COLUMNS."""
    n = len(infos)
    types = np.zeros(n, dtype=np.uint8)
    protocols = np.zeros(n, dtype=np.uint8)
    ports = np.zeros((2, n), dtype=np.uint16)
    addresses = np.zeros((2, n, 16), dtype=np.uint8)
    for k, info in enumerate(infos):
        types[k], protocols[k] = info.type, info.protocol
        for side, end in enumerate(_ends(info)):
            if end is not None:
                ports[side, k] = end[1]
                addresses[side, k] = address_array(end[0])
    return types, protocols, ports[0], ports[1], addresses[0], addresses[1]


@lru_cache(maxsize=4096)
def address_array(text: str) -> npt.NDArray[np.uint8]:
    """address_bytes() as a (read-only) array of 16 bytes."""
    array = np.frombuffer(address_bytes(text), dtype=np.uint8)
    return array


def _ends(info: FdInfo) -> tuple[Endpoint | None, Endpoint | None]:
    if info.role == event_pb2.SOCKET_ROLE_SERVER:
        return info.destination, info.source
    return info.source, info.destination


class RowContext:
    """Per row of a batch, the context values filters read."""

    def __init__(self, rows: int) -> None:
        self.ppid = np.zeros(rows, dtype=np.uint32)
        # Parent, grandparent, ...: zero beyond what is known.
        self.ancestors = np.zeros((rows, ANCESTRY_DEPTH), dtype=np.uint32)
        self.exe = np.full(rows, "", dtype=object)
        self.container_id = np.full(rows, "", dtype=object)
        self.fd_type = np.zeros(rows, dtype=np.uint8)
        self.protocol = np.zeros(rows, dtype=np.uint8)
        self.local_port = np.zeros(rows, dtype=np.uint16)
        self.remote_port = np.zeros(rows, dtype=np.uint16)
        self.local_address = np.zeros((rows, 16), dtype=np.uint8)
        self.remote_address = np.zeros((rows, 16), dtype=np.uint8)

    def set_process(self, row: int, info: ProcessInfo, ancestors: tuple[int, ...]) -> None:
        self.ppid[row] = info.ppid
        self.ancestors[row, : len(ancestors)] = ancestors
        self.exe[row] = info.exe
        self.container_id[row] = info.container_id

    def set_fd(self, row: int, info: FdInfo) -> None:
        # One row at a time (state events): scalars, no arrays to build.
        self.fd_type[row] = info.type
        self.protocol[row] = info.protocol
        if info.source is None and info.destination is None:
            return
        local, remote = _ends(info)
        if local is not None:
            self.local_port[row] = local[1]
            self.local_address[row] = address_array(local[0])
        if remote is not None:
            self.remote_port[row] = remote[1]
            self.remote_address[row] = address_array(remote[0])

    def set_processes(
        self,
        rows: npt.NDArray[np.intp],
        which: npt.NDArray[np.intp],
        infos: Sequence[ProcessInfo | None],
        lineages: Sequence[tuple[int, ...]],
    ) -> None:
        """rows[k] is in process infos[which[k]] (None: no thread), whose
        ancestors are lineages[which[k]]."""
        known = [i or _NO_PROCESS for i in infos]
        chains = np.zeros((len(infos), ANCESTRY_DEPTH), dtype=np.uint32)
        for k, chain in enumerate(lineages):
            chains[k, : len(chain)] = chain
        self.ancestors[rows] = chains[which]
        self.ppid[rows] = np.array([i.ppid for i in known], dtype=np.uint32)[which]
        self.exe[rows] = np.array([i.exe for i in known] + [""], dtype=object)[:-1][which]
        self.container_id[rows] = np.array([i.container_id for i in known] + [""], dtype=object)[
            :-1
        ][which]

    def set_fds(
        self,
        rows: npt.NDArray[np.intp],
        which: npt.NDArray[np.intp],
        infos: Sequence[FdInfo | None],
    ) -> None:
        """rows[k] uses the fd infos[which[k]]."""
        columns = _fd_columns([i or _NO_FD for i in infos])
        for name, values in zip(_FD_COLUMNS, columns, strict=True):
            getattr(self, name)[rows] = values[which]

    def set_ends(
        self,
        rows: npt.NDArray[np.intp],
        local: tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint16]] | None,
        remote: tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint16]] | None,
    ) -> None:
        """Ends the records carry themselves (TCP events, a datagram's peer),
        as (16-byte addresses, ports), for rows that have no fd ends."""
        if local is not None:
            self.local_address[rows], self.local_port[rows] = local
        if remote is not None:
            self.remote_address[rows], self.remote_port[rows] = remote


def mapped_addresses(
    family: npt.NDArray[np.uint16], raw: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint8]:
    """Records' 16-byte address fields (IPv4 in the first 4 bytes) as
    16-byte addresses with IPv4 mapped into IPv6."""
    out = np.zeros((len(family), 16), dtype=np.uint8)
    v4 = family == AF_INET
    out[v4, 10:12] = 0xFF
    out[v4, 12:] = raw[v4, :4]
    v6 = family == AF_INET6
    out[v6] = raw[v6]
    return out
