"""The transport seam: what every kernel buffer reader offers the driver.

Records come in three classes of fixed size (record.py: short, long and
data records), each through buffers of its own, so a drain of one buffer is
a run of equal-sized records that one numpy view decodes. A transport drains
all its buffers at once and hands back the records in buffer order; the
driver merges them into timestamp order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from kindling.server.record import (
    DATA,
    LONG_RECORD_SIZE,
    PATH,
    PATH_MAX,
    RECORD_DTYPE,
    RECORD_SIZE,
    Records,
    Tails,
    concatenate,
    data_record_size,
    from_rows,
    no_tails,
)

RawRows = npt.NDArray[np.uint8]  # (n, record size) bytes, one record per row


class TransportError(Exception):
    """A kernel buffer holds something the reader cannot make sense of."""


@dataclass(frozen=True)
class RecordSizes:
    """The sizes of the three record classes, in buffer order (short, long,
    data), for programs compiled with a data area of `data_capacity` bytes."""

    data_capacity: int

    @property
    def sizes(self) -> tuple[int, int, int]:
        return RECORD_SIZE, LONG_RECORD_SIZE, data_record_size(self.data_capacity)


# The buffer maps of the three classes, in the same order.
BUFFER_NAMES = ("kindling_short", "kindling_long", "kindling_data")


@dataclass
class Drain:
    """What one drain of every buffer held."""

    records: Records
    tails: Tails
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


def _joined(rows: list[RawRows]) -> RawRows | None:
    rows = [r for r in rows if len(r)]
    if not rows:
        return None
    return rows[0] if len(rows) == 1 else np.concatenate(rows)


def _strings(area: RawRows, lengths: npt.NDArray[np.integer]) -> list[bytes | None]:
    """The first lengths[i] bytes of each row of `area` (None where 0)."""
    return [area[i, :n].tobytes() if n else None for i, n in enumerate(lengths.tolist())]


def decode(short: list[RawRows], long: list[RawRows], data: Sequence[RawRows] = ()) -> Drain:
    """Records from rows of raw short, long and data records (any number of
    buffers of each)."""
    parts: list[Records] = []
    tails: list[Tails] = []
    for rows in (_joined(short), _joined(long), _joined(list(data))):
        if rows is None:
            continue
        head = from_rows(rows)
        part_tails = no_tails(len(head))
        if rows.shape[1] > RECORD_SIZE:
            path_area = rows[:, RECORD_SIZE:LONG_RECORD_SIZE]
            part_tails[:, PATH] = _strings(path_area, np.minimum(head["path_len"], PATH_MAX))
        if rows.shape[1] > LONG_RECORD_SIZE:
            data_area = rows[:, LONG_RECORD_SIZE:]
            lengths = np.minimum(head["data_len"], data_area.shape[1])
            part_tails[:, DATA] = _strings(data_area, lengths)
        parts.append(head)
        tails.append(part_tails)
    if not parts:
        return Drain(np.empty(0, dtype=RECORD_DTYPE), no_tails(0))
    if len(parts) == 1:
        return Drain(parts[0], tails[0])
    return Drain(concatenate(parts), np.concatenate(tails))
