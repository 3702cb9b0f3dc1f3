"""Fuzzed requests against the real service (bounded in time): no call ends
UNKNOWN or INTERNAL, every rejection is INVALID_ARGUMENT (or, for a resume,
NOT_FOUND; for sizes past the limits, RESOURCE_EXHAUSTED; for a Configure
expecting another generation, FAILED_PRECONDITION), a rejected
Configure changes nothing, and the log stays small and free of tracebacks."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.service import Service, start_service

from kindling.probe.v1 import probe_pb2, probe_pb2_grpc

pytestmark = pytest.mark.kernel

REJECTIONS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
}
METHODS = ("Subscribe", "Configure", "GetInfo")
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = start_service(tmp_path_factory.mktemp("fuzz"))
    yield service
    assert service.stop() == 0, service.log()


@pytest.fixture(scope="module")
def channel(service: Service) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"unix:{service.socket}") as channel:
        yield channel


def configuration(channel: grpc.Channel) -> tuple[object, ...]:
    info = probe_pb2_grpc.ProbeServiceStub(channel).GetInfo(probe_pb2.GetInfoRequest(), timeout=10)
    enabled = tuple(e.name for e in info.events if e.enabled)
    scope = info.driver.scope.kernel_filters.SerializeToString(deterministic=True)
    return enabled, scope, info.driver.snaplen


def call(channel: grpc.Channel, method: str, data: bytes) -> grpc.StatusCode:
    path = f"/kindling.probe.v1.ProbeService/{method}"
    try:
        if method == "Subscribe":
            stream = channel.unary_stream(path)(data, timeout=0.3)
            try:
                next(iter(stream))
            finally:
                stream.cancel()
        else:
            channel.unary_unary(path)(data, timeout=10)
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def check(channel: grpc.Channel, method: str, data: bytes) -> None:
    before = configuration(channel) if method == "Configure" else None
    code = call(channel, method, data)
    assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), (method, data[:64])
    if method == "Subscribe" and code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return  # accepted: the stream waited for events
    assert code == grpc.StatusCode.OK or code in REJECTIONS, (method, code, data[:64])
    if before is not None and code != grpc.StatusCode.OK:
        assert configuration(channel) == before, "a rejected Configure changed something"


@FUZZ
@given(method=st.sampled_from(METHODS), data=st.binary(max_size=256))
def test_raw_bytes(channel: grpc.Channel, method: str, data: bytes) -> None:
    check(channel, method, data)


names = st.sampled_from(["read", "write", "openat", "connect", "bogus", "", "x" * 300])
filters = st.builds(
    probe_pb2.EventFilter,
    names=st.lists(names, max_size=3),
    pids=st.lists(st.integers(0, 2**32 - 1), max_size=3),
    comms=st.lists(st.sampled_from(["nginx", "(", "a" * 300, ".*", "[z-a]"]), max_size=2),
    local_addresses=st.lists(
        st.sampled_from(["10.0.0.0/8", "::1", "300.1.1.1", "x/99"]), max_size=2
    ),
    local_ports=st.lists(
        st.builds(probe_pb2.PortRange, first=st.integers(0, 70000), last=st.integers(0, 70000)),
        max_size=2,
    ),
)
subscribe_requests = st.builds(
    probe_pb2.SubscribeRequest,
    allow_list=st.lists(filters, max_size=3),
    deny_list=st.lists(filters, max_size=2),
    payload=st.integers(0, 5),
    overflow=st.integers(0, 5),
)
configure_requests = st.builds(
    probe_pb2.ConfigureRequest,
    enable_events=st.lists(names, max_size=3),
    disable_events=st.lists(names, max_size=3),
    snaplen=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
)


@FUZZ
@given(request=subscribe_requests)
def test_structured_subscribe(channel: grpc.Channel, request: probe_pb2.SubscribeRequest) -> None:
    check(channel, "Subscribe", request.SerializeToString())


@FUZZ
@given(request=configure_requests)
def test_structured_configure(channel: grpc.Channel, request: probe_pb2.ConfigureRequest) -> None:
    check(channel, "Configure", request.SerializeToString())


def test_the_log_stayed_small_and_clean(service: Service) -> None:
    log = service.log()
    assert "Traceback" not in log
    assert len(log) < 1_000_000, len(log)
