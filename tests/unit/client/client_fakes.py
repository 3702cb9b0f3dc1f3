"""A scriptable fake of the kindling probe service for the client tests, and helpers.

The fake is an in-process gRPC server on a unix socket that implements
kindling.probe.v1.ProbeService with grpc's generic handlers, and whose
behaviour each test scripts: a test double at the network boundary. The real
service has its own tests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import grpc
from google.protobuf import timestamp_pb2

from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2

SERVICE = "kindling.probe.v1.ProbeService"
# 2024-05-01T12:00:00Z, the boot time of the Go client's tests.
BOOT_TIME_NS = 1_714_564_800 * 1_000_000_000

SubscribeFunc = Callable[
    [probe_pb2.SubscribeRequest, grpc.ServicerContext], Iterator[probe_pb2.SubscribeResponse]
]
ConfigureFunc = Callable[
    [probe_pb2.ConfigureRequest, grpc.ServicerContext], probe_pb2.ConfigureResponse
]
GetInfoFunc = Callable[[probe_pb2.GetInfoRequest, grpc.ServicerContext], probe_pb2.GetInfoResponse]


def event(seq: int, name: str, pid: int) -> event_pb2.Event:
    """A syscall exit event of process ``pid`` (like the Go command's tests)."""
    return event_pb2.Event(
        seq=seq,
        timestamp_ns=seq * 1000,
        name=name,
        source=event_pb2.SOURCE_SYSCALL_EXIT,
        latency_ns=850,
        thread=event_pb2.Thread(pid=pid, tid=pid, comm="app"),
    )


def batch(
    *events: event_pb2.Event, losses: tuple[probe_pb2.Loss, ...] = ()
) -> probe_pb2.SubscribeResponse:
    """A response carrying ``events`` and ``losses``, with the test boot time."""
    return probe_pb2.SubscribeResponse(
        events=events,
        losses=losses,
        node_name="node-a",
        boot_time=timestamp_pb2.Timestamp(seconds=BOOT_TIME_NS // 1_000_000_000),
    )


def wait_until_done(context: grpc.ServicerContext, timeout: float = 30) -> None:
    """Block until the RPC ends (the client cancels it or the server stops)."""
    done = threading.Event()
    if context.add_callback(done.set):
        done.wait(timeout)


def send_then_wait(*responses: probe_pb2.SubscribeResponse) -> SubscribeFunc:
    """A Subscribe handler that sends ``responses``, then keeps the stream open."""

    def subscribe(
        request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        yield from responses
        wait_until_done(context)

    return subscribe


def reject(code: grpc.StatusCode, details: str) -> SubscribeFunc:
    """A Subscribe handler that fails the call with ``code`` and ``details``."""

    def subscribe(
        request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        context.abort(code, details)
        yield from ()

    return subscribe


@dataclass
class FakeProbe:
    """The fake service: set the handler fields, read ``requests``."""

    socket: str
    subscribe: SubscribeFunc | None = None
    configure: ConfigureFunc | None = None
    get_info: GetInfoFunc | None = None
    requests: list[probe_pb2.SubscribeRequest] = field(default_factory=list)
    configure_requests: list[probe_pb2.ConfigureRequest] = field(default_factory=list)
    server: grpc.Server | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Subscribe": grpc.unary_stream_rpc_method_handler(
                    self._subscribe,
                    request_deserializer=probe_pb2.SubscribeRequest.FromString,
                    response_serializer=probe_pb2.SubscribeResponse.SerializeToString,
                ),
                "Configure": grpc.unary_unary_rpc_method_handler(
                    self._configure,
                    request_deserializer=probe_pb2.ConfigureRequest.FromString,
                    response_serializer=probe_pb2.ConfigureResponse.SerializeToString,
                ),
                "GetInfo": grpc.unary_unary_rpc_method_handler(
                    self._get_info,
                    request_deserializer=probe_pb2.GetInfoRequest.FromString,
                    response_serializer=probe_pb2.GetInfoResponse.SerializeToString,
                ),
            },
        )

    def _subscribe(
        self, request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        with self._lock:
            self.requests.append(request)
        if self.subscribe is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "Subscribe is not scripted")
        yield from self.subscribe(request, context)

    def _configure(
        self, request: probe_pb2.ConfigureRequest, context: grpc.ServicerContext
    ) -> probe_pb2.ConfigureResponse:
        with self._lock:
            self.configure_requests.append(request)
        if self.configure is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "Configure is not scripted")
        return self.configure(request, context)

    def _get_info(
        self, request: probe_pb2.GetInfoRequest, context: grpc.ServicerContext
    ) -> probe_pb2.GetInfoResponse:
        if self.get_info is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "GetInfo is not scripted")
        return self.get_info(request, context)

    def stop_soon(self, delay: float = 0.0) -> None:
        """Stop the server from another thread (the service going away)."""
        server = self.server
        assert server is not None
        threading.Timer(delay, server.stop, args=(None,)).start()
