"""The unit the broker fans out: one record batch's encoded events, with
the columns subscriber filters need."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

COMM_DTYPE = np.dtype("S16")
# Generations of ancestors an event carries (EventColumns.ancestors): how far
# up a process tree filter looks.
ANCESTRY_DEPTH = 16
# The dtype of each one-value-per-event numeric column (EventColumns).
_DTYPES = {
    "event_ids": np.uint16,
    "pids": np.uint32,
    "tids": np.uint32,
    "uids": np.uint32,
    "gids": np.uint32,
    "cgroup_ids": np.uint64,
    "comms": COMM_DTYPE,
    "categories": np.uint8,
    "return_values": np.int64,
    "latencies": np.uint64,
    "has_payload": np.bool_,
    "ppids": np.uint32,
    "fd_types": np.uint8,
    "protocols": np.uint8,
    "local_ports": np.uint16,
    "remote_ports": np.uint16,
}


@dataclass
class EventColumns:
    """Per event, the values subscriber filters look at (one array each,
    event i at index i), so that a filter reads columns, never events."""

    event_ids: npt.NDArray[np.uint16]
    pids: npt.NDArray[np.uint32]
    tids: npt.NDArray[np.uint32]
    uids: npt.NDArray[np.uint32]
    gids: npt.NDArray[np.uint32]
    cgroup_ids: npt.NDArray[np.uint64]
    comms: npt.NDArray[np.bytes_]  # S16, as the kernel gives it
    categories: npt.NDArray[np.uint8]  # Event.category
    return_values: npt.NDArray[np.int64]
    latencies: npt.NDArray[np.uint64]
    has_payload: npt.NDArray[np.bool_]
    # From the thread and fd context (zeros and "" where there is none).
    ppids: npt.NDArray[np.uint32]
    # (n, ANCESTRY_DEPTH): parent, grandparent, ...; zeros beyond the known.
    ancestors: npt.NDArray[np.uint32]
    exes: npt.NDArray[np.object_]  # str
    container_ids: npt.NDArray[np.object_]  # str
    fd_types: npt.NDArray[np.uint8]
    protocols: npt.NDArray[np.uint8]
    local_ports: npt.NDArray[np.uint16]
    remote_ports: npt.NDArray[np.uint16]
    # (n, 16) bytes: IPv6, IPv4 mapped (::ffff:a.b.c.d); zeros when unknown.
    local_addresses: npt.NDArray[np.uint8]
    remote_addresses: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.event_ids)

    @classmethod
    def empty(cls, count: int = 0) -> EventColumns:
        """Columns of `count` events whose values are all zero."""
        columns = {name: np.zeros(count, dtype=dtype) for name, dtype in _DTYPES.items()}
        for name in ("exes", "container_ids"):
            columns[name] = np.full(count, "", dtype=object)
        for name in ("local_addresses", "remote_addresses"):
            columns[name] = np.zeros((count, 16), dtype=np.uint8)
        columns["ancestors"] = np.zeros((count, ANCESTRY_DEPTH), dtype=np.uint32)
        return cls(**columns)

    @classmethod
    def of(cls, count: int, **values: Sequence[object] | npt.NDArray[np.generic]) -> EventColumns:
        """Columns of `count` events: the ones given, zeros for the others."""
        columns = cls.empty(count)
        for name, given in values.items():
            column = getattr(columns, name)
            column[:] = np.asarray(given, dtype=column.dtype)
        return columns

    def take(self, indexes: npt.NDArray[np.intp]) -> EventColumns:
        return EventColumns(**{f.name: getattr(self, f.name)[indexes] for f in fields(self)})


@dataclass
class EventBatch:
    """Encoded events of one record batch, with the columns filters need.

    The events are back to back in `blob`: event i (without its per-stream
    sequence number) is blob[offsets[i] : offsets[i + 1]]. Its last
    payload_sizes[i] bytes are its payload fields (payload_sizes is None
    when no event has any); payload_on_socket[i] says whether that payload
    crossed a socket.
    """

    blob: bytes
    offsets: npt.NDArray[np.int64]
    columns: EventColumns
    kernel_lost: int = 0
    # Records the service failed to turn into events.
    failed: int = 0
    # Events missing from the recording a replay serves.
    not_recorded: int = 0
    payload_sizes: npt.NDArray[np.int64] | None = None
    payload_on_socket: npt.NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def event_ids(self) -> npt.NDArray[np.uint16]:
        return self.columns.event_ids

    @property
    def pids(self) -> npt.NDArray[np.uint32]:
        return self.columns.pids

    @property
    def cgroup_ids(self) -> npt.NDArray[np.uint64]:
        return self.columns.cgroup_ids

    @property
    def events(self) -> list[bytes]:
        """Each event's bytes (for tests and tools; the broker uses the blob)."""
        at = self.offsets.tolist()
        return [self.blob[at[i] : at[i + 1]] for i in range(len(self))]

    @classmethod
    def from_events(
        cls, events: list[bytes], columns: EventColumns, kernel_lost: int = 0
    ) -> EventBatch:
        offsets = np.zeros(len(events) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in events], out=offsets[1:])
        return cls(b"".join(events), offsets, columns, kernel_lost)

    @classmethod
    def losses_only(cls, kernel_lost: int, failed: int) -> EventBatch:
        return cls(
            blob=b"",
            offsets=np.zeros(1, dtype=np.int64),
            columns=EventColumns.empty(),
            kernel_lost=kernel_lost,
            failed=failed,
        )
