"""The transport seam: what every kernel buffer reader offers the driver.

Records come in two fixed sizes (record.RECORD_SIZE and LONG_RECORD_SIZE),
each through buffers of its own, so a drain of one buffer is a run of
equal-sized records that one numpy view decodes. A transport drains all its
buffers at once and hands back the records in buffer order; the driver merges
them into timestamp order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from kindling.server.record import (
    LONG_RECORD_SIZE,
    PATH_MAX,
    RECORD_DTYPE,
    RECORD_SIZE,
    Paths,
    Records,
    concatenate,
    from_rows,
)

RawRows = npt.NDArray[np.uint8]  # (n, record size) bytes, one record per row


class TransportError(Exception):
    """A kernel buffer holds something the reader cannot make sense of."""


@dataclass
class Drain:
    """What one drain of every buffer held."""

    records: Records
    paths: Paths
    # Records the kernel reported lost in the buffers themselves (perf LOST
    # records); the kernel counters count every loss either way.
    buffer_lost: int = 0

    def __len__(self) -> int:
        return len(self.records)


class Transport(Protocol):
    """A reader of the kernel buffers of one kind."""

    name: str  # as GetInfo reports it: "ring_buffer" or "perf_buffer"

    def fds(self) -> list[int]:
        """File descriptors that become readable when the kernel wakes the reader."""
        ...

    def drain(self) -> Drain:
        """Take everything the buffers hold now (each buffer at most once)."""
        ...

    def close(self) -> None: ...


def decode(short: list[RawRows], long: list[RawRows]) -> Drain:
    """Records from rows of raw short and long records (any number of buffers)."""
    short_rows = [r for r in short if len(r)]
    long_rows = [r for r in long if len(r)]
    parts: list[Records] = [from_rows(r) for r in short_rows]
    n_short = sum(len(r) for r in short_rows)
    lengths: list[int] = []
    strings = None
    if long_rows:
        both = long_rows[0] if len(long_rows) == 1 else np.concatenate(long_rows)
        head = from_rows(both)
        parts.append(head)
        lengths = np.minimum(head["path_len"], PATH_MAX).tolist()
        strings = both[:, RECORD_SIZE:LONG_RECORD_SIZE]
    if not parts:
        records = np.empty(0, dtype=RECORD_DTYPE)
    else:
        records = parts[0] if len(parts) == 1 else concatenate(parts)
    paths: Paths = np.full(len(records), None, dtype=object)
    if strings is not None:
        paths[n_short:] = [
            strings[i, :length].tobytes() if length else None for i, length in enumerate(lengths)
        ]
    return Drain(records, paths)
