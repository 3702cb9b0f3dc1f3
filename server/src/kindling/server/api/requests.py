"""SubscribeRequest -> the pipeline's plain selection: the one place the
request message is read (its field masks in masks.py), so the pipeline never
sees the API's messages."""

from __future__ import annotations

from kindling.probe.v1 import probe_pb2
from kindling.server.api.masks import field_rules
from kindling.server.catalog import Catalog
from kindling.server.pipeline.fanout.filters import (
    FilterError,
    FilterSpec,
    ReturnValueSpec,
    Selection,
    SelectionSpec,
    compile_selection,
)
from kindling.server.pipeline.fanout.options import Overflow, StreamOptions
from kindling.server.pipeline.plan import PayloadMode


def _return_value(given: probe_pb2.ReturnValueFilter) -> ReturnValueSpec:
    return ReturnValueSpec(
        errors_only=given.errors_only,
        values=tuple(given.values),
        min=given.min if given.HasField("min") else None,
        max=given.max if given.HasField("max") else None,
    )


def filter_spec(given: probe_pb2.EventFilter) -> FilterSpec:
    return FilterSpec(
        names=tuple(given.names),
        pids=tuple(given.pids),
        cgroup_ids=tuple(given.cgroup_ids),
        categories=tuple(given.categories),
        sources=tuple(given.sources),
        tids=tuple(given.tids),
        uids=tuple(given.uids),
        gids=tuple(given.gids),
        comms=tuple(given.comms),
        return_value=_return_value(given.return_value) if given.HasField("return_value") else None,
        min_latency_ns=given.min_latency_ns,
        has_payload=given.has_payload if given.HasField("has_payload") else None,
        ppids=tuple(given.ppids),
        exes=tuple(given.exes),
        container_ids=tuple(given.container_ids),
        fd_types=tuple(given.fd_types),
        protocols=tuple(given.protocols),
        local_ports=tuple((r.first, r.last) for r in given.local_ports),
        remote_ports=tuple((r.first, r.last) for r in given.remote_ports),
        local_addresses=tuple(given.local_addresses),
        remote_addresses=tuple(given.remote_addresses),
        process_trees=tuple(given.process_trees),
    )


def selection_spec(request: probe_pb2.SubscribeRequest, catalog: Catalog) -> SelectionSpec:
    try:
        payload = PayloadMode(request.payload)
    except ValueError:
        known = ", ".join(probe_pb2.PayloadMode.keys())
        raise FilterError(
            f"payload: {request.payload} is not a payload mode; the modes are {known}"
        ) from None
    return SelectionSpec(
        allow=tuple(filter_spec(f) for f in request.allow_list),
        deny=tuple(filter_spec(f) for f in request.deny_list),
        payload=payload,
        fields=field_rules(request, catalog),
    )


def compile_request(request: probe_pb2.SubscribeRequest, catalog: Catalog) -> Selection:
    """The request's selection, checked and compiled (FilterError if invalid)."""
    return compile_selection(selection_spec(request, catalog), catalog)


# The longest a stream may ask its events to wait for a fuller response.
MAX_BATCH_DELAY_SECONDS = 10.0


def batching(
    given: probe_pb2.Batching, most_events: int, field: str = "batching"
) -> tuple[int, float]:
    """A Batching's (max events per response, max delay in seconds), checked."""
    max_events = given.max_events or most_events
    if max_events > most_events:
        raise FilterError(
            f"{field}.max_events: {given.max_events} is more than the service's "
            f"{most_events} (kindling-probe serve --max-batch-events)"
        )
    delay = given.max_delay.seconds + given.max_delay.nanos / 1e9
    if not 0 <= delay <= MAX_BATCH_DELAY_SECONDS or not 0 <= given.max_delay.nanos < 10**9:
        raise FilterError(
            f"{field}.max_delay: a delay from 0 to {MAX_BATCH_DELAY_SECONDS:g} seconds"
        )
    return max_events, delay


# The longest a disconnected stream may wait to be resumed.
MAX_RESUME_WINDOW_SECONDS = 300.0

_OVERFLOW = {
    probe_pb2.OVERFLOW_POLICY_UNSPECIFIED: Overflow.DROP_NEWEST,
    probe_pb2.OVERFLOW_POLICY_DROP_NEWEST: Overflow.DROP_NEWEST,
    probe_pb2.OVERFLOW_POLICY_DROP_OLDEST: Overflow.DROP_OLDEST,
    probe_pb2.OVERFLOW_POLICY_DISCONNECT: Overflow.DISCONNECT,
}


def stream_options(
    request: probe_pb2.SubscribeRequest, most_events: int, default_batching: tuple[int, float]
) -> StreamOptions:
    """The stream's delivery options, checked (FilterError if invalid);
    `default_batching` for a stream that asks for none (Configure's)."""
    max_events, max_delay = (
        batching(request.batching, most_events)
        if request.HasField("batching")
        else default_batching
    )
    overflow = _OVERFLOW.get(request.overflow)
    if overflow is None:
        known = ", ".join(probe_pb2.OverflowPolicy.keys())
        raise FilterError(
            f"overflow: {request.overflow} is not an overflow policy; the policies are {known}"
        )
    window = request.resume_window
    seconds = window.seconds + window.nanos / 1e9
    if not 0 <= seconds <= MAX_RESUME_WINDOW_SECONDS or not 0 <= window.nanos < 10**9:
        raise FilterError(
            f"resume_window: a window from 0 to {MAX_RESUME_WINDOW_SECONDS:g} seconds"
        )
    return StreamOptions(max_events, max_delay, overflow, seconds)


def same_stream(request: probe_pb2.SubscribeRequest, original: probe_pb2.SubscribeRequest) -> bool:
    """Whether a resume asks for the stream as it started (or for nothing
    but the resume)."""
    asked = probe_pb2.SubscribeRequest()
    asked.CopyFrom(request)
    asked.ClearField("resume")
    return asked in (probe_pb2.SubscribeRequest(), original)
