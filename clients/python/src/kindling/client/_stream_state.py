"""What the sync and asyncio subscriptions share: where a stream is, and when
an error only says that the client ended it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from kindling.client._status import status

if TYPE_CHECKING:
    from kindling.client.reconnect import Follower
    from kindling.probe.v1 import probe_pb2

__all__: list[str] = []

#: How often a stream waiting to reconnect looks whether its client was closed, in seconds.
WAKE_INTERVAL = 0.1


class StreamPosition:
    """The id of a stream and its last event, from the responses read."""

    def __init__(self, request: probe_pb2.SubscribeRequest, stream_id: str, last_seq: int) -> None:
        self.request = request
        self._stream_id = stream_id
        self._last_seq = last_seq
        self._received = False

    @property
    def received(self) -> bool:
        """Whether a response has arrived."""
        return self._received

    @property
    def stream_id(self) -> str:
        """The id of a resumable stream, once its first response came; empty otherwise."""
        return self._stream_id

    @property
    def last_seq(self) -> int:
        """The sequence number of the last event received (0: none yet)."""
        return self._last_seq

    def _note(self, response: probe_pb2.SubscribeResponse) -> None:
        self._received = True
        if response.stream_id:
            self._stream_id = response.stream_id
        if response.events:
            self._last_seq = response.events[-1].seq


class FollowedPosition:
    """Where a reconnecting stream is, as its :class:`Follower` knows."""

    _follower: Follower

    @property
    def request(self) -> probe_pb2.SubscribeRequest:
        """The request the stream started with (with its resume window)."""
        return self._follower.request

    @property
    def stream_id(self) -> str:
        """The id of the stream now (a restart changes it)."""
        return self._follower.stream_id

    @property
    def last_seq(self) -> int:
        """The sequence number of the last event received from the stream now."""
        return self._follower.last_seq


def cancelled_here(error: grpc.RpcError, stopped: bool) -> bool:
    """Whether ``error`` is the end of a call the client cancelled (``stopped``)."""
    return stopped and status(error)[0] is grpc.StatusCode.CANCELLED
