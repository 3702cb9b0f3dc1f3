"""The gRPC client of the kindling probe service (see :class:`ProbeClient`)."""

from __future__ import annotations

import errno
import os
import stat
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, TypeVar

import grpc
from grpc_health.v1 import health_pb2

from kindling.client.errors import (
    ConfigChanged,
    DeadlineExceeded,
    InvalidRequest,
    PermissionDenied,
    RequestFailed,
    ServiceNotFound,
    ServiceUnavailable,
    StreamNotFound,
    StreamOverflowed,
)
from kindling.probe.v1 import probe_pb2, probe_pb2_grpc

if TYPE_CHECKING:
    from types import TracebackType

    from kindling.event.v1 import event_pb2

__all__ = [
    "DEFAULT_SOCKET",
    "MAX_RECEIVE_MESSAGE_LENGTH",
    "SOCKET_ENV",
    "ProbeClient",
    "Subscription",
    "default_socket",
]

#: The unix socket the probe service listens on unless told otherwise.
DEFAULT_SOCKET = "/run/kindling.sock"
#: The environment variable that overrides :data:`DEFAULT_SOCKET`.
SOCKET_ENV = "KINDLING_SOCKET"
#: The largest response the client accepts, in bytes.
MAX_RECEIVE_MESSAGE_LENGTH = 16 * 1024 * 1024

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


PayloadChoice = Literal["none", "sockets", "all"]
#: SubscribeRequest.payload for each of subscribe()'s ``payload`` choices.
PAYLOAD_MODES: dict[str, probe_pb2.PayloadMode.ValueType] = {
    "none": probe_pb2.PAYLOAD_MODE_UNSPECIFIED,
    "sockets": probe_pb2.PAYLOAD_MODE_SOCKETS,
    "all": probe_pb2.PAYLOAD_MODE_ALL,
}


def default_socket() -> str:
    """Return ``$KINDLING_SOCKET``, or :data:`DEFAULT_SOCKET` when it is unset or empty."""
    return os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET


def _check_socket(socket: str) -> None:
    """Raise :class:`ServiceNotFound` unless ``socket`` is a path to a unix socket."""
    try:
        mode = os.stat(socket).st_mode
    except OSError as error:
        raise ServiceNotFound(socket, error) from error
    except ValueError as error:  # an embedded NUL byte
        cause = OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        raise ServiceNotFound(socket, cause) from error
    if not stat.S_ISSOCK(mode):
        raise ServiceNotFound(socket, None)


_ERRORS: dict[grpc.StatusCode, type[RequestFailed]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    grpc.StatusCode.UNAVAILABLE: ServiceUnavailable,
    grpc.StatusCode.CANCELLED: ServiceUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.RESOURCE_EXHAUSTED: StreamOverflowed,
    grpc.StatusCode.NOT_FOUND: StreamNotFound,
    grpc.StatusCode.FAILED_PRECONDITION: ConfigChanged,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
}


