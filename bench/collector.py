"""kindling-collector's own cost: nginx under wrk on loopback (web.py's
setup), the collector subscribed through the service, and the collector's
CPU (utime + stime from /proc) per 1,000 HTTP requests it counted. Each
request is seen twice (nginx's side and wrk's), so the figure covers both.

wrk runs with few connections so that the rate stays where one collector
process keeps up; the run reports the requests wrk made, those the
collector counted and any loss the stream reported, so a figure measured
while losing events shows as such.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness import BenchError, Children, Service, proc_cpu_seconds, require_tools, say, tail
from web import PORT, REQUESTS, Nginx

COLLECTOR_BINARY = Path(sys.executable).with_name("kindling-collector")
CONNECTIONS = 4
LISTENING = re.compile(r"serving metrics on (http://127\.0\.0\.1:\d+)/metrics")
SERIES = re.compile(r"^(\w+)(?:\{([^}]*)\})? ([0-9.e+-]+)$", re.MULTILINE)


@dataclass
class CollectorFigures:
    requests_made: int
    requests_counted: int  # server side, nginx
    client_requests_counted: int  # client side, wrk
    cpu_seconds: float
    lost_events: int

    @property
    def cpu_ms_per_1000(self) -> float:
        return 1e6 * self.cpu_seconds / max(self.requests_counted, 1)


def _total(text: str, name: str, where: str = "") -> int:
    return int(
        sum(
            float(value)
            for metric, labels, value in SERIES.findall(text)
            if metric == name and where in (labels or "")
        )
    )


def measure(children: Children, workdir: Path, seconds: float) -> CollectorFigures:
    tool = require_tools("wrk", "taskset")
    service = Service(children, workdir)
    service.wait_serving()
    nginx = Nginx(children, workdir)
    log_path = workdir / "collector.log"
    with log_path.open("w") as log:
        proc = children.start(
            [COLLECTOR_BINARY, "--socket", service.socket, "--listen", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    deadline = time.monotonic() + 30
    while not (match := LISTENING.search(log_path.read_text())):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise BenchError("kindling-collector did not start", tail(log_path))
        time.sleep(0.05)
    url = match.group(1)

    def scrape() -> str:
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
            return str(response.read().decode())

    def counted(text: str) -> int:
        return _total(text, "http_server_request_duration_seconds_count", f'server_port="{PORT}"')

    # Warm up until the collector counts nginx's requests: the capture is live.
    while counted(scrape()) == 0:
        if time.monotonic() > deadline:
            raise BenchError("the collector counted no request", tail(log_path))
        subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{PORT}/file.txt"])
        time.sleep(0.2)
    before_text = scrape()
    before = counted(before_text)
    before_client = _total(before_text, "http_client_request_duration_seconds_count")
    cpu_before = proc_cpu_seconds(Path(f"/proc/{proc.pid}/stat"))
    out = subprocess.run(
        [tool["taskset"], "-c", "1", tool["wrk"], "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s",
         f"http://127.0.0.1:{PORT}/file.txt"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    rate = REQUESTS.search(out)
    if rate is None:
        raise BenchError("wrk printed no result", out)
    made = re.search(r"(\d+) requests in", out)
    # Until the collector has read everything (its count stops moving).
    last, text = -1, scrape()
    while counted(text) != last:
        last = counted(text)
        time.sleep(0.5)
        text = scrape()
    cpu = proc_cpu_seconds(Path(f"/proc/{proc.pid}/stat")) - cpu_before
    figures = CollectorFigures(
        requests_made=int(made.group(1)) if made else 0,
        requests_counted=counted(text) - before,
        client_requests_counted=_total(text, "http_client_request_duration_seconds_count")
        - before_client,
        cpu_seconds=cpu,
        lost_events=_total(text, "kindling_collector_lost_events_total"),
    )
    proc.terminate()
    proc.wait(timeout=15)
    nginx.stop()
    service.stop()
    return figures


def print_figures(figures: CollectorFigures) -> None:
    say(
        f"  wrk made {figures.requests_made:,} requests; the collector counted "
        f"{figures.requests_counted:,} (nginx's side) and {figures.client_requests_counted:,} "
        f"(wrk's), {figures.lost_events:,} events lost; "
        f"{figures.cpu_seconds:.2f} s of collector CPU"
    )
