"""Record the I/O workload (io_workload.py) from a running service with
`kindling-probe record`: the recording shipped as tests/data/sample.kindling
was made with this, and the kernel test of record and replay makes a fresh
one the same way.

    python tests/support/sample_recording.py --socket /run/kindling.sock tests/data/sample.kindling

Beside the recording it writes FILE.json, what the workload reports it did
(pids, ports, descriptors), for the tests that check the recording's events.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kindling.client import ProbeClient

WORKLOAD = Path(__file__).with_name("io_workload.py")
PROBE = Path(sys.executable).with_name("kindling-probe")
EVENTS = [
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "writev",
    "sendfile",
    "read",
    "write",
    "socket",
    "connect",
    "accept4",
    "bind",
    "listen",
    "close",
    "tcp_state_change",
    "openat",
    "process_exit",
]


def _wait_for_scope(socket: Path, pids: int, timeout: float = 15.0) -> None:
    """Until the service scopes the kernel to the recorder's processes."""
    deadline = time.monotonic() + timeout
    with ProbeClient(socket) as client:
        while client.get_info(timeout=5).driver.scope.allowed_pid_count < pids:
            if time.monotonic() > deadline:
                raise RuntimeError("the recorder never subscribed")
            time.sleep(0.05)


def record_workload(
    socket: Path, output: Path, before_go: Callable[[list[int]], None] | None = None
) -> dict[str, Any]:
    """Run the workload while recording its events to `output`; returns
    what the workload did (also written to `output`.json). `before_go` is
    called with the workload's pids once the recorder is live, before the
    workload starts."""
    with tempfile.TemporaryDirectory(prefix="kindling-sample-") as directory:
        workload = subprocess.Popen(
            [sys.executable, str(WORKLOAD), directory],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert workload.stdin is not None and workload.stdout is not None
        try:
            started = json.loads(workload.stdout.readline())
            pids = [started["pid"], started["server_pid"]]
            recorder = subprocess.Popen(
                [
                    str(PROBE),
                    "record",
                    "-o",
                    str(output),
                    "--socket",
                    str(socket),
                    "--payload",
                    "sockets",
                    *(f"--pid={pid}" for pid in pids),
                    *(f"--name={name}" for name in EVENTS),
                ],
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                _wait_for_scope(socket, len(pids))
                if before_go is not None:
                    before_go(pids)
                workload.stdin.write("go\n")
                workload.stdin.flush()
                result: dict[str, Any] = json.loads(workload.stdout.readline())
                if workload.wait(timeout=30) != 0:
                    raise RuntimeError("the workload failed")
                time.sleep(0.5)  # the last events reach the recorder
            finally:
                recorder.send_signal(signal.SIGINT)
                _, errors = recorder.communicate(timeout=15)
            if recorder.returncode != 0:
                raise RuntimeError(f"kindling-probe record failed: {errors}")
        finally:
            workload.kill()
            workload.wait()
    output.with_suffix(output.suffix + ".json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", type=Path, default=Path("/run/kindling.sock"))
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    print(json.dumps(record_workload(args.socket, args.output), indent=2))


if __name__ == "__main__":
    main()
