"""The shared vectors of clients/testdata/collector.json, against the Python parsers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kindling.collector.protocols import dns, http, redis
from kindling.collector.protocols.detect import detect_request
from kindling.collector.routes import RouteTable, template

VECTORS = json.loads(
    (Path(__file__).resolve().parents[3] / "clients" / "testdata" / "collector.json").read_text()
)


def payload(case: dict[str, Any]) -> bytes:
    if "payload_hex" in case:
        return bytes.fromhex(case["payload_hex"])
    return str(case["payload"]).encode("latin-1")


def cases(section: str) -> Any:
    return pytest.mark.parametrize(
        "case", VECTORS[section], ids=[c.get("name", c.get("target")) for c in VECTORS[section]]
    )


def test_every_section_has_cases() -> None:
    for section in (
        "http_requests",
        "http_responses",
        "redis_commands",
        "redis_replies",
        "dns_messages",
        "detect",
        "routes",
        "route_limits",
    ):
        assert VECTORS[section], section
    assert "comment" in VECTORS


@cases("http_requests")
def test_http_requests(case: dict[str, Any]) -> None:
    parsed = http.parse_request(payload(case), case.get("cut", False))
    if case["expect"] is None:
        assert parsed is None
    else:
        assert parsed is not None
        assert {
            "method": parsed.method,
            "target": parsed.target,
            "reported_method": parsed.reported_method,
        } == case["expect"]


@cases("http_responses")
def test_http_responses(case: dict[str, Any]) -> None:
    parsed = http.parse_response(payload(case))
    assert (None if parsed is None else {"status": parsed.status}) == case["expect"]


@cases("redis_commands")
def test_redis_commands(case: dict[str, Any]) -> None:
    if case["expect"] == "malformed":
        with pytest.raises(ValueError, match="RESP"):
            redis.parse_commands(payload(case))
        return
    parsed = redis.parse_commands(payload(case))
    assert (None if parsed is None else [c.name for c in parsed]) == case["expect"]


@cases("redis_replies")
def test_redis_replies(case: dict[str, Any]) -> None:
    parsed = redis.parse_replies(payload(case))
    assert (None if parsed is None else [{"error": r.error} for r in parsed]) == case["expect"]


@cases("dns_messages")
def test_dns_messages(case: dict[str, Any]) -> None:
    parsed = dns.parse_message(payload(case), tcp=case.get("tcp", False))
    got = (
        None
        if parsed is None
        else {
            "id": parsed.id,
            "response": parsed.response,
            "name": parsed.name,
            "rcode": parsed.rcode_name,
        }
    )
    assert got == case["expect"]


@cases("detect")
def test_detect(case: dict[str, Any]) -> None:
    protocol = detect_request(payload(case), case.get("cut", False), case.get("server_port", 0))
    assert protocol == case["expect"]


@cases("routes")
def test_routes(case: dict[str, Any]) -> None:
    assert template(case["target"]) == case["expect"]


@cases("route_limits")
def test_route_limits(case: dict[str, Any]) -> None:
    table = RouteTable(case["limit"])
    got = [table.route(r["target"], r["executable"], r["server_port"]) for r in case["requests"]]
    assert got == case["expect"]
