"""The gRPC client of the kindling probe service (see :class:`ProbeClient`)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, overload

import grpc
from grpc_health.v1 import health_pb2

from kindling.client._calls import (
    HEALTH_CHECK,
    configure_request,
    health_status,
    resume_request,
    subscription_request,
)
from kindling.client._connection import SocketClient, channel_options
from kindling.client._status import status, translate
from kindling.client._subscription import ReconnectingSubscription, Subscription
from kindling.client.reconnect import Reconnect, follower_for
from kindling.client.requests import PayloadChoice
from kindling.probe.v1 import probe_pb2, probe_pb2_grpc

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["ProbeClient"]

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


class ProbeClient(SocketClient):
    """A connection to the kindling probe service on its unix socket.

    ``socket_path`` defaults to :func:`default_socket`. The constructor
    checks that the path exists and is a socket and raises
    :class:`~kindling.client.errors.ServiceNotFound` if not; like gRPC
    channels in general it does not wait for the connection, so an
    unreachable service (for example a stale socket file) shows up as a
    :class:`~kindling.client.errors.ServiceUnavailable` from the first call.
    ``options`` are extra gRPC channel options.

    Failed calls raise :class:`~kindling.client.errors.RequestFailed` or one
    of its subclasses. The client is safe to use from several threads.
    Release it with :meth:`close`, or use it as a context manager::

        with ProbeClient() as client, client.subscribe(names=["connect"]) as stream:
            for item in stream.events():  # events, and LostEvents notices
                print(item)

    :class:`kindling.client.aio.AsyncProbeClient` is the same for asyncio.
    """

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        *,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        super().__init__(socket_path)
        self._channel = grpc.insecure_channel(self._target, options=channel_options(options))
        self._stub = probe_pb2_grpc.ProbeServiceStub(self._channel)
        self._closed = threading.Event()

    @property
    def stub(self) -> probe_pb2_grpc.ProbeServiceStub:
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
    ) -> Subscription: ...

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
    ) -> ReconnectingSubscription: ...

    def subscribe(
        self,
        request: probe_pb2.SubscribeRequest | None = None,
        *,
        names: Iterable[str] = (),
        pids: Iterable[int] = (),
        payload: PayloadChoice = "none",
        timeout: float | None = None,
        reconnect: Reconnect | bool | None = None,
    ) -> Subscription | ReconnectingSubscription:
        """Open a stream of the events that ``request`` selects
        (:func:`~kindling.client.requests.subscribe_request` builds one).

        Without a request, ``names`` and ``pids`` build one allow-list filter
        (an event must have one of the names, if any, and one of the pids, if
        any); with neither, every event is selected. ``payload`` asks for the
        bytes I/O events moved (``Event.payload``): "sockets" for calls on
        sockets, "all" for calls on any descriptor. ``timeout`` is a gRPC
        deadline in seconds for the whole stream, after which iteration
        raises :class:`~kindling.client.errors.DeadlineExceeded`; to stop a
        stream early without an error, call :meth:`Subscription.cancel`.

        ``reconnect`` (True, or a :class:`~kindling.client.reconnect.Reconnect`
        policy) returns a :class:`ReconnectingSubscription`, which resumes
        the stream after a break and reports how it went (see
        :mod:`kindling.client.reconnect`).

        The call does not wait: the service's answer, including a rejection
        of the filters (:class:`~kindling.client.errors.InvalidRequest`), is
        seen when iterating.
        """
        request = subscription_request(request, names, pids, payload)
        follower = follower_for(request, reconnect, self._socket, timeout)
        if follower is None:
            return self._open(request, timeout)
        return ReconnectingSubscription(self._open, follower, self._closed)

    def _open(self, request: probe_pb2.SubscribeRequest, timeout: float | None) -> Subscription:
        call = self._stub.Subscribe(request, timeout=timeout)
        return Subscription(call, self._socket, self._closed, request)

    def resume(self, subscription: Subscription, *, timeout: float | None = None) -> Subscription:
        """Continue a resumable stream (its request set ``resume_window``)
        that was disconnected: the new subscription first gets every event
        after ``subscription.last_seq`` that the service still has, once,
        and a loss (``LOSS_REASON_RESUME_TOO_LATE``) for those it no longer
        has, then the stream goes on. Iterating raises
        :class:`~kindling.client.errors.StreamNotFound` when the stream is
        gone (its window passed, or the service restarted).
        ``subscribe(..., reconnect=True)`` does this by itself.
        """
        original = subscription.request
        request = resume_request(original, subscription.stream_id, subscription.last_seq)
        call = self._stub.Subscribe(request, timeout=timeout)
        return Subscription(
            call,
            self._socket,
            self._closed,
            original,
            stream_id=subscription.stream_id,
            last_seq=subscription.last_seq,
        )

    def get_info(self, *, timeout: float | None = None) -> probe_pb2.GetInfoResponse:
        """Describe the service: its versions, driver, kernel features and event catalogue."""
        return self._unary(self._stub.GetInfo, probe_pb2.GetInfoRequest(), timeout)

    def configure(
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
        """Start capturing the ``enable`` events and stop capturing the ``disable`` ones.

        ``kernel_filters``, when given, replaces the filters the kernel
        applies for every subscriber (processes and thread names it never
        captures, and whether it drops I/O that moved no data). ``snaplen``,
        when given, sets the most payload bytes an event carries (0 turns
        payloads off), up to the service's ``max_snaplen``. ``batching``,
        when given, is the batching of streams that start afterwards without
        asking for their own.

        The change applies to all subscribers. The response lists every event
        captured afterwards, in catalogue order, and the kernel filters. An
        invalid request (an unknown name, a name in both lists, a thread name
        longer than 15 bytes) raises
        :class:`~kindling.client.errors.InvalidRequest` and changes nothing.

        ``dry_run`` checks the request and returns what it would make,
        changing nothing. ``expected_generation`` applies it only if the
        configuration is still at that generation (see :meth:`get_config`);
        otherwise :class:`~kindling.client.errors.ConfigChanged` is raised
        and nothing changes. The response carries the new generation.
        """
        request = configure_request(
            enable,
            disable,
            kernel_filters=kernel_filters,
            snaplen=snaplen,
            batching=batching,
            dry_run=dry_run,
            expected_generation=expected_generation,
        )
        return self._unary(self._stub.Configure, request, timeout)

    def get_config(self, *, timeout: float | None = None) -> probe_pb2.GetConfigResponse:
        """The configuration :meth:`configure` changes, with its generation."""
        return self._unary(self._stub.GetConfig, probe_pb2.GetConfigRequest(), timeout)

    def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """Ask the standard gRPC health service how ``service`` is doing.

        ``service`` is "" for the server as a whole, or a service name such
        as "kindling.probe.v1.ProbeService". The result is the status name:
        "SERVING", "NOT_SERVING", "UNKNOWN", or "SERVICE_UNKNOWN" when the
        health service does not know the service.
        """
        # The typing stubs' HealthStub lacks its methods: call Check directly.
        check = self._channel.unary_unary(
            HEALTH_CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            response = check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as error:
            if status(error)[0] is grpc.StatusCode.NOT_FOUND:
                return "SERVICE_UNKNOWN"
            raise translate(error, self._socket) from error
        return health_status(response)

    def _unary(
        self,
        method: grpc.UnaryUnaryMultiCallable[_Request, _Response],
        request: _Request,
        timeout: float | None,
    ) -> _Response:
        try:
            return method(request, timeout=timeout)
        except grpc.RpcError as error:
            raise translate(error, self._socket) from error

    def close(self) -> None:
        """Close the connection; open subscriptions end (their iteration stops)."""
        self._closed.set()
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
