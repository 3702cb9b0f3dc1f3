"""The service's caps on requests and on the calls it serves at once, in
one place, as GetInfo reports them."""

from __future__ import annotations

from kindling.probe.v1 import probe_pb2
from kindling.server.api.masks import MAX_PATHS, MAX_SELECTIONS
from kindling.server.pipeline.fanout.filters import MAX_FILTERS, MAX_VALUES
from kindling.server.pipeline.fanout.filters.patterns import MAX_PATTERN_BYTES, MAX_PATTERNS

# gRPC's default, which the largest request allowed (two lists of 64
# filters of 4,096 pids, about 2.2 MB) fits.
MAX_REQUEST_BYTES = 4 * 1024 * 1024
# Calls beyond the streams: GetInfo, Configure, health, reflection.
OTHER_RPCS = 64


def max_concurrent_rpcs(max_subscribers: int) -> int:
    return max_subscribers + OTHER_RPCS


def max_connections(max_subscribers: int) -> int:
    """A connection per stream (clients often open one each) and per other call."""
    return max_subscribers + OTHER_RPCS


def request_limits(max_subscribers: int) -> probe_pb2.RequestLimits:
    return probe_pb2.RequestLimits(
        max_request_bytes=MAX_REQUEST_BYTES,
        max_subscribers=max_subscribers,
        max_concurrent_rpcs=max_concurrent_rpcs(max_subscribers),
        max_connections=max_connections(max_subscribers),
        max_filters=MAX_FILTERS,
        max_values=MAX_VALUES,
        max_patterns=MAX_PATTERNS,
        max_pattern_bytes=MAX_PATTERN_BYTES,
        max_field_selections=MAX_SELECTIONS,
        max_field_paths=MAX_PATHS,
    )
