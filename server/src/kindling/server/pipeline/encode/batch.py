"""The unit the broker fans out: one record batch's encoded events, with
the columns subscriber filters need."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


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
    event_ids: npt.NDArray[np.uint16]
    pids: npt.NDArray[np.uint32]
    cgroup_ids: npt.NDArray[np.uint64]
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
    def events(self) -> list[bytes]:
        """Each event's bytes (for tests and tools; the broker uses the blob)."""
        at = self.offsets.tolist()
        return [self.blob[at[i] : at[i + 1]] for i in range(len(self))]

    @classmethod
    def from_events(
        cls,
        events: list[bytes],
        event_ids: npt.NDArray[np.uint16],
        pids: npt.NDArray[np.uint32],
        kernel_lost: int = 0,
        cgroup_ids: npt.NDArray[np.uint64] | None = None,
    ) -> EventBatch:
        offsets = np.zeros(len(events) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in events], out=offsets[1:])
        if cgroup_ids is None:
            cgroup_ids = np.ones(len(events), dtype=np.uint64)
        return cls(b"".join(events), offsets, event_ids, pids, cgroup_ids, kernel_lost)

    @classmethod
    def losses_only(cls, kernel_lost: int, failed: int) -> EventBatch:
        return cls(
            blob=b"",
            offsets=np.zeros(1, dtype=np.int64),
            event_ids=np.empty(0, dtype=np.uint16),
            pids=np.empty(0, dtype=np.uint32),
            cgroup_ids=np.empty(0, dtype=np.uint64),
            kernel_lost=kernel_lost,
            failed=failed,
        )
