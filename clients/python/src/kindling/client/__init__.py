"""The Python client of the kindling probe service.

:class:`ProbeClient` connects to the service's unix socket and subscribes to
kernel events, reads its description and changes what it captures::

    from kindling.client import LostEvents, ProbeClient, event_filter, subscribe_request

    request = subscribe_request(allow=[event_filter(names=["connect"], pids=[1234])])
    with ProbeClient() as client:  # $KINDLING_SOCKET or /run/kindling.sock
        for item in client.subscribe(request, reconnect=True).events():
            print(item)  # an Event, or a notice: LostEvents, StreamResumed, StreamRestarted

:mod:`kindling.client.aio` is the same client for asyncio;
:mod:`kindling.client.requests` builds requests,
:mod:`kindling.client.notices` describes what a stream reports besides
events, :mod:`kindling.client.reconnect` how a stream reconnects, and
:mod:`kindling.client.recording` reads and writes recordings.
:mod:`kindling.client.format` renders events like the Go client does, and
:mod:`kindling.client.cli` is the ``kindling`` command. The messages are the
generated ``kindling.event.v1`` and ``kindling.probe.v1`` modules.

The names below are imported on first use, so that importing this package
(or ``kindling.client.format``) does not import grpc.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kindling.client._client import ProbeClient
    from kindling.client._connection import (
        DEFAULT_SOCKET,
        MAX_RECEIVE_MESSAGE_LENGTH,
        SOCKET_ENV,
        default_socket,
    )
    from kindling.client._subscription import ReconnectingSubscription, Subscription
    from kindling.client.errors import (
        ConfigChanged,
        DeadlineExceeded,
        InvalidRequest,
        KindlingError,
        PermissionDenied,
        RequestFailed,
        ServiceNotFound,
        ServiceUnavailable,
        StreamNotFound,
        StreamOverflowed,
    )
    from kindling.client.notices import (
        LossReason,
        LostEvents,
        Notice,
        StreamRestarted,
        StreamResumed,
        in_stream_order,
    )
    from kindling.client.reconnect import Reconnect
    from kindling.client.requests import (
        OVERFLOW_POLICIES,
        PAYLOAD_MODES,
        CategoryChoice,
        FdTypeChoice,
        OverflowChoice,
        PayloadChoice,
        PortChoice,
        ProtocolChoice,
        Seconds,
        SourceChoice,
        batching,
        event_filter,
        exclude_fields,
        include_fields,
        kernel_filters,
        subscribe_request,
    )

__all__ = [
    "DEFAULT_SOCKET",
    "MAX_RECEIVE_MESSAGE_LENGTH",
    "OVERFLOW_POLICIES",
    "PAYLOAD_MODES",
    "SOCKET_ENV",
    "CategoryChoice",
    "ConfigChanged",
    "DeadlineExceeded",
    "FdTypeChoice",
    "InvalidRequest",
    "KindlingError",
    "LossReason",
    "LostEvents",
    "Notice",
    "OverflowChoice",
    "PayloadChoice",
    "PermissionDenied",
    "PortChoice",
    "ProbeClient",
    "ProtocolChoice",
    "Reconnect",
    "ReconnectingSubscription",
    "RequestFailed",
    "Seconds",
    "ServiceNotFound",
    "ServiceUnavailable",
    "SourceChoice",
    "StreamNotFound",
    "StreamOverflowed",
    "StreamRestarted",
    "StreamResumed",
    "Subscription",
    "batching",
    "default_socket",
    "event_filter",
    "exclude_fields",
    "in_stream_order",
    "include_fields",
    "kernel_filters",
    "subscribe_request",
]

# Where the names live: every name of these modules' __all__ is exported (a
# test checks it). Those that do not import grpc come first, so that their
# names do not import it.
_SOURCES = (
    "kindling.client.errors",
    "kindling.client.requests",
    "kindling.client.notices",
    "kindling.client._connection",
    "kindling.client._subscription",
    "kindling.client._client",
    "kindling.client.reconnect",
)


def __getattr__(name: str) -> object:
    if name in __all__:
        for source in _SOURCES:
            module = importlib.import_module(source)
            if name in module.__all__:
                value = getattr(module, name)
                globals()[name] = value
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
