"""What a stream says besides its events: losses, and how a reconnect went.

Iterating a subscription's :meth:`~kindling.client.Subscription.events`
yields ``Event`` messages and, in their place in the stream, these notices:

- :class:`LostEvents`: events the stream did not receive, with where they
  went (:class:`LossReason`) and, when they had sequence numbers, which;
- :class:`StreamResumed` (streams that reconnect): the connection broke and
  the stream was resumed after its last event, so nothing was lost but what
  a :class:`LostEvents` reports;
- :class:`StreamRestarted` (streams that reconnect): the stream could not be
  resumed (the service restarted, or the resume window passed) and a new
  one started: whatever happened between is unknown.

None of them is ever dropped by the library.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeAlias

from kindling.client.errors import KindlingError
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2

__all__ = [
    "LossReason",
    "LostEvents",
    "Notice",
    "StreamRestarted",
    "StreamResumed",
    "in_stream_order",
]


class LossReason(enum.IntEnum):
    """Where lost events went (the contract's ``LossReason``, by the same numbers)."""

    UNSPECIFIED = probe_pb2.LOSS_REASON_UNSPECIFIED
    #: The kernel's buffer was full: the service read it too slowly.
    KERNEL_BUFFER_FULL = probe_pb2.LOSS_REASON_KERNEL_BUFFER_FULL
    #: The stream's queue in the service was full: the stream was read too slowly.
    SUBSCRIBER_QUEUE_FULL = probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL
    #: The service failed to turn kernel records into events.
    SERVICE_ERROR = probe_pb2.LOSS_REASON_SERVICE_ERROR
    #: The recording a replaying service serves lacks them.
    NOT_RECORDED = probe_pb2.LOSS_REASON_NOT_RECORDED
    #: The service stopped before sending them.
    SERVICE_STOPPED = probe_pb2.LOSS_REASON_SERVICE_STOPPED
    #: A resumed stream asked for events the service no longer kept.
    RESUME_TOO_LATE = probe_pb2.LOSS_REASON_RESUME_TOO_LATE

    @classmethod
    def of(cls, value: int) -> LossReason:
        """The reason for a contract value; values newer than this library are UNSPECIFIED."""
        try:
            return cls(value)
        except ValueError:
            return cls.UNSPECIFIED


@dataclass(frozen=True)
class LostEvents:
    """Events the stream did not receive (one ``Loss`` of a response).

    ``first_seq`` to ``last_seq`` (both included) are the sequence numbers the
    lost events had; both are 0 when the events were lost before they were
    numbered (the kernel's losses), and then ``count`` counts every event
    the kernel dropped, wanted by this stream or not.
    """

    reason: LossReason
    count: int
    first_seq: int = 0
    last_seq: int = 0

    @classmethod
    def from_loss(cls, loss: probe_pb2.Loss) -> LostEvents:
        """The notice for one ``SubscribeResponse.losses`` entry."""
        last = loss.first_seq + loss.count - 1 if loss.first_seq and loss.count else 0
        return cls(LossReason.of(loss.reason), loss.count, loss.first_seq, last)

    @property
    def numbered(self) -> bool:
        """Whether the lost events had sequence numbers."""
        return self.first_seq != 0


@dataclass(frozen=True)
class StreamResumed:
    """The stream broke and was resumed after ``last_seq``: every event after
    it that the service kept follows, once; a :class:`LostEvents` with
    ``RESUME_TOO_LATE`` reports those it no longer had.

    ``attempts`` is how many calls it took, and ``cause`` the error that
    broke the stream (a :class:`~kindling.client.errors.ServiceUnavailable`
    "the service ended the stream" when the service ended it, as it does
    when it stops)."""

    stream_id: str
    last_seq: int
    attempts: int
    cause: KindlingError


@dataclass(frozen=True)
class StreamRestarted:
    """The stream ``stream_id`` could not be resumed after ``last_seq`` (it
    is gone: the service restarted, or the resume window passed), so a new
    stream starts, numbered from 1 again. The events between the old
    stream's last and the new stream's first are unknown: none of them
    will come.

    ``cause`` is the service's refusal
    (:class:`~kindling.client.errors.StreamNotFound`)."""

    stream_id: str
    last_seq: int
    cause: KindlingError


#: Everything that is not an event in :meth:`~kindling.client.Subscription.events`.
Notice: TypeAlias = LostEvents | StreamResumed | StreamRestarted


def in_stream_order(
    response: probe_pb2.SubscribeResponse,
) -> Iterator[event_pb2.Event | LostEvents]:
    """The response's events and losses, in the order of their sequence numbers.

    A response reports the losses since the previous one, which may be
    older or newer than its events (a queue that drops the newest keeps
    older events): each numbered loss comes just before the first event
    after it, the others (the kernel's) first.
    """
    losses = [LostEvents.from_loss(loss) for loss in response.losses]
    numbered = sorted((x for x in losses if x.numbered), key=lambda x: x.first_seq)
    yield from (x for x in losses if not x.numbered)
    at = 0
    for event in response.events:
        while at < len(numbered) and numbered[at].first_seq < event.seq:
            yield numbered[at]
            at += 1
        yield event
    yield from numbered[at:]
