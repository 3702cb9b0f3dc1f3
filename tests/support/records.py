"""Build kernel records the way the eBPF programs lay them out, for tests that
exercise the pipeline without the kernel (the kernel tests cover the real
programs)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kindling.server.catalog import CATALOG
from kindling.server.drivers.base import RecordBatch
from kindling.server.drivers.records import RECORD_DTYPE


@dataclass
class Rec:
    event: str
    ts: int
    pid: int = 100
    tid: int = 0
    ret: int = 0
    latency_ns: int = 0
    arg0: int = 0
    arg1: int = 0
    arg2: int = 0
    family: int = 0
    flags: int = 0
    sport: int = 0
    dport: int = 0
    saddr: str = ""
    daddr: str = ""
    comm: bytes = b"app"
    uid: int = 0
    gid: int = 0
    cpu: int = 0
    cgroup_id: int = 1
    path: bytes | None = None
    extra: dict[str, int] = field(default_factory=dict)


def _addr(text: str) -> bytes:
    if not text:
        return bytes(16)
    return ipaddress.ip_address(text).packed.ljust(16, b"\0")


def to_batch(recs: Sequence[Rec], kernel_lost: int = 0) -> RecordBatch:
    records = np.zeros(len(recs), dtype=RECORD_DTYPE)
    for i, r in enumerate(recs):
        row = records[i]
        row["ts"] = r.ts
        row["latency_ns"] = r.latency_ns
        row["ret"] = r.ret
        row["cgroup_id"] = r.cgroup_id
        row["arg0"] = r.arg0 & (2**64 - 1)
        row["arg1"] = r.arg1 & (2**64 - 1)
        row["arg2"] = r.arg2 & (2**64 - 1)
        row["pid"] = r.pid
        row["tid"] = r.tid or r.pid
        row["uid"] = r.uid
        row["gid"] = r.gid
        row["event_id"] = CATALOG.by_name[r.event].id
        row["cpu"] = r.cpu
        row["family"] = r.family
        row["flags"] = r.flags | (0x02 if r.path is not None else 0)
        row["sport"] = r.sport
        row["dport"] = r.dport
        row["path_len"] = len(r.path) if r.path is not None else 0
        row["saddr"] = np.void(_addr(r.saddr))
        row["daddr"] = np.void(_addr(r.daddr))
        row["comm"] = r.comm
    paths = np.array([r.path for r in recs] + [None], dtype=object)[:-1]
    return RecordBatch(records, paths, kernel_lost=kernel_lost)
