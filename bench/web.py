"""A real workload: nginx (Debian's, one worker, a static 1.4 KB file) under
wrk on loopback, with and without the probe; requests per second and p99
latency. The way Coroot measures its agent: the same load, the probe on or
off, everything else equal. nginx runs on CPU 0 and wrk on CPU 1; the
service runs where the scheduler puts it, as it would on a node.

Per request nginx makes six syscalls (recvfrom, openat, newfstatat, writev,
sendfile, close): its fd syscalls are what the probe must follow to give its
network I/O events their fd context.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    BenchError,
    Children,
    Service,
    median,
    require_tools,
    say,
    stop_process,
    subscribe,
)

NGINX_CONF = """
user root;
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 100000000;
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/html;
    }}
}}
"""
PORT = 18080
FILE_BYTES = 1400
CONNECTIONS = 16
REQUESTS = re.compile(r"Requests/sec:\s+([0-9.]+)")
NOT_OK = re.compile(r"Non-2xx or 3xx responses: (\d+)")
P99 = re.compile(r"^\s+99%\s+([0-9.]+)(us|ms|s)\s*$", re.MULTILINE)
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def network_io_events() -> list[str]:
    """The catalogue's events that move data or connect sockets: what a
    collector subscribes to for request metrics."""
    from kindling.event.v1 import event_pb2  # noqa: PLC0415
    from kindling.server.catalog import CATALOG  # noqa: PLC0415

    return [
        s.name
        for s in CATALOG.specs
        if not s.generic and (s.io or s.category == event_pb2.CATEGORY_NET)
    ]


class Nginx:
    def __init__(self, children: Children, workdir: Path) -> None:
        self.dir = workdir / "nginx"
        (self.dir / "html").mkdir(parents=True, exist_ok=True)
        (self.dir / "tmp").mkdir(exist_ok=True)
        (self.dir / "html" / "file.txt").write_bytes(b"k" * FILE_BYTES)
        conf = self.dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=self.dir, port=PORT))
        tool = require_tools("nginx", "taskset")
        self.proc = children.start(
            [tool["taskset"], "-c", "0", tool["nginx"], "-c", conf, "-p", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.worker = self._worker_pid()

    def _worker_pid(self) -> int:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise BenchError("nginx did not start", err)
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            pids = [int(p) for p in children.read_text().split()] if children.exists() else []
            if pids:
                return pids[0]
            time.sleep(0.05)
        raise BenchError("nginx started no worker")

    def stop(self) -> None:
        stop_process(self.proc, wait=10)


@dataclass
class WrkResult:
    requests_per_s: float
    p99_s: float


def wrk(seconds: float) -> WrkResult:
    tool = require_tools("wrk", "taskset")
    out = subprocess.run(
        [tool["taskset"], "-c", "1", tool["wrk"], "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s",
         "--latency", f"http://127.0.0.1:{PORT}/file.txt"],
        capture_output=True, text=True, check=False, timeout=seconds + 30,
    ).stdout  # fmt: skip
    rps, p99 = REQUESTS.search(out), P99.search(out)
    if rps is None or p99 is None:
        raise BenchError("wrk printed no result", out)
    not_ok = NOT_OK.search(out)
    if not_ok:
        # An error page is cheaper than the file: the figure would mislead.
        raise BenchError(f"nginx answered {not_ok[1]} requests with an error", out)
    return WrkResult(float(rps[1]), float(p99[1]) * UNITS[p99[2]])


@dataclass
class WebScenario:
    key: str
    label: str
    runs: list[WrkResult] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def requests_per_s(self) -> float:
        return median([r.requests_per_s for r in self.runs])

    @property
    def p99_s(self) -> float:
        return median([r.p99_s for r in self.runs])


def measure(
    children: Children, workdir: Path, transport: str, seconds: float, repeats: int
) -> dict[str, WebScenario]:
    nginx = Nginx(children, workdir)
    names = network_io_events()
    idle = children.start(["sleep", "100000"])  # a process with no network I/O
    scenarios = {
        "untraced": WebScenario("untraced", "untraced"),
        "service_idle": WebScenario("service_idle", "service running, nobody subscribed"),
        "delivered": WebScenario("delivered", "one subscriber for nginx's network I/O events"),
        "payload": WebScenario("payload", "the same, with the payloads of its socket calls"),
        "filtered": WebScenario(
            "filtered", "the same events, filtered out in the kernel (another pid)"
        ),
    }
    try:
        wrk(1.0)  # warm up: first connections, page cache
        for round_ in range(repeats):
            # Every other round runs in reverse order, so that a drift within
            # a round (the VM's neighbours) weighs on every scenario alike.
            reverse = round_ % 2 == 1
            if not reverse:
                scenarios["untraced"].runs.append(wrk(seconds))
            service = Service(children, workdir, transport)
            try:
                service.wait_serving()
                service.settle()
                keys = ["service_idle", "delivered", "payload", "filtered"]
                for key in reversed(keys) if reverse else keys:
                    scenario = scenarios[key]
                    if key == "service_idle":
                        scenario.runs.append(wrk(seconds))
                    else:
                        pid = idle.pid if key == "filtered" else nginx.worker
                        scenario.notes.append(
                            _subscribed(
                                children, service, pid, names, seconds, scenario, key == "payload"
                            )
                        )
            finally:
                service.stop()
            if reverse:
                scenarios["untraced"].runs.append(wrk(seconds))
            say(
                f"  nginx round {round_ + 1}/{repeats}: "
                + ", ".join(
                    f"{s.key} {s.runs[-1].requests_per_s:,.0f}/s p99 {s.runs[-1].p99_s * 1e3:.2f}ms"
                    for s in scenarios.values()
                )
            )
    finally:
        stop_process(idle)
        nginx.stop()
    return scenarios


def _subscribed(
    children: Children,
    service: Service,
    pid: int,
    names: list[str],
    seconds: float,
    scenario: WebScenario,
    payload: bool = False,
) -> dict[str, Any]:
    """One wrk run with a subscriber for `pid`'s network I/O; what the
    kernel emitted meanwhile and what the subscriber received."""
    sub = subscribe(
        children,
        service,
        pids=[pid],
        names=names,
        timeout=seconds + 60,
        quiet=60,
        payload=payload,
    )
    before = service.emitted()
    scenario.runs.append(wrk(seconds))
    after = service.emitted()
    stop_process(sub.proc)
    outcome = sub.result(timeout=30)
    service.wait_idle()
    emitted = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
    return {"delivered": outcome["events"], "lost": outcome["lost"], "kernel_emitted": emitted}
