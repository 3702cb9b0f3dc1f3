"""Merge records drained from per-CPU buffers into one timestamp order.

Each drain returns every CPU's records, but a record stamped just before the
drain started may still be on its way into a buffer that was already read.
So a drain only releases records older than (drain start - slack) and holds
the rest back for the next drain; within what it releases, order is by
timestamp (stable, so equal stamps keep their drain order).
"""

from __future__ import annotations

import numpy as np

from kindling.server.record import Records, Tails, concatenate, empty, take


class TimestampMerger:
    def __init__(self, slack_ns: int) -> None:
        if slack_ns < 0:
            raise ValueError("slack_ns must not be negative")
        self._slack_ns = slack_ns
        self._held, self._held_tails = empty()
        # Everything released so far is at or before this; used to count
        # records that arrive later than the slack allowed.
        self._released_until = 0
        self.late = 0

    def push(self, records: Records, tails: Tails, drain_start_ns: int) -> tuple[Records, Tails]:
        """Add a drain's records; return those now safe to release, in order."""
        if len(self._held):
            records = concatenate((self._held, records))
            tails = np.concatenate((self._held_tails, tails))
        if not len(records):
            return records, tails
        timestamps = records["ts"]
        if np.any(timestamps[1:] < timestamps[:-1]):
            order = np.argsort(timestamps, kind="stable")
            records = take(records, order)
            tails = tails[order]
        cut = int(np.searchsorted(records["ts"], drain_start_ns - self._slack_ns, side="right"))
        self._held, self._held_tails = records[cut:], tails[cut:]
        out, out_tails = records[:cut], tails[:cut]
        if cut:
            late = int(np.count_nonzero(out["ts"] < self._released_until))
            self.late += late
            self._released_until = max(self._released_until, int(out["ts"][-1]))
        return out, out_tails

    def flush(self) -> tuple[Records, Tails]:
        """Release everything held back (at shutdown)."""
        out, out_tails = self._held, self._held_tails
        self._held, self._held_tails = empty()
        return out, out_tails

    @property
    def pending(self) -> int:
        return len(self._held)
