"""The asyncio client of the kindling probe service (see :class:`AsyncProbeClient`).

The same methods, arguments, notices and errors as
:class:`kindling.client.ProbeClient`, on ``grpc.aio``::

    import asyncio

    from kindling.client.aio import AsyncProbeClient

    async def main() -> None:
        async with AsyncProbeClient() as client:
            async with client.subscribe(names=["connect"], reconnect=True) as stream:
                async for item in stream.events():
                    print(item)

    asyncio.run(main())
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, overload

import grpc
from grpc_health.v1 import health_pb2

from kindling.client._aio_subscription import AsyncReconnectingSubscription, AsyncSubscription
from kindling.client._calls import (
    HEALTH_CHECK,
    configure_request,
    health_status,
    resume_request,
    subscription_request,
)
from kindling.client._connection import SocketClient, channel_options
from kindling.client._status import status, translate
from kindling.client.reconnect import Reconnect, follower_for
from kindling.client.requests import PayloadChoice
from kindling.probe.v1 import probe_pb2, probe_pb2_grpc

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["AsyncProbeClient", "AsyncReconnectingSubscription", "AsyncSubscription"]

_Response = TypeVar("_Response")


class AsyncProbeClient(SocketClient):
    """A connection to the kindling probe service for asyncio code.

    Made like :class:`kindling.client.ProbeClient` (it checks the socket at
    once, and connects on the first call); use it in the event loop that
    made it. Release it with :meth:`close`, or use it as an async context
    manager.
    """

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        *,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        super().__init__(socket_path)
        self._channel = grpc.aio.insecure_channel(self._target, options=channel_options(options))
        # The generated module has one stub class; its typing stub gives it
        # the asyncio signatures for an asyncio channel.
        self._stub: probe_pb2_grpc.ProbeServiceAsyncStub = probe_pb2_grpc.ProbeServiceStub(
            self._channel
        )
        self._closed = asyncio.Event()

    @property
    def stub(self) -> probe_pb2_grpc.ProbeServiceAsyncStub:
        """The generated gRPC stub, for calls that need other per-call options."""
        return self._stub

    @overload
    def subscribe(
        self,
        request: probe_pb2.SubscribeRequest | None = None,
        *,
        names: Iterable[str] = (),
        pids: Iterable[int] = (),
        payload: PayloadChoice = "none",
        timeout: float | None = None,
        reconnect: Literal[False] | None = None,
    ) -> AsyncSubscription: ...

    @overload
    def subscribe(
        self,
        request: probe_pb2.SubscribeRequest | None = None,
        *,
        names: Iterable[str] = (),
        pids: Iterable[int] = (),
        payload: PayloadChoice = "none",
        timeout: float | None = None,
        reconnect: Reconnect | Literal[True],
    ) -> AsyncReconnectingSubscription: ...

    def subscribe(
        self,
        request: probe_pb2.SubscribeRequest | None = None,
        *,
        names: Iterable[str] = (),
        pids: Iterable[int] = (),
        payload: PayloadChoice = "none",
        timeout: float | None = None,
        reconnect: Reconnect | bool | None = None,
    ) -> AsyncSubscription | AsyncReconnectingSubscription:
        """Open a stream, to read with ``async for`` (see
        :meth:`kindling.client.ProbeClient.subscribe` for the arguments)."""
        request = subscription_request(request, names, pids, payload)
        follower = follower_for(request, reconnect, self._socket, timeout)
        if follower is None:
            return self._open(request, timeout)
        return AsyncReconnectingSubscription(self._open, follower, self._closed)

    def _open(
        self, request: probe_pb2.SubscribeRequest, timeout: float | None
    ) -> AsyncSubscription:
        call = self._stub.Subscribe(request, timeout=timeout)
        return AsyncSubscription(call, self._socket, self._closed, request)

    def resume(
        self, subscription: AsyncSubscription, *, timeout: float | None = None
    ) -> AsyncSubscription:
        """Continue a resumable stream after its last event (see
        :meth:`kindling.client.ProbeClient.resume`)."""
        original = subscription.request
        request = resume_request(original, subscription.stream_id, subscription.last_seq)
        call = self._stub.Subscribe(request, timeout=timeout)
        return AsyncSubscription(
            call,
            self._socket,
            self._closed,
            original,
            stream_id=subscription.stream_id,
            last_seq=subscription.last_seq,
        )

    async def get_info(self, *, timeout: float | None = None) -> probe_pb2.GetInfoResponse:
        """Describe the service: its versions, driver, kernel features and event catalogue."""
        return await self._unary(
            lambda: self._stub.GetInfo(probe_pb2.GetInfoRequest(), timeout=timeout)
        )

    async def configure(
        self,
        enable: Iterable[str] = (),
        disable: Iterable[str] = (),
        *,
        kernel_filters: probe_pb2.KernelFilters | None = None,
        snaplen: int | None = None,
        batching: probe_pb2.Batching | None = None,
        dry_run: bool = False,
        expected_generation: int | None = None,
        timeout: float | None = None,
    ) -> probe_pb2.ConfigureResponse:
        """Change what the probe captures (see :meth:`kindling.client.ProbeClient.configure`)."""
        request = configure_request(
            enable,
            disable,
            kernel_filters=kernel_filters,
            snaplen=snaplen,
            batching=batching,
            dry_run=dry_run,
            expected_generation=expected_generation,
        )
        return await self._unary(lambda: self._stub.Configure(request, timeout=timeout))

    async def get_config(self, *, timeout: float | None = None) -> probe_pb2.GetConfigResponse:
        """The configuration :meth:`configure` changes, with its generation."""
        return await self._unary(
            lambda: self._stub.GetConfig(probe_pb2.GetConfigRequest(), timeout=timeout)
        )

    async def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """How ``service`` is doing (see :meth:`kindling.client.ProbeClient.health`)."""
        check = self._channel.unary_unary(
            HEALTH_CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            response = await check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as error:
            if status(error)[0] is grpc.StatusCode.NOT_FOUND:
                return "SERVICE_UNKNOWN"
            raise translate(error, self._socket) from error
        assert isinstance(response, health_pb2.HealthCheckResponse)
        return health_status(response)

    async def _unary(self, call: Callable[[], Awaitable[_Response]]) -> _Response:
        try:
            return await call()
        except grpc.RpcError as error:
            raise translate(error, self._socket) from error

    async def close(self) -> None:
        """Close the connection; open subscriptions end (their iteration stops)."""
        self._closed.set()
        await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
