"""The memory every stream's queue and resume buffer share, so that the
service's memory has a bound however many subscribers read however slowly."""

from __future__ import annotations

import threading


class MemoryBudget:
    """A byte count taken by the pipeline thread (queueing) and given back
    on the event loop (sending, expiring), hence the lock."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def room(self) -> int:
        return max(0, self.limit - self._used)

    def take(self, size: int) -> bool:
        """Take `size` bytes if they fit; nothing otherwise."""
        with self._lock:
            if self._used + size > self.limit:
                return False
            self._used += size
            return True

    def give(self, size: int) -> None:
        with self._lock:
            self._used -= size
