"""The formatting vectors of clients/testdata, which the Go client's tests read too."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from kindling.client.format import format_compact, format_json_event
from kindling.event.v1 import event_pb2

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
    assert format_json_event(event, BOOT_TIME_NS, FORMAT["node"]) == vector["json"]
