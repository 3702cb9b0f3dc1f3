"""The formatting vectors and CLI expectations of clients/testdata, which the
Go client's tests read too."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from client_fakes import FakeProbe, batch, event, send_then_wait
from google.protobuf import json_format

from kindling.client.cli import build_parser, main
from kindling.client.format import format_compact, format_json_event, format_table_row
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2

TESTDATA = Path(__file__).resolve().parents[3] / "clients" / "testdata"


def _format_vectors() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((TESTDATA / "format.json").read_text("utf-8"))
    return document


FORMAT = _format_vectors()
BOOT_TIME_NS = int(datetime.datetime.fromisoformat(FORMAT["boot_time"]).timestamp() * 1_000_000_000)


@pytest.mark.parametrize("vector", FORMAT["vectors"], ids=lambda v: v["name"])
def test_format_vectors(vector: dict[str, Any]) -> None:
    event = json_format.ParseDict(vector["event"], event_pb2.Event())
    assert format_compact(event, BOOT_TIME_NS) == vector["compact"]
    assert format_compact(event, BOOT_TIME_NS, color=True) == vector["color"]
    assert format_table_row(event, BOOT_TIME_NS) == vector["table"]
    assert format_json_event(event, BOOT_TIME_NS, FORMAT["node"]) == vector["json"]


CLI = json.loads((TESTDATA / "cli.json").read_text("utf-8"))


@pytest.mark.parametrize("case", CLI["cases"], ids=lambda c: c["name"])
def test_cli_expectations(
    case: dict[str, Any],
    fake_probe: FakeProbe,
    stale_socket: str,
    short_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    socket = {
        "none": "",
        "missing": str(short_dir / "missing.sock"),
        "stale": stale_socket,
        "file": __file__,
        "service": fake_probe.socket,
    }[case["socket"]]
    if "reject" in case:
        message = case["reject"]

        def reject(
            request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
        ) -> Iterator[probe_pb2.SubscribeResponse]:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
            yield from ()

        fake_probe.subscribe = reject
    else:
        send = send_then_wait(batch(event(1, "connect", 42)))

        def record(
            request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
        ) -> Iterator[probe_pb2.SubscribeResponse]:
            received.append(request)
            yield from send(request, context)

        fake_probe.subscribe = record
    received: list[probe_pb2.SubscribeRequest] = []
    disabled = set(case.get("disabled", []))
    catalogue = probe_pb2.GetInfoResponse(
        events=[
            probe_pb2.EventDescriptor(name=name, enabled=name not in disabled)
            for name in ("connect", "read", "write")
        ]
    )
    fake_probe.get_info = lambda request, context: catalogue
    code = main(["events", *(["--socket", socket] if socket else []), *case["args"]])
    err = capsys.readouterr().err
    want = case["stderr"].format(prog="kindling", usage="kindling events", socket=socket)
    assert (code, err) == (case["exit"], want)
    if "request" in case:
        assert received == [json_format.ParseDict(case["request"], probe_pb2.SubscribeRequest())]


def test_same_flags() -> None:
    """The events command has the flags of cli.json, which the Go tests check too."""
    events = build_parser().commands["events"]
    flags = {
        option
        for action in events._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
    assert flags == set(CLI["flags"])
