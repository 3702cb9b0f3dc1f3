"""Event timestamps are CLOCK_BOOTTIME nanoseconds; this relates them to wall time."""

from __future__ import annotations

import time


def boot_time_ns() -> int:
    """Wall-clock nanoseconds at which the node booted, estimated now."""
    return time.clock_gettime_ns(time.CLOCK_REALTIME) - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