def _status(error: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    # The errors grpc raises for calls implement grpc.Call; a bare RpcError
    # (raised by an interceptor, say) may not.
    code = getattr(error, "code", None)
    details = getattr(error, "details", None)
    status = code() if callable(code) else grpc.StatusCode.UNKNOWN
    message = details() if callable(details) else str(error)
    return status, message or ""


# How grpc-core words an RPC that failed because the channel could not
# connect: the socket refuses connections, or the peer is not a gRPC server.
_CONNECT_FAILED = "failed to connect to all addresses"


def _translate(error: grpc.RpcError, socket: str, *, received: bool = False) -> RequestFailed:
    """The :class:`RequestFailed` (or subclass) that describes ``error``.

    ``received`` says whether the call had received a response.
    """
    code, details = _status(error)
    # The call had reached the service unless the channel never connected.
    started = received or _CONNECT_FAILED not in details
    return _ERRORS.get(code, RequestFailed)(code, details, socket=socket, started=started)


class _ResponseStream(Protocol):
    """The part of grpc's response iterator for a server-streaming call we use."""

    def __next__(self) -> probe_pb2.SubscribeResponse: ...

    def cancel(self) -> bool: ...


class Subscription(Iterator[probe_pb2.SubscribeResponse]):
    """An open event stream, as returned by :meth:`ProbeClient.subscribe`.

    Iterating yields the stream's responses: batches of zero or more events
    in timestamp order, with the losses the stream suffered since the
    previous batch. Iteration ends when the service ends the stream normally
    or after :meth:`cancel` (or closing the client); other failures raise a
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
        self._call = call
        self._socket = socket
        self._client_closed = client_closed
        self._cancelled = False
        self._received = False
        self.request = request
        self._stream_id = stream_id
        self._last_seq = last_seq

    @property
    def received(self) -> bool:
        """Whether a response has arrived."""
        return self._received

    @property
    def stream_id(self) -> str:
        """The id of a resumable stream, once its first response came; empty
        otherwise."""
        return self._stream_id

    @property
    def last_seq(self) -> int:
        """The sequence number of the last event received (0: none yet)."""
        return self._last_seq

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> probe_pb2.SubscribeResponse:
        """Wait for the stream's next response."""
        try:
            response = next(self._call)
        except grpc.RpcError as error:
            if _status(error)[0] is grpc.StatusCode.CANCELLED and (
                self._cancelled or self._client_closed.is_set()
            ):
                raise StopIteration from None
            raise _translate(error, self._socket, received=self._received) from error
        self._received = True
        if response.stream_id:
            self._stream_id = response.stream_id
        if response.events:
            self._last_seq = response.events[-1].seq
        return response

    def cancel(self) -> None:
        """End the stream; iteration stops after the responses already received."""
        self._cancelled = True
        self._call.cancel()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cancel()


class ProbeClient:
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

        with ProbeClient() as client:
            for event, response in client.events(names=["connect"]):
                print(format_compact(event, response.boot_time.ToNanoseconds()))
    """

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        *,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        socket = os.fspath(socket_path) if socket_path is not None else default_socket()
        _check_socket(socket)
        self._socket = socket
        # Quoted so that characters such as "?", "#" or "%" in the path are
        # not read as parts of a URI; gRPC decodes the path again.
        target = "unix://" + urllib.parse.quote(os.path.abspath(socket), safe="/")
        self._channel = grpc.insecure_channel(
            target,
            options=[("grpc.max_receive_message_length", MAX_RECEIVE_MESSAGE_LENGTH), *options],
        )
        self._stub = probe_pb2_grpc.ProbeServiceStub(self._channel)
        self._closed = threading.Event()

    def __repr__(self) -> str:
        return f"ProbeClient({self._socket!r})"

    @property
    def socket(self) -> str:
        """The socket path, as given."""
        return self._socket

    @property
    def stub(self) -> probe_pb2_grpc.ProbeServiceStub:
        """The generated gRPC stub, for calls that need other per-call options."""
        return self._stub

    def subscribe(
        self,
        request: probe_pb2.SubscribeRequest | None = None,
        *,
        names: Iterable[str] = (),
        pids: Iterable[int] = (),
        payload: PayloadChoice = "none",
        timeout: float | None = None,
    ) -> Subscription:
        """Open a stream of the events that ``request`` selects.

        Without a request, ``names`` and ``pids`` build one allow-list filter
        (an event must have one of the names, if any, and one of the pids, if
        any); with neither, every event is selected. ``payload`` asks for the
        bytes I/O events moved (``Event.payload``): "sockets" for calls on
        sockets, "all" for calls on any descriptor. ``timeout`` is a gRPC
        deadline in seconds for the whole stream, after which iteration
        raises :class:`~kindling.client.errors.DeadlineExceeded`; to stop a
        stream early without an error, call :meth:`Subscription.cancel`.

        The call does not wait: the service's answer, including a rejection
        of the filters (:class:`~kindling.client.errors.InvalidRequest`), is
        seen when iterating.
        """
        names, pids = list(names), list(pids)
        if payload not in PAYLOAD_MODES:
            raise ValueError(f"payload must be one of {', '.join(PAYLOAD_MODES)}, not {payload!r}")
        if request is None:
            request = probe_pb2.SubscribeRequest(payload=PAYLOAD_MODES[payload])
            if names or pids:
                request.allow_list.add(names=names, pids=pids)
        elif names or pids or payload != "none":
            raise ValueError("pass either a request or names, pids and payload, not both")
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
        """
        if not subscription.stream_id:
            raise ValueError(
                "the stream is not resumable, or no response of it has arrived: "
                "subscribe with resume_window set, and read its first response"
            )
        request = probe_pb2.SubscribeRequest()
        request.CopyFrom(subscription.request)
        request.resume.stream_id = subscription.stream_id
        request.resume.last_seq = subscription.last_seq
        original = probe_pb2.SubscribeRequest()
        original.CopyFrom(subscription.request)
        original.ClearField("resume")
        call = self._stub.Subscribe(request, timeout=timeout)
        return Subscription(
            call,
            self._socket,
            self._closed,
            original,
            stream_id=subscription.stream_id,
            last_seq=subscription.last_seq,
        )

    def events(
        self,
        request: probe_pb2.SubscribeRequest | None = None,
        *,
        names: Iterable[str] = (),
        pids: Iterable[int] = (),
        payload: PayloadChoice = "none",
        timeout: float | None = None,
        on_loss: Callable[[probe_pb2.Loss], None] | None = None,
    ) -> Iterator[tuple[event_pb2.Event, probe_pb2.SubscribeResponse]]:
        """Subscribe (see :meth:`subscribe`) and yield the events one by one.

        Each event comes with the response that carried it, whose
        ``boot_time`` turns its ``timestamp_ns`` into wall-clock time.
        ``on_loss`` is called with every loss the stream reports. The stream
        is cancelled when the iterator is closed, for example by leaving a
        ``for`` loop early.
        """
        with self.subscribe(
            request, names=names, pids=pids, payload=payload, timeout=timeout
        ) as subscription:
            for response in subscription:
                if on_loss is not None:
                    for loss in response.losses:
                        on_loss(loss)
                for event in response.events:
                    yield event, response

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
        request = probe_pb2.ConfigureRequest(
            enable_events=list(enable), disable_events=list(disable), dry_run=dry_run
        )
        if expected_generation is not None:
            request.expected_generation = expected_generation
        if kernel_filters is not None:
            request.kernel_filters.CopyFrom(kernel_filters)
        if snaplen is not None:
            request.snaplen = snaplen
        if batching is not None:
            request.batching.CopyFrom(batching)
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
            _HEALTH_CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            response = check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as error:
            if _status(error)[0] is grpc.StatusCode.NOT_FOUND:
                return "SERVICE_UNKNOWN"
            raise _translate(error, self._socket) from error
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def _unary(
        self,
        method: grpc.UnaryUnaryMultiCallable[_Request, _Response],
        request: _Request,
        timeout: float | None,
    ) -> _Response:
        try:
            return method(request, timeout=timeout)
        except grpc.RpcError as error:
            raise _translate(error, self._socket) from error

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


_HEALTH_CHECK = "/grpc.health.v1.Health/Check"
