"""The two event commands against the real service: `kindling events` (Python)
and `kindling-events` (Go) print the same JSON lines for the same events,
and leave out their own process unless --include-self."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from support.service import SAMPLE, Service, start_service

KINDLING = Path(sys.executable).with_name("kindling")


def _json_lines(command: list[str], directory: Path) -> list[str]:
    directory.mkdir()
    service = start_service(directory, "--replay", str(SAMPLE), "--speed", "max")
    try:
        result = subprocess.run(
            [*command, "--socket", str(service.socket), "-o", "json", "--payload", "all",
             "--count", "40"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    finally:
        assert service.stop() == 0
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_the_python_and_go_json_lines_are_equal(tmp_path: Path, kindling_events_bin: Path) -> None:
    python = _json_lines([str(KINDLING), "events"], tmp_path / "py")
    go = _json_lines([str(kindling_events_bin)], tmp_path / "go")
    assert len(python) == 40
    assert python == go
    first = json.loads(python[0])
    assert list(first)[:4] == ["time", "node", "seq", "timestamp_ns"]
    assert first["time"].endswith("Z") and len(first["time"]) == len(
        "2024-05-01T12:00:00.123456789Z"
    )
    assert first["node"]


def _pids_printed(command: list[str], service: Service, *flags: str) -> tuple[int, list[int]]:
    """Run the command for 20 JSON events; its pid and the pids of the events."""
    # Something else must make events: a stream of only the command's own
    # would wait for itself.
    workload = subprocess.Popen(["sh", "-c", "while :; do cat /etc/hostname; sleep 0.02; done"],
                                stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        # Only the workload's events and the command's own (exec keeps the
        # shell's pid, $$), whatever else the machine runs.
        line = shlex.join([*command, "--socket", str(service.socket), "-o", "json",
                           "--count", "20", "--timeout", "60s", *flags])  # fmt: skip
        proc = subprocess.Popen(
            ["sh", "-c", f'exec {line} --pid "$$,{workload.pid}"'],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        out, err = proc.communicate(timeout=90)
    finally:
        workload.kill()
        workload.wait()
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 20
    return proc.pid, [event.get("thread", {}).get("pid", 0) for event in events]


@pytest.mark.kernel
@pytest.mark.parametrize("which", ["python", "go"])
def test_the_commands_leave_out_their_own_events_unless_asked(
    service: Service, kindling_events_bin: Path, which: str
) -> None:
    command = [str(KINDLING), "events"] if which == "python" else [str(kindling_events_bin)]
    pid, pids = _pids_printed(command, service)
    assert pid not in pids
    # Once it prints events, its own reads and writes make more of them.
    pid, pids = _pids_printed(command, service, "--include-self")
    assert pid in pids
