"""Reconnect policies, and what a reconnecting stream does with failures that
the real service cannot be made to produce on demand (a fake service)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from client_fakes import FakeProbe, batch, event, reject, wait_until_done

from kindling.client import (
    InvalidRequest,
    ProbeClient,
    Reconnect,
    ServiceUnavailable,
    StreamOverflowed,
    StreamResumed,
)
from kindling.probe.v1 import probe_pb2


def test_backoff_grows_to_its_most_with_jitter() -> None:
    policy = Reconnect(initial_backoff=0.1, max_backoff=1.0, multiplier=2.0, jitter=0.5)
    middle = [policy.backoff(n, lambda: 0.5) for n in range(1, 7)]
    assert middle == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert policy.backoff(3, lambda: 0.0) == pytest.approx(0.2)  # 50 % shorter
    assert policy.backoff(3, lambda: 1.0) == pytest.approx(0.6)  # 50 % longer


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"initial_backoff": -1}, r"^initial_backoff: -1 is not a finite number of zero or more$"),
        ({"max_backoff": float("inf")}, r"^max_backoff: inf is not a finite number"),
        ({"initial_backoff": 2, "max_backoff": 1}, r"^max_backoff: 1 is less than initial_backoff"),
        ({"multiplier": 0.5}, r"^multiplier: 0.5 is less than 1$"),
        ({"jitter": 1.5}, r"^jitter: 1.5 is more than 1 \(a fraction\)$"),
        ({"max_attempts": 0}, r"^max_attempts: 0 is not None or a number of 1 or more$"),
        ({"resume_window": 600}, r"^resume_window: 600 is out of range \(more than 0 to 300 s\)$"),
    ],
)
def test_a_policy_names_the_argument_it_rejects(arguments: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Reconnect(**arguments)  # type: ignore[arg-type]


def test_reconnect_asks_for_a_resume_window(fake_probe: FakeProbe) -> None:
    fake_probe.subscribe = lambda request, context: iter([batch(event(1, "read", 1))])
    own = probe_pb2.SubscribeRequest()
    own.resume_window.seconds = 5
    with ProbeClient(fake_probe.socket) as client:
        with client.subscribe(reconnect=Reconnect(resume_window=42)) as stream:
            next(stream)
            assert stream.request.resume_window.seconds == 42
        with client.subscribe(own, reconnect=True) as stream:
            next(stream)
        with pytest.raises(TypeError, match=r"^reconnect: expected True or a Reconnect, not 1$"):
            client.subscribe(reconnect=1)  # type: ignore[call-overload]
    assert [r.resume_window.seconds for r in fake_probe.requests] == [42, 5]


def test_an_invalid_request_is_raised_not_retried(fake_probe: FakeProbe) -> None:
    fake_probe.subscribe = reject(grpc.StatusCode.INVALID_ARGUMENT, 'unknown event name "x"')
    with ProbeClient(fake_probe.socket) as client, pytest.raises(InvalidRequest):
        next(client.subscribe(names=["x"], reconnect=True))
    assert len(fake_probe.requests) == 1


def test_attempts_are_limited_and_the_last_error_raised(stale_socket: str) -> None:
    policy = Reconnect(initial_backoff=0.01, max_backoff=0.01, max_attempts=3)
    with ProbeClient(stale_socket) as client, pytest.raises(ServiceUnavailable) as caught:
        next(client.subscribe(reconnect=policy))
    assert not caught.value.started


def test_cancel_ends_a_stream_waiting_to_reconnect(stale_socket: str) -> None:
    with ProbeClient(stale_socket) as client:
        stream = client.subscribe(reconnect=Reconnect(initial_backoff=30, max_backoff=30))
        threading.Timer(0.3, stream.cancel).start()
        started = time.monotonic()
        assert list(stream) == []
        assert time.monotonic() - started < 10
    client = ProbeClient(stale_socket)
    stream = client.subscribe(reconnect=Reconnect(initial_backoff=30, max_backoff=30))
    threading.Timer(0.3, client.close).start()
    started = time.monotonic()
    assert list(stream) == []
    assert time.monotonic() - started < 10


def test_an_overflowed_stream_is_resumed(fake_probe: FakeProbe) -> None:
    def overflow_once(
        request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        if not request.HasField("resume"):
            yield probe_pb2.SubscribeResponse(stream_id="s1")
            yield batch(event(1, "read", 1), event(2, "read", 1))
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "the stream's queue was full")
        yield batch(event(3, "read", 1))
        wait_until_done(context)

    fake_probe.subscribe = overflow_once
    policy = Reconnect(initial_backoff=0.01)
    with ProbeClient(fake_probe.socket) as client, client.subscribe(reconnect=policy) as stream:
        items = [next(stream) for _ in range(4)]
    resumed = items[2]
    assert isinstance(resumed, StreamResumed)
    assert (resumed.stream_id, resumed.last_seq, resumed.attempts) == ("s1", 2, 1)
    assert isinstance(resumed.cause, StreamOverflowed)
    assert fake_probe.requests[1].resume == probe_pb2.Resume(stream_id="s1", last_seq=2)
    assert stream.last_seq == 3
