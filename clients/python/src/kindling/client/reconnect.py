"""Reconnecting a stream with backoff, and resuming it after its last event.

``subscribe(..., reconnect=Reconnect())`` (or ``reconnect=True``) asks for
a resumable stream (``resume_window``) and, when the stream breaks (the
connection goes, the service stops or disconnects the stream for reading too
slowly), connects again after a backoff and resumes it after the last event
received: the events in between come once, and those the service no longer
had come as a :class:`~kindling.client.notices.LostEvents` with
``RESUME_TOO_LATE``, after a :class:`~kindling.client.notices.StreamResumed`.
When the stream cannot be resumed (the service restarted, or the window
passed) a new stream starts, after a
:class:`~kindling.client.notices.StreamRestarted` that reports the gap.

:class:`Follower` holds what the sync and asyncio subscriptions share: what
to ask for next, and what a break means.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import grpc

from kindling.client._calls import resume_request
from kindling.client.errors import (
    DeadlineExceeded,
    KindlingError,
    RequestFailed,
    ServiceUnavailable,
    StreamNotFound,
    StreamOverflowed,
)
from kindling.client.notices import StreamRestarted, StreamResumed
from kindling.client.requests import MAX_RESUME_WINDOW, Seconds
from kindling.probe.v1 import probe_pb2

# Follower is for the two clients only.
__all__ = ["Reconnect"]


@dataclass(frozen=True)
class Reconnect:
    """How a stream reconnects (see the module's description).

    The n-th consecutive failed attempt waits
    ``min(max_backoff, initial_backoff * multiplier ** (n - 1))`` seconds,
    made ``jitter`` (a fraction) shorter or longer at random so that many
    clients of a restarted service do not come back at once.
    ``max_attempts`` consecutive failures (None: no limit) raise the last
    error. A response resets the count. ``resume_window`` is what the
    stream asks the service to keep it for after a disconnect, unless its
    request sets one.
    """

    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    multiplier: float = 2.0
    jitter: float = 0.2
    max_attempts: int | None = None
    resume_window: Seconds = 60.0

    def __post_init__(self) -> None:
        for name in ("initial_backoff", "max_backoff", "multiplier", "jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name}: expected a number, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}: {value!r} is not a finite number of zero or more")
        if self.max_backoff < self.initial_backoff:
            raise ValueError(
                f"max_backoff: {self.max_backoff!r} is less than initial_backoff "
                f"({self.initial_backoff!r})"
            )
        if self.multiplier < 1:
            raise ValueError(f"multiplier: {self.multiplier!r} is less than 1")
        if self.jitter > 1:
            raise ValueError(f"jitter: {self.jitter!r} is more than 1 (a fraction)")
        attempts = self.max_attempts
        if attempts is not None and (
            isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1
        ):
            raise ValueError(f"max_attempts: {attempts!r} is not None or a number of 1 or more")
        window = self.resume_window
        seconds = window.total_seconds() if isinstance(window, timedelta) else window
        if not 0 < seconds <= MAX_RESUME_WINDOW.total_seconds():
            raise ValueError(
                f"resume_window: {window!r} is out of range (more than 0 to "
                f"{MAX_RESUME_WINDOW.total_seconds():g} s)"
            )

    def backoff(self, attempt: int, uniform: Callable[[], float] = random.random) -> float:
        """The wait before attempt ``attempt + 1`` after ``attempt`` failures in a row."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        return base * (1 + self.jitter * (2 * uniform() - 1))


def follower_for(
    request: probe_pb2.SubscribeRequest,
    reconnect: Reconnect | bool | None,
    socket: str,
    timeout: float | None,
) -> Follower | None:
    """The follower of a ``subscribe(..., reconnect=...)``, None for a stream that does not."""
    if reconnect is None or reconnect is False:
        return None
    policy = Reconnect() if reconnect is True else reconnect
    if not isinstance(policy, Reconnect):
        raise TypeError(f"reconnect: expected True or a Reconnect, not {reconnect!r}")
    return Follower(request, policy, socket, timeout)


class Follower:
    """Where a reconnecting stream is, and what to do when it breaks.

    Both subscriptions call :meth:`next_request` for every call they open,
    :meth:`received` for every response and :meth:`broke` when a call ends
    by itself; the rest (waiting, reading) is theirs.
    """

    def __init__(
        self,
        request: probe_pb2.SubscribeRequest,
        policy: Reconnect,
        socket: str,
        timeout: float | None,
    ) -> None:
        self.request = probe_pb2.SubscribeRequest()
        self.request.CopyFrom(request)
        if request.HasField("resume"):
            raise ValueError("request: a reconnecting stream starts without resume")
        if not request.HasField("resume_window"):
            window = policy.resume_window
            seconds = window.total_seconds() if isinstance(window, timedelta) else window
            self.request.resume_window.FromNanoseconds(round(seconds * 1e9))
        self.policy = policy
        self.socket = socket
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.stream_id = ""
        self.last_seq = 0
        self.failures = 0
        # The error that broke the stream, until a resume succeeds.
        self._broken_by: KindlingError | None = None
        self._resuming = False

    def next_request(self) -> probe_pb2.SubscribeRequest:
        """The request of the next call: a resume once the stream has an id."""
        self._resuming = bool(self.stream_id)
        if self._resuming:
            return resume_request(self.request, self.stream_id, self.last_seq)
        return self.request

    def timeout(self) -> float | None:
        """The time left for the next call, or None; raises when none is left."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "the subscription's timeout passed while reconnecting",
                socket=self.socket,
                started=True,
            )
        return left

    def received(
        self, response: probe_pb2.SubscribeResponse
    ) -> list[probe_pb2.SubscribeResponse | StreamResumed]:
        """Note a response; returns what to give: the response, after a
        notice when it is the first of a resumed stream."""
        resumed = None
        if self._resuming and self._broken_by is not None:
            # Every failure since the break (the break included) was followed by a call.
            resumed = StreamResumed(self.stream_id, self.last_seq, self.failures, self._broken_by)
            self._broken_by = None
        self.failures = 0
        self._resuming = False
        if response.stream_id:
            self.stream_id = response.stream_id
        if response.events:
            self.last_seq = response.events[-1].seq
        return [resumed, response] if resumed else [response]

    def broke(self, error: RequestFailed | None) -> tuple[list[StreamRestarted], float]:
        """The call ended by itself: with ``error``, or normally (None: the
        service ended the stream, as it does when it stops).

        Returns the notices to give (a restart), and how long to wait before
        the next call; raises ``error`` when it is not worth another call.
        """
        if error is None:
            error = ServiceUnavailable(
                grpc.StatusCode.UNAVAILABLE,
                "the service ended the stream",
                socket=self.socket,
                started=True,
            )
        if isinstance(error, StreamNotFound) and self._resuming:
            restarted = StreamRestarted(self.stream_id, self.last_seq, error)
            self.stream_id, self.last_seq = "", 0
            self._broken_by, self._resuming = None, False
            return [restarted], 0.0
        # Other failures (an invalid request, a refusal, the deadline) would
        # fail again the same way.
        if not isinstance(error, ServiceUnavailable | StreamOverflowed):
            raise error
        self.failures += 1
        if self.policy.max_attempts is not None and self.failures > self.policy.max_attempts:
            raise error
        if self._broken_by is None:
            self._broken_by = error
        return [], self.policy.backoff(self.failures)
