"""Tests of the kindling.client library (ProbeClient and its errors) against a fake service."""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from client_fakes import FakeProbe, batch, event, reject, send_then_wait, wait_until_done

from kindling.client import (
    DEFAULT_SOCKET,
    SOCKET_ENV,
    DeadlineExceeded,
    InvalidRequest,
    KindlingError,
    LossReason,
    LostEvents,
    ProbeClient,
    RequestFailed,
    ServiceNotFound,
    ServiceUnavailable,
    StreamNotFound,
    StreamOverflowed,
    default_socket,
)
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2


def test_default_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SOCKET_ENV, raising=False)
    assert default_socket() == DEFAULT_SOCKET == "/run/kindling.sock"
    monkeypatch.setenv(SOCKET_ENV, "")
    assert default_socket() == DEFAULT_SOCKET
    monkeypatch.setenv(SOCKET_ENV, "/tmp/k.sock")
    assert default_socket() == "/tmp/k.sock"


def test_client_uses_the_environment(
    fake_probe: FakeProbe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SOCKET_ENV, fake_probe.socket)
    with ProbeClient() as client:
        assert client.socket == fake_probe.socket
        assert repr(client) == f"ProbeClient({fake_probe.socket!r})"


def test_service_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "x.sock"
    with pytest.raises(ServiceNotFound) as caught:
        ProbeClient(missing)
    assert caught.value.missing
    assert caught.value.socket == str(missing)
    assert str(caught.value) == (
        f"no kindling probe service at {missing}: the socket does not exist; "
        'start the service with "kindling-probe serve"'
    )
    assert isinstance(caught.value, KindlingError)

    with pytest.raises(ServiceNotFound, match=r"the path exists but is not a unix socket$"):
        ProbeClient(__file__)
    with pytest.raises(ServiceNotFound, match=r"cannot check the socket: not a directory$"):
        ProbeClient(__file__ + "/x.sock")
    with pytest.raises(ServiceNotFound, match=r"cannot check the socket: invalid argument$"):
        ProbeClient("/tmp/a\0b")


def test_subscribe_builds_one_filter(fake_probe: FakeProbe) -> None:
    fake_probe.subscribe = send_then_wait(batch(event(1, "read", 1)))
    request = probe_pb2.SubscribeRequest(deny_list=[probe_pb2.EventFilter(names=["read"])])
    with ProbeClient(fake_probe.socket) as client:
        with client.subscribe(names=["connect"], pids=[7, 8]) as subscription:
            next(subscription)
        with client.subscribe(pids=iter([9])) as subscription:
            next(subscription)
        with client.subscribe() as subscription:
            next(subscription)
        with client.subscribe(request) as subscription:
            next(subscription)
        with pytest.raises(ValueError, match="not both"):
            client.subscribe(request, names=["x"])
    assert fake_probe.requests == [
        probe_pb2.SubscribeRequest(
            allow_list=[probe_pb2.EventFilter(names=["connect"], pids=[7, 8])]
        ),
        probe_pb2.SubscribeRequest(allow_list=[probe_pb2.EventFilter(pids=[9])]),
        probe_pb2.SubscribeRequest(),
        request,
    ]


