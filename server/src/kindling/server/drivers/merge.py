"""Merge records drained from per-CPU buffers into one timestamp order.

Each drain returns every CPU's records, but a record stamped just before the
drain started may still be on its way into a buffer that was already read.
So a drain only releases records older than (drain start - slack) and holds
the rest back for the next drain; within what it releases, order is by
timestamp (stable, so equal stamps keep their drain order).
"""

from __future__ import annotations

import numpy as np

from kindling.server.record import Paths, Records, concatenate, empty, take


class TimestampMerger:
    def __init__(self, slack_ns: int) -> None:
        if slack_ns < 0:
            raise ValueError("slack_ns must not be negative")
        self._slack_ns = slack_ns
        self._held, self._held_paths = empty()
        # Everything released so far is at or before this; used to count
        # records that arrive later than the slack allowed.
        self._released_until = 0
        self.late = 0

    def push(self, records: Records, paths: Paths, drain_start_ns: int) -> tuple[Records, Paths]:
        """Add a drain's records; return those now safe to release, in order."""
        if len(self._held):
            records = concatenate((self._held, records))
            paths = np.concatenate((self._held_paths, paths))
        if not len(records):
            return records, paths
        timestamps = records["ts"]
        if np.any(timestamps[1:] < timestamps[:-1]):
            order = np.argsort(timestamps, kind="stable")
            records = take(records, order)
            paths = paths[order]
        cut = int(np.searchsorted(records["ts"], drain_start_ns - self._slack_ns, side="right"))
        self._held, self._held_paths = records[cut:], paths[cut:]
        out, out_paths = records[:cut], paths[:cut]
        if cut:
            late = int(np.count_nonzero(out["ts"] < self._released_until))
            self.late += late
            self._released_until = max(self._released_until, int(out["ts"][-1]))
        return out, out_paths

    def flush(self) -> tuple[Records, Paths]:
        """Release everything held back (at shutdown)."""
        out, out_paths = self._held, self._held_paths
        self._held, self._held_paths = empty()
        return out, out_paths

    @property
    def pending(self) -> int:
        return len(self._held)
