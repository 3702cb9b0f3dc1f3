"""Build kernel records the way the eBPF programs lay them out, for tests that
exercise the pipeline without the kernel (the kernel tests cover the real
programs). Fields are the spec's (kindling.server.record.KernelRecord): any
of them can be given by name."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import numpy as np

from kindling.server.catalog import CATALOG
from kindling.server.drivers.base import RecordBatch
from kindling.server.record import DATA, PATH, RECORD_DTYPE, KernelRecord, RecordFlag, no_tails

DEFAULTS: dict[str, Any] = {"pid": 100, "comm": b"app", "cgroup_id": 1}


class Rec:
    """One record: an event name, a timestamp, a path for long records, data
    for data records, and any record fields (addresses as text); the thread
    id defaults to the pid."""

    def __init__(
        self,
        event: str,
        ts: int,
        *,
        path: bytes | None = None,
        data: bytes | None = None,
        **fields: Any,
    ) -> None:
        unknown = set(fields) - set(KernelRecord._fields)
        if unknown:
            raise TypeError(f"not record fields: {sorted(unknown)}")
        self.event = event
        self.path = path
        self.data = data
        self.fields = {**DEFAULTS, **fields, "ts": ts}

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        if name in KernelRecord._fields:
            return 0
        raise AttributeError(name)


def _addr(text: str) -> bytes:
    if not text:
        return bytes(16)
    return ipaddress.ip_address(text).packed.ljust(16, b"\0")


def to_batch(recs: Sequence[Rec], kernel_lost: int = 0) -> RecordBatch:
    records = np.zeros(len(recs), dtype=RECORD_DTYPE)
    for i, r in enumerate(recs):
        row = records[i]
        for name, value in r.fields.items():
            if name in ("saddr", "daddr"):
                row[name] = np.void(_addr(value))
            elif isinstance(value, int) and RECORD_DTYPE[name].kind == "u":
                row[name] = value & (2 ** (8 * RECORD_DTYPE[name].itemsize) - 1)
            else:
                row[name] = value
        row["tid"] = r.fields.get("tid") or r.fields["pid"]
        row["event_id"] = CATALOG.by_name[r.event].id
        if r.path is not None:
            row["flags"] |= RecordFlag.HAS_PATH
            row["path_len"] = len(r.path)
        if r.data is not None:
            row["data_len"] = len(r.data)
    tails = no_tails(len(recs))
    tails[:, PATH] = [r.path for r in recs]
    tails[:, DATA] = [r.data for r in recs]
    return RecordBatch(records, tails, kernel_lost=kernel_lost)
