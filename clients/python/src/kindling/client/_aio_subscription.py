"""The event streams of :class:`~kindling.client.aio.AsyncProbeClient`: one call,
or one that reconnects (the asyncio twins of :mod:`kindling.client._subscription`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
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

__all__ = ["AsyncReconnectingSubscription", "AsyncSubscription"]

Reconnection = StreamResumed | StreamRestarted


class _Flag(Protocol):
    def is_set(self) -> bool: ...


class _Cancellable:
    """Cancelled on leaving an ``async with`` block."""

    def cancel(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cancel()


def _cancelling() -> bool:
    """Whether the running task is being cancelled (so a CancelledError is its own)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class AsyncSubscription(StreamPosition, _Cancellable, AsyncIterator[probe_pb2.SubscribeResponse]):
    """An open event stream, as returned by :meth:`AsyncProbeClient.subscribe`:
    :class:`~kindling.client.Subscription` for asyncio.

    ``async for`` yields the stream's responses; :meth:`events` yields the
    events one by one with the losses as
    :class:`~kindling.client.notices.LostEvents` in their place. Iteration
    ends when the service ends the stream normally, after :meth:`cancel`
    or closing the client; failures raise the same errors as the sync
    client.
    """

    def __init__(
        self,
        call: grpc.aio.UnaryStreamCall[probe_pb2.SubscribeRequest, probe_pb2.SubscribeResponse],
        socket: str,
        client_closed: _Flag,
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

    def __aiter__(self) -> Self:
        return self

    def _stopped(self) -> bool:
        return self._cancelled or self._client_closed.is_set()

    async def __anext__(self) -> probe_pb2.SubscribeResponse:
        """Wait for the stream's next response."""
        try:
            response = await self._call.read()
        except asyncio.CancelledError:
            # grpc.aio raises this for a call cancelled here; a cancellation
            # of the reading task itself goes on.
            if self._stopped() and not _cancelling():
                raise StopAsyncIteration from None
            raise
        except grpc.RpcError as error:
            if cancelled_here(error, self._stopped()):
                raise StopAsyncIteration from None
            raise translate(error, self._socket, received=self._received) from error
        if response is grpc.aio.EOF:
            raise StopAsyncIteration
        assert isinstance(response, probe_pb2.SubscribeResponse)
        self._note(response)
        return response

    async def events(self) -> AsyncIterator[event_pb2.Event | LostEvents]:
        """The stream's events one by one, and its losses in their place."""
        async for response in self:
            for item in in_stream_order(response):
                yield item

    def cancel(self) -> None:
        """End the stream; iteration stops after the responses already received."""
        self._cancelled = True
        self._call.cancel()


class AsyncReconnectingSubscription(
    FollowedPosition, _Cancellable, AsyncIterator[probe_pb2.SubscribeResponse | Reconnection]
):
    """A stream that reconnects and resumes by itself, as returned by
    ``AsyncProbeClient.subscribe(..., reconnect=...)``:
    :class:`~kindling.client.ReconnectingSubscription` for asyncio."""

    def __init__(
        self,
        open_call: Callable[[probe_pb2.SubscribeRequest, float | None], AsyncSubscription],
        follower: Follower,
        client_closed: _Flag,
    ) -> None:
        self._open = open_call
        self._follower = follower
        self._client_closed = client_closed
        self._cancelled = asyncio.Event()
        # The first call starts at once, like a plain subscription's.
        self._call: AsyncSubscription | None = open_call(
            follower.next_request(), follower.timeout()
        )
        self._ready: list[probe_pb2.SubscribeResponse | Reconnection] = []

    def __aiter__(self) -> Self:
        return self

    def _stopped(self) -> bool:
        return self._cancelled.is_set() or self._client_closed.is_set()

    async def __anext__(self) -> probe_pb2.SubscribeResponse | Reconnection:
        while not self._ready:
            if self._stopped():
                raise StopAsyncIteration
            if self._call is None:
                self._call = self._open(self._follower.next_request(), self._follower.timeout())
            error: RequestFailed | None = None
            try:
                response = await anext(self._call)
            except StopAsyncIteration:
                pass
            except RequestFailed as failed:
                error = failed
            else:
                self._ready += self._follower.received(response)
                break
            self._call = None
            if self._stopped():
                raise StopAsyncIteration
            notices, delay = self._follower.broke(error)
            self._ready += notices
            await self._wait(delay)
        return self._ready.pop(0)

    async def _wait(self, delay: float) -> None:
        # Closing the client does not set _cancelled: it is looked at now and then.
        deadline = time.monotonic() + delay
        while not self._stopped() and (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._cancelled.wait(), min(left, WAKE_INTERVAL))

    async def events(self) -> AsyncIterator[event_pb2.Event | LostEvents | Reconnection]:
        """The stream's events one by one, with its losses and reconnections in their place."""
        async for item in self:
            if isinstance(item, probe_pb2.SubscribeResponse):
                for part in in_stream_order(item):
                    yield part
            else:
                yield item

    def cancel(self) -> None:
        """End the stream, also while it waits to reconnect."""
        self._cancelled.set()
        call = self._call
        if call is not None:
            call.cancel()
