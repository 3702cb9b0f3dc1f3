"""The same settings given as options, as KINDLING_* variables and in a
config file run the same service (seen through GetInfo and the socket)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from support.service import SAMPLE, start_service

from kindling.client import ProbeClient

SETTINGS = {
    "max-subscribers": "77",
    "subscriber-queue-events": "1000",
    "max-batch-events": "300",
    "snaplen": "128",
    "node-name": "node-a",
    "socket-group": "4242",
    "log-format": "json",
    "disable-events": "read,write",
    "deny-comms": "sshd,cron",
    "batch-delay-ms": "50",
}


def running(
    directory: Path, *args: str, environ: dict[str, str] | None = None
) -> dict[str, object]:
    directory.mkdir()
    saved = dict(os.environ)
    os.environ.update(environ or {})
    try:
        service = start_service(directory, "--replay", str(SAMPLE), *args)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        with ProbeClient(service.socket) as client:
            info = client.get_info()
            config = client.get_config()
        socket = service.socket.stat()
    finally:
        assert service.stop() == 0, service.log()
    first = service.log().splitlines()[0]
    return {
        "max_subscribers": info.limits.max_subscribers,
        "queue_events": info.streams.queue_events,
        "max_batch_events": info.driver.max_batch_events,
        "snaplen": info.driver.snaplen,
        "node": info.node_name,
        "socket": (socket.st_gid, socket.st_mode & 0o777),
        "log": sorted(json.loads(first)),  # JSON log lines
        "capturing": list(config.enabled_events),
        "deny_comms": sorted(config.kernel_filters.deny_comms),
        "batching": config.batching.SerializeToString(),
        "generation": config.generation,
    }


def test_options_variables_and_a_file_give_the_same_service(tmp_path: Path) -> None:
    options = [part for name, value in SETTINGS.items() for part in (f"--{name}", value)]
    by_option = running(tmp_path / "options", *options)
    variables = {"KINDLING_" + n.upper().replace("-", "_"): v for n, v in SETTINGS.items()}
    by_variable = running(tmp_path / "variables", environ=variables)
    config = tmp_path / "kindling.yaml"
    config.write_text("".join(f"{name}: {value!r}\n" for name, value in SETTINGS.items()))
    by_file = running(tmp_path / "file", "--config", str(config))
    assert by_option == by_variable == by_file
    assert by_option["max_subscribers"] == 77 and by_option["socket"] == (4242, 0o660)
    capturing = by_option["capturing"]
    assert isinstance(capturing, list) and "read" not in capturing and "openat" in capturing
    assert by_option["deny_comms"] == ["cron", "sshd"]
    assert by_option["generation"] == 1  # the start-up configuration
