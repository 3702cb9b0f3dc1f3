"""The requests both clients send for their methods' arguments, and the health check."""

from __future__ import annotations

from collections.abc import Iterable

from grpc_health.v1 import health_pb2

from kindling.client.requests import PAYLOAD_MODES, PayloadChoice, event_filter
from kindling.probe.v1 import probe_pb2

__all__ = [
    "HEALTH_CHECK",
    "configure_request",
    "health_status",
    "resume_request",
    "subscription_request",
]

HEALTH_CHECK = "/grpc.health.v1.Health/Check"


def subscription_request(
    request: probe_pb2.SubscribeRequest | None,
    names: Iterable[str],
    pids: Iterable[int],
    payload: PayloadChoice,
) -> probe_pb2.SubscribeRequest:
    """``request``, or the one ``subscribe(names=..., pids=..., payload=...)`` means."""
    names, pids = list(names), list(pids)
    if payload not in PAYLOAD_MODES:
        raise ValueError(f"payload must be one of {', '.join(PAYLOAD_MODES)}, not {payload!r}")
    if request is not None:
        if names or pids or payload != "none":
            raise ValueError("pass either a request or names, pids and payload, not both")
        return request
    request = probe_pb2.SubscribeRequest(payload=PAYLOAD_MODES[payload])
    if names or pids:
        request.allow_list.append(event_filter(names=names, pids=pids))
    return request


def resume_request(
    request: probe_pb2.SubscribeRequest, stream_id: str, last_seq: int
) -> probe_pb2.SubscribeRequest:
    """``request`` (the one the stream started with) resuming it after ``last_seq``."""
    if not stream_id:
        raise ValueError(
            "the stream is not resumable, or no response of it has arrived: "
            "subscribe with resume_window set, and read its first response"
        )
    resumed = probe_pb2.SubscribeRequest()
    resumed.CopyFrom(request)
    resumed.resume.stream_id = stream_id
    resumed.resume.last_seq = last_seq
    return resumed


def configure_request(
    enable: Iterable[str],
    disable: Iterable[str],
    *,
    kernel_filters: probe_pb2.KernelFilters | None,
    snaplen: int | None,
    batching: probe_pb2.Batching | None,
    dry_run: bool,
    expected_generation: int | None,
) -> probe_pb2.ConfigureRequest:
    """The request of ``configure()`` (see :meth:`kindling.client.ProbeClient.configure`)."""
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
    return request


def health_status(response: health_pb2.HealthCheckResponse) -> str:
    """The status name of a health check ("SERVING", "NOT_SERVING", ...)."""
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
