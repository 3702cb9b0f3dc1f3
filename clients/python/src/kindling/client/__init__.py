"""The Python client of the kindling probe service.

:class:`ProbeClient` connects to the service's unix socket and subscribes to
kernel events, reads its description and changes what it captures::

    from kindling.client import ProbeClient
    from kindling.client.format import format_compact

    with ProbeClient() as client:  # $KINDLING_SOCKET or /run/kindling.sock
        for event, response in client.events(names=["connect"], pids=[1234]):
            print(format_compact(event, response.boot_time.ToNanoseconds()))

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
    from kindling.client._client import (
        DEFAULT_SOCKET,
        MAX_RECEIVE_MESSAGE_LENGTH,
        PAYLOAD_MODES,
        SOCKET_ENV,
        PayloadChoice,
        ProbeClient,
        Subscription,
        default_socket,
    )
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

__all__ = [
    "DEFAULT_SOCKET",
    "MAX_RECEIVE_MESSAGE_LENGTH",
    "PAYLOAD_MODES",
    "SOCKET_ENV",
    "ConfigChanged",
    "DeadlineExceeded",
    "InvalidRequest",
    "KindlingError",
    "PayloadChoice",
    "PermissionDenied",
    "ProbeClient",
    "RequestFailed",
    "ServiceNotFound",
    "ServiceUnavailable",
    "StreamNotFound",
    "StreamOverflowed",
    "Subscription",
    "default_socket",
]

_CLIENT = "kindling.client._client"
_ERRORS = "kindling.client.errors"
_MODULES = {
    "DEFAULT_SOCKET": _CLIENT,
    "MAX_RECEIVE_MESSAGE_LENGTH": _CLIENT,
    "PAYLOAD_MODES": _CLIENT,
    "SOCKET_ENV": _CLIENT,
    "PayloadChoice": _CLIENT,
    "ProbeClient": _CLIENT,
    "Subscription": _CLIENT,
    "default_socket": _CLIENT,
    "ConfigChanged": _ERRORS,
    "DeadlineExceeded": _ERRORS,
    "InvalidRequest": _ERRORS,
    "KindlingError": _ERRORS,
    "PermissionDenied": _ERRORS,
    "RequestFailed": _ERRORS,
    "ServiceNotFound": _ERRORS,
    "ServiceUnavailable": _ERRORS,
    "StreamNotFound": _ERRORS,
    "StreamOverflowed": _ERRORS,
}


def __getattr__(name: str) -> object:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
