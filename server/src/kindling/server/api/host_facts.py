"""What the kernel offers (its features, the events it can produce), for
GetInfo: looking it up reads tracefs and probes features (15 ms here), so it
is done at most every REFRESH_SECONDS, in a thread, never on the event loop
every call."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from kindling.server.drivers.base import Driver, KernelFeature

REFRESH_SECONDS = 30.0


@dataclass(frozen=True)
class Facts:
    features: list[KernelFeature]
    unavailable: frozenset[int]


class HostFacts:
    def __init__(self, driver: Driver) -> None:
        self._driver = driver
        self._facts: Facts | None = None
        self._until = 0.0
        self._lock = asyncio.Lock()

    def _look(self) -> Facts:
        return Facts(self._driver.features(), self._driver.unavailable_events())

    async def get(self) -> Facts:
        async with self._lock:  # one lookup at a time; the others wait for it
            if self._facts is None or time.monotonic() >= self._until:
                self._facts = await asyncio.get_running_loop().run_in_executor(None, self._look)
                self._until = time.monotonic() + REFRESH_SECONDS
            return self._facts
