"""The service's log: JSON lines, and repeated warnings held back."""

from __future__ import annotations

import json
import logging

from kindling.server.observe.logs import JsonFormatter, RepeatLimit


def record(msg: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("kindling.test", level, __file__, 1, msg, ("x",), None)


def test_repeated_errors_are_held_back_and_counted() -> None:
    limit = RepeatLimit(most=3, seconds=3600)
    passed = [limit.filter(record("failed %s")) for _ in range(10)]
    assert passed == [True] * 3 + [False] * 7
    assert limit.filter(record("another %s"))  # a different message passes
    assert all(limit.filter(record("joined %s", logging.INFO)) for _ in range(20))


def test_after_the_window_the_next_one_says_how_many_were_held() -> None:
    limit = RepeatLimit(most=1, seconds=0.0)
    first = record("failed %s")
    assert limit.filter(first)
    again = record("failed %s")
    assert limit.filter(again)  # a new window at once
    held = RepeatLimit(most=1, seconds=3600)
    held.filter(record("boom"))
    held.filter(record("boom"))
    held._seconds = 0.0
    late = record("boom")
    assert held.filter(late)
    assert late.msg == "boom (1 more like this held back)"


def test_json_lines() -> None:
    line = json.loads(JsonFormatter().format(record("hello %s", logging.WARNING)))
    assert line["level"] == "warning" and line["message"] == "hello x"
    assert line["logger"] == "kindling.test" and "T" in line["time"]
