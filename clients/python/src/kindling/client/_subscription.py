"""The event streams of :class:`~kindling.client.ProbeClient`: one call, or one that reconnects."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol, Self

import grpc

from kindling.client._status import translate
from kindling.client._stream_state import (
    WAKE_INTERVAL,
    FollowedPosition,
    StreamPosition,
    cancelled_here,
)
from kindling.client.errors import RequestFailed
from kindling.client.notices import LostEvents, StreamRestarted, StreamResumed, in_stream_order
from kindling.probe.v1 import probe_pb2

if TYPE_CHECKING:
    from types import TracebackType

    from kindling.client.reconnect import Follower
    from kindling.event.v1 import event_pb2

__all__ = ["ReconnectingSubscription", "Subscription"]


class _ResponseStream(Protocol):
    """The part of grpc's response iterator for a server-streaming call we use."""

    def __next__(self) -> probe_pb2.SubscribeResponse: ...

    def cancel(self) -> bool: ...


class _Cancellable:
    """Cancelled on leaving a ``with`` block."""

    def cancel(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cancel()


class Subscription(StreamPosition, _Cancellable, Iterator[probe_pb2.SubscribeResponse]):
    """An open event stream, as returned by :meth:`ProbeClient.subscribe`.

    Iterating yields the stream's responses: batches of zero or more events
    in timestamp order, with the losses the stream suffered since the
    previous batch; :meth:`events` yields the events one by one with the
    losses as :class:`~kindling.client.notices.LostEvents` in their place.
    Iteration ends when the service ends the stream normally or after
    :meth:`cancel` (or closing the client); other failures raise a
    :class:`~kindling.client.errors.RequestFailed`:
    :class:`~kindling.client.errors.InvalidRequest` for filters the service
    rejects, :class:`~kindling.client.errors.ServiceUnavailable` when the
    service cannot be reached or goes away (its ``started`` attribute tells
    which).

    Read a subscription from one thread at a time; :meth:`cancel` may be
    called from any thread. Used as a context manager, it is cancelled on
    exit.

    A stream whose request set ``resume_window`` is resumable: after a
    disconnect, :meth:`ProbeClient.resume` continues it after
    :attr:`last_seq`.
    """

    def __init__(
        self,
        call: _ResponseStream,
        socket: str,
        client_closed: threading.Event,
        request: probe_pb2.SubscribeRequest,
        *,
        stream_id: str = "",
        last_seq: int = 0,
    ) -> None:
        super().__init__(request, stream_id, last_seq)
        self._call = call
        self._socket = socket
        self._client_closed = client_closed
        self._cancelled = False

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> probe_pb2.SubscribeResponse:
        """Wait for the stream's next response."""
        try:
            response = next(self._call)
        except grpc.RpcError as error:
            if cancelled_here(error, self._cancelled or self._client_closed.is_set()):
                raise StopIteration from None
            raise translate(error, self._socket, received=self._received) from error
        self._note(response)
        return response

    def events(self) -> Iterator[event_pb2.Event | LostEvents]:
        """The stream's events one by one, and its losses in their place
        (see :func:`~kindling.client.notices.in_stream_order`)."""
        for response in self:
            yield from in_stream_order(response)

    def cancel(self) -> None:
        """End the stream; iteration stops after the responses already received."""
        self._cancelled = True
        self._call.cancel()


#: What a reconnecting stream yields besides responses.
Reconnection = StreamResumed | StreamRestarted


class ReconnectingSubscription(
    FollowedPosition,
    _Cancellable,
    Iterator[probe_pb2.SubscribeResponse | StreamResumed | StreamRestarted],
):
    """A stream that reconnects and resumes by itself, as returned by
    ``ProbeClient.subscribe(..., reconnect=...)`` (see
    :mod:`kindling.client.reconnect`).

    Iterating yields its responses and, where the stream broke, a
    :class:`~kindling.client.notices.StreamResumed` or
    :class:`~kindling.client.notices.StreamRestarted`; :meth:`events`
    yields events, losses and those notices. Errors that another call
    would meet again (an invalid request, a refusal, the timeout, too many
    failed attempts) are raised. Iteration ends after :meth:`cancel` or
    closing the client.
    """

    def __init__(
        self,
        open_call: Callable[[probe_pb2.SubscribeRequest, float | None], Subscription],
        follower: Follower,
        client_closed: threading.Event,
    ) -> None:
        self._open = open_call
        self._follower = follower
        self._client_closed = client_closed
        self._cancelled = threading.Event()
        # The first call starts at once, like a plain subscription's.
        self._call: Subscription | None = open_call(follower.next_request(), follower.timeout())
        self._ready: list[probe_pb2.SubscribeResponse | Reconnection] = []

    def __iter__(self) -> Self:
        return self

    def _stopped(self) -> bool:
        return self._cancelled.is_set() or self._client_closed.is_set()

    def __next__(self) -> probe_pb2.SubscribeResponse | Reconnection:
        while not self._ready:
            if self._stopped():
                raise StopIteration
            if self._call is None:
                self._call = self._open(self._follower.next_request(), self._follower.timeout())
            error: RequestFailed | None = None
            try:
                response = next(self._call)
            except StopIteration:
                pass
            except RequestFailed as failed:
                error = failed
            else:
                self._ready += self._follower.received(response)
                break
            self._call = None
            if self._stopped():
                raise StopIteration
            notices, delay = self._follower.broke(error)
            self._ready += notices
            self._wait(delay)
        return self._ready.pop(0)

    def _wait(self, delay: float) -> None:
        # Closing the client does not set _cancelled: it is looked at now and then.
        deadline = time.monotonic() + delay
        while not self._stopped() and (left := deadline - time.monotonic()) > 0:
            self._cancelled.wait(min(left, WAKE_INTERVAL))

    def events(self) -> Iterator[event_pb2.Event | LostEvents | Reconnection]:
        """The stream's events one by one, with its losses and reconnections in their place."""
        for item in self:
            if isinstance(item, probe_pb2.SubscribeResponse):
                yield from in_stream_order(item)
            else:
                yield item

    def cancel(self) -> None:
        """End the stream, also while it waits to reconnect."""
        self._cancelled.set()
        call = self._call
        if call is not None:
            call.cancel()
