"""The public API of kindling.client, pinned: ``__all__`` lists what the package
offers and nothing else, in step with the modules it comes from (as httpx
checks its own), and a change to it is a change to these lists."""

from __future__ import annotations

import importlib
import inspect
import types

import pytest

import kindling.client
import kindling.client.aio

PUBLIC = [
    "CategoryChoice",
    "ConfigChanged",
    "DEFAULT_SOCKET",
    "DeadlineExceeded",
    "FdTypeChoice",
    "InvalidRequest",
    "KindlingError",
    "LossReason",
    "LostEvents",
    "MAX_RECEIVE_MESSAGE_LENGTH",
    "Notice",
    "OVERFLOW_POLICIES",
    "OverflowChoice",
    "PAYLOAD_MODES",
    "PayloadChoice",
    "PermissionDenied",
    "PortChoice",
    "ProbeClient",
    "ProtocolChoice",
    "Reconnect",
    "ReconnectingSubscription",
    "RequestFailed",
    "SOCKET_ENV",
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
ASYNC_PUBLIC = ["AsyncProbeClient", "AsyncReconnectingSubscription", "AsyncSubscription"]


def test_the_public_names_are_pinned() -> None:
    assert sorted(kindling.client.__all__) == sorted(PUBLIC)
    assert len(set(kindling.client.__all__)) == len(kindling.client.__all__)
    assert sorted(kindling.client.aio.__all__) == ASYNC_PUBLIC


def test_all_is_in_step_with_the_modules() -> None:
    """Every name a source module exports is the package's, and only those."""
    exported: list[str] = []
    for source in kindling.client._SOURCES:
        exported += importlib.import_module(source).__all__
    assert sorted(exported) == sorted(kindling.client.__all__)


def test_every_public_name_of_the_package_is_in_all() -> None:
    for name in PUBLIC:
        getattr(kindling.client, name)  # resolves, and is then in the namespace
    public = {
        name
        for name, value in vars(kindling.client).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - {"annotations", "importlib", "TYPE_CHECKING"} <= set(PUBLIC)
    for name, value in vars(kindling.client.aio).items():
        if getattr(value, "__module__", None) == "kindling.client.aio" and name[0] != "_":
            assert name in kindling.client.aio.__all__


@pytest.mark.parametrize("name", PUBLIC + [f"aio.{name}" for name in ASYNC_PUBLIC])
def test_every_class_and_function_is_documented(name: str) -> None:
    module, _, attribute = name.rpartition(".")
    value = getattr(kindling.client.aio if module else kindling.client, attribute)
    if inspect.isclass(value) or inspect.isfunction(value):
        assert inspect.getdoc(value), f"{name} has no docstring"
