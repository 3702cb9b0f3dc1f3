"""The service's log: lines for people by default, JSON objects (one per
line) for log pipelines with --log-format json."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RepeatLimit(logging.Filter):
    """Warnings and errors that repeat (the same message template from the
    same place) pass at most `most` times per `seconds`; the next one to
    pass says how many were held back, so a fault that recurs on every batch
    or call cannot flood the log."""

    def __init__(self, most: int = 10, seconds: float = 60.0) -> None:
        super().__init__()
        self._most = most
        self._seconds = seconds
        self._lock = threading.Lock()
        # (logger, template) -> (window start, passed, held back)
        self._seen: dict[tuple[str, object], tuple[float, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.msg)
        now = time.monotonic()
        with self._lock:
            began, passed, held = self._seen.get(key, (now, 0, 0))
            if now - began >= self._seconds:
                began, passed = now, 0
            if passed >= self._most:
                self._seen[key] = (began, passed, held + 1)
                return False
            self._seen[key] = (began, passed + 1, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this held back)"
        return True


def configure_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RepeatLimit())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=level.upper(), handlers=[handler])
