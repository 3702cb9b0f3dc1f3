"""What a stream asked for, and what the service lets one stream queue."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Overflow(enum.Enum):
    """What a stream does when its subscriber reads too slowly."""

    DROP_NEWEST = "drop newest"
    DROP_OLDEST = "drop oldest"
    DISCONNECT = "disconnect"


@dataclass(frozen=True)
class StreamOptions:
    """A stream's delivery options (api/requests.py reads them from the
    request)."""

    max_batch_events: int
    # How long the first queued event may wait for more (seconds).
    max_delay: float = 0.0
    overflow: Overflow = Overflow.DROP_NEWEST
    # How long a disconnected stream waits to be resumed (seconds; 0: it is
    # not resumable).
    resume_window: float = 0.0


@dataclass(frozen=True)
class QueueLimits:
    """The most one stream queues, in events and in bytes, and the most
    bytes of sent responses a resumable stream keeps."""

    events: int
    bytes: int
    resume_bytes: int = 0