def test_events_yields_events_and_losses_in_stream_order(fake_probe: FakeProbe) -> None:
    ended = threading.Event()
    queue_full = probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL

    def subscribe(
        request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        context.add_callback(ended.set)
        yield batch(event(1, "a", 1), event(2, "b", 1))
        yield probe_pb2.SubscribeResponse(losses=[probe_pb2.Loss(count=3)])
        # A queue that drops the newest: the loss is after the batch's events.
        yield batch(
            event(3, "c", 1),
            event(9, "d", 1),
            losses=(
                probe_pb2.Loss(reason=queue_full, first_seq=10, count=5),
                probe_pb2.Loss(reason=queue_full, first_seq=4, count=5),
            ),
        )
        wait_until_done(context)

    fake_probe.subscribe = subscribe
    with ProbeClient(fake_probe.socket) as client, client.subscribe() as subscription:
        items: list[object] = []
        for item in subscription.events():
            items.append(item.name if isinstance(item, event_pb2.Event) else item)
            if len(items) == 7:
                break
        subscription.cancel()
        assert ended.wait(5)
    unknown = LostEvents(LossReason.UNSPECIFIED, 3)
    assert items == [
        "a",
        "b",
        unknown,
        "c",
        LostEvents(LossReason.SUBSCRIBER_QUEUE_FULL, 5, 4, 8),
        "d",
        LostEvents(LossReason.SUBSCRIBER_QUEUE_FULL, 5, 10, 14),
    ]
    assert not unknown.numbered


def test_cancel_and_close_end_iteration(fake_probe: FakeProbe) -> None:
    fake_probe.subscribe = send_then_wait(batch(event(1, "read", 1)))
    with ProbeClient(fake_probe.socket) as client:
        subscription = client.subscribe()
        assert not subscription.received
        threading.Timer(0.1, subscription.cancel).start()
        assert [len(r.events) for r in subscription] == [1]
        assert subscription.received

        subscription = client.subscribe()
        threading.Timer(0.1, client.close).start()
        assert [len(r.events) for r in subscription] == [1]


def test_service_ends_the_stream(fake_probe: FakeProbe) -> None:
    fake_probe.subscribe = lambda request, context: iter([batch(event(1, "read", 1))])
    with ProbeClient(fake_probe.socket) as client:
        assert [r.events[0].seq for r in client.subscribe()] == [1]


def test_invalid_request(fake_probe: FakeProbe) -> None:
    fake_probe.subscribe = reject(grpc.StatusCode.INVALID_ARGUMENT, 'unknown event name "x"')
    with ProbeClient(fake_probe.socket) as client, pytest.raises(InvalidRequest) as caught:
        next(client.subscribe(names=["x"]))
    error = caught.value
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details == 'unknown event name "x"'
    assert str(error) == (
        f"the kindling probe service at {fake_probe.socket} rejected the request: "
        'unknown event name "x"'
    )
    assert isinstance(error.__cause__, grpc.RpcError)


def test_unreachable_service(stale_socket: str) -> None:
    with ProbeClient(stale_socket) as client:
        with pytest.raises(ServiceUnavailable) as caught:
            next(client.subscribe())
        assert not caught.value.started
        assert str(caught.value).startswith(
            f"the kindling probe service is not reachable at {stale_socket} ("
        )
        with pytest.raises(ServiceUnavailable):
            client.get_info()


@pytest.mark.parametrize("first_batch", [True, False], ids=["after-events", "before-events"])
def test_service_goes_away(fake_probe: FakeProbe, first_batch: bool) -> None:
    def subscribe(
        request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        if first_batch:
            yield batch(event(1, "read", 1))
        fake_probe.stop_soon(0.1)
        wait_until_done(context)

    fake_probe.subscribe = subscribe
    with ProbeClient(fake_probe.socket) as client:
        subscription = client.subscribe()
        received: list[probe_pb2.SubscribeResponse] = []
        with pytest.raises(ServiceUnavailable) as caught:
            received.extend(subscription)
    assert len(received) == (1 if first_batch else 0)
    assert caught.value.started
    assert str(caught.value).startswith(
        f"the kindling probe service at {fake_probe.socket} stopped ("
    )


def test_deadline(fake_probe: FakeProbe) -> None:
    fake_probe.subscribe = send_then_wait(batch(event(1, "read", 1)))
    with ProbeClient(fake_probe.socket) as client:
        subscription = client.subscribe(timeout=0.2)
        assert len(next(subscription).events) == 1
        with pytest.raises(DeadlineExceeded, match="did not finish in time"):
            next(subscription)


def test_get_info_and_configure(fake_probe: FakeProbe) -> None:
    info = probe_pb2.GetInfoResponse(service_version="1.2.3", node_name="node-a")
    fake_probe.get_info = lambda request, context: info

    def configure(
        request: probe_pb2.ConfigureRequest, context: grpc.ServicerContext
    ) -> probe_pb2.ConfigureResponse:
        if "nope" in request.enable_events:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, 'unknown event name "nope"')
        return probe_pb2.ConfigureResponse(enabled_events=["connect", *request.enable_events])

    fake_probe.configure = configure
    with ProbeClient(fake_probe.socket) as client:
        assert client.get_info() == info
        response = client.configure(enable=("read",), disable=iter(["write"]))
        assert list(response.enabled_events) == ["connect", "read"]
        with pytest.raises(InvalidRequest, match='unknown event name "nope"'):
            client.configure(enable=["nope"])
    assert fake_probe.configure_requests[0] == probe_pb2.ConfigureRequest(
        enable_events=["read"], disable_events=["write"]
    )


def test_other_errors(fake_probe: FakeProbe) -> None:
    with ProbeClient(fake_probe.socket) as client, pytest.raises(RequestFailed) as caught:
        client.get_info()
    assert type(caught.value) is RequestFailed
    assert caught.value.code is grpc.StatusCode.UNIMPLEMENTED
    assert str(caught.value) == (
        f"the kindling probe service at {fake_probe.socket} failed the request: "
        "UNIMPLEMENTED: GetInfo is not scripted"
    )


def test_socket_path_with_uri_characters(short_dir: Path) -> None:
    path = str(short_dir / "a b?c#d%41.sock")
    probe = FakeProbe(socket=path, get_info=lambda request, context: probe_pb2.GetInfoResponse())
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((probe.handler(),))
    server.add_insecure_port("unix://" + urllib.parse.quote(path, safe="/"))
    server.start()
    try:
        assert Path(path).is_socket()
        with ProbeClient(Path(path)) as client:
            assert client.get_info() == probe_pb2.GetInfoResponse()
    finally:
        server.stop(None).wait(5)


def test_health(short_dir: Path) -> None:
    health = pytest.importorskip("grpc_health.v1.health")
    health_pb2 = pytest.importorskip("grpc_health.v1.health_pb2")
    health_pb2_grpc = pytest.importorskip("grpc_health.v1.health_pb2_grpc")

    path = str(short_dir / "health.sock")
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("kindling.probe.v1.ProbeService", health_pb2.HealthCheckResponse.NOT_SERVING)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port("unix:" + path)
    server.start()
    try:
        with ProbeClient(path) as client:
            assert client.health() == "SERVING"
            assert client.health("kindling.probe.v1.ProbeService") == "NOT_SERVING"
            assert client.health("other") == "SERVICE_UNKNOWN"
    finally:
        server.stop(None).wait(5)


def test_health_without_a_health_service(fake_probe: FakeProbe) -> None:
    with ProbeClient(fake_probe.socket) as client, pytest.raises(RequestFailed) as caught:
        client.health()
    assert caught.value.code is grpc.StatusCode.UNIMPLEMENTED


def test_importing_the_package_does_not_import_grpc() -> None:
    code = (
        "import sys, kindling.client, kindling.client.format, kindling.client.errors; "
        "assert 'grpc' not in sys.modules; "
        "kindling.client.ProbeClient; assert 'grpc' in sys.modules; "
        "print(sorted(set(kindling.client.__all__) - set(dir(kindling.client))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout == "[]\n"


def test_a_resumable_stream_resumes_after_its_last_event(fake_probe: FakeProbe) -> None:
    def overflow_then_resume(
        request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        if not request.HasField("resume"):
            yield probe_pb2.SubscribeResponse(stream_id="s1")
            response = batch(event(1, "read", 1), event(2, "read", 1))
            response.stream_id = "s1"
            yield response
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "the stream's queue was full")
        response = batch(event(3, "read", 1))
        response.stream_id = "s1"
        yield response
        wait_until_done(context)

    fake_probe.subscribe = overflow_then_resume
    request = probe_pb2.SubscribeRequest(
        allow_list=[probe_pb2.EventFilter(names=["read"])],
        overflow=probe_pb2.OVERFLOW_POLICY_DISCONNECT,
    )
    request.resume_window.seconds = 30
    with ProbeClient(fake_probe.socket) as client:
        first = client.subscribe(request)
        with pytest.raises(StreamOverflowed, match="ended the stream: the stream's queue was full"):
            for _ in first:
                pass
        assert (first.stream_id, first.last_seq) == ("s1", 2)
        with client.resume(first) as second:
            assert [e.seq for e in next(second).events] == [3]
            assert (second.stream_id, second.last_seq) == ("s1", 3)
    resumed = probe_pb2.SubscribeRequest()
    resumed.CopyFrom(request)
    resumed.resume.stream_id, resumed.resume.last_seq = "s1", 2
    assert fake_probe.requests == [request, resumed]


def test_resume_needs_a_resumable_stream(fake_probe: FakeProbe) -> None:
    fake_probe.subscribe = send_then_wait(batch(event(1, "read", 1)))
    with ProbeClient(fake_probe.socket) as client, client.subscribe() as plain:
        next(plain)
        with pytest.raises(ValueError, match="not resumable"):
            client.resume(plain)


def test_a_stream_gone_cannot_be_resumed(fake_probe: FakeProbe) -> None:
    def announce_then_forget(
        request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        if request.HasField("resume"):
            context.abort(grpc.StatusCode.NOT_FOUND, "resume.stream_id: no resumable stream")
        yield probe_pb2.SubscribeResponse(stream_id="s1")

    fake_probe.subscribe = announce_then_forget
    with ProbeClient(fake_probe.socket) as client:
        first = client.subscribe(probe_pb2.SubscribeRequest())
        assert list(first) and first.stream_id == "s1"
        with pytest.raises(StreamNotFound, match=r"cannot resume: resume\.stream_id"):
            next(client.resume(first))
