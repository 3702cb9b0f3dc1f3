"""Collect events from a subscriber running in the background, and make sure
the subscription is live before the workload runs."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2


class EventLog:
    """Events seen so far, safe to fill from a reader thread."""

    def __init__(self) -> None:
        self.events: list[event_pb2.Event] = []
        self.losses: list[probe_pb2.Loss] = []
        self.errors: list[str] = []
        # The JSON objects as received, for checks of the JSON mapping itself.
        self.raw: list[dict[str, Any]] = []
        self._cond = threading.Condition()

    def add(self, events: Iterable[event_pb2.Event]) -> None:
        with self._cond:
            self.events.extend(events)
            self._cond.notify_all()

    def wait_for(
        self, done: Callable[[list[event_pb2.Event]], bool], timeout: float = 15.0
    ) -> list[event_pb2.Event]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not done(self.events):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout}s with {len(self.events)} events; "
                        f"errors: {self.errors}"
                    )
                self._cond.wait(min(remaining, 0.5))
            return list(self.events)


def wait_until_live(log: EventLog, tmp_path: Path, timeout: float = 15.0) -> None:
    """Open a marker file from another process until the stream shows it."""
    marker = tmp_path / "subscription-marker"
    marker.write_text("marker\n")

    def seen(events: list[event_pb2.Event]) -> bool:
        return any(
            e.name == "openat" and any(a.string_value == str(marker) for a in e.attributes)
            for e in events
        )

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        subprocess.run(["/bin/cat", str(marker)], stdout=subprocess.DEVNULL, check=True)
        try:
            log.wait_for(seen, timeout=0.3)
            return
        except AssertionError:
            continue
    raise AssertionError(f"the subscription never went live; errors: {log.errors}")


def read_json_lines(stream: Iterable[str], log: EventLog) -> None:
    """One JSON event per line (the CLIs' -o json)."""
    for line in stream:
        line = line.strip()
        if line:
            log.add([cli_json_event(line)])


def cli_json_event(line: str) -> event_pb2.Event:
    """The event of a CLI's -o json line, which carries its time and node too."""
    fields = json.loads(line)
    assert isinstance(fields.pop("time"), str) and isinstance(fields.pop("node"), str)
    return json_format.ParseDict(fields, event_pb2.Event())


def read_json_objects(stream: Iterable[str], log: EventLog) -> None:
    """Concatenated, pretty-printed SubscribeResponse objects (grpcurl)."""
    decoder = json.JSONDecoder()
    buffer = ""
    for chunk in stream:
        buffer += chunk
        while True:
            buffer = buffer.lstrip()
            if not buffer:
                break
            try:
                obj, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError:
                break
            buffer = buffer[end:]
            log.raw.append(obj)
            response = json_format.ParseDict(obj, probe_pb2.SubscribeResponse())
            log.losses.extend(response.losses)
            log.add(response.events)


def pump(
    proc: subprocess.Popen[str], reader: Callable[[Iterable[str], EventLog], None], log: EventLog
) -> threading.Thread:
    assert proc.stdout is not None
    stdout = proc.stdout

    def run() -> None:
        try:
            reader(stdout, log)
        except Exception as error:  # reported through log.errors
            log.errors.append(repr(error))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
