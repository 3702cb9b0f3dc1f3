"""Throughput benchmark of the kindling probe service (the engine of `make bench`).

It prints figures, not pass/fail verdicts:

A. the service path: a C generator issues write() at rising rates; one
   kindling-events subscriber (the Go command) prints that pid's write events.
   Per rate: what was generated, delivered and lost, and the service's CPU.
B. the reference limit: the same eBPF programs loaded in this process, read
   through the same perf buffers with a Python callback that only counts. No
   service can deliver more over this transport with a Python reader.

Run as root: `.venv/bin/python bench/run.py [--quick]` (from any directory).
bench/README.md says how to read the output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build" / "bench"
GEN_SOURCE = ROOT / "bench" / "syscall_gen.c"
GEN_BINARY = BUILD_DIR / "syscall_gen"
EVENTS_BINARY = BUILD_DIR / "kindling-events"
SERVICE_BINARY = ROOT / ".venv" / "bin" / "kindling-probe"
GO_CLIENT_DIR = ROOT / "clients" / "go"
RESULTS_FILE = ROOT / "bench" / "results" / "latest.json"
# Smoke runs must not overwrite the committed figure; build/ is gitignored.
QUICK_RESULTS_FILE = BUILD_DIR / "quick.json"

FULL_RATES = (
    10_000, 25_000, 50_000, 100_000, 150_000, 200_000, 300_000, 400_000, 600_000, 800_000,
    1_600_000,
)  # fmt: skip
QUICK_RATES = (10_000, 50_000, 200_000, 800_000)
FULL_SECONDS = 3.0
QUICK_SECONDS = 1.0

# The service's default --perf-buffer-pages; the reference reader uses the same.
PAGE_COUNT = 256
# The driver's poll interval (ServeConfig.poll_interval_ms).
POLL_INTERVAL_MS = 10
# A generator that made fewer than this share of its calls did not reach the
# rate: the step then measures the generator, not the probe.
REACHED_SHARE = 0.97
# After the generator ends, the subscriber may still be draining a backlog;
# it is stopped once its output has been quiet this long.
QUIET_SECONDS = 2.0
SERVICE_START_SECONDS = 60.0
IDLE_SECONDS = 2.0
SERVICE_STOP_SECONDS = 10.0
LOG_TAIL_LINES = 25

LOSS_NOTICE = re.compile(r"lost (\d+) events \(([^)]*)\)")
GEN_RESULT = re.compile(r"calls=(\d+) seconds=([0-9.]+) rate=([0-9.]+)")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """Ends the run with a one-line message (and optional detail below it)."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


# -- results ---------------------------------------------------------------


@dataclass
class GenResult:
    calls: int
    seconds: float
    rate: float
    cpu_s: float


@dataclass
class ServiceStep:
    target_rate: int
    achieved_rate: float
    generated: int
    delivered: int
    lost: int
    loss_notices: dict[str, int]
    service_cpu_s: float
    service_cpu_s_per_million: float
    client_cpu_s: float
    generator_cpu_s: float
    reached: bool
    zero_loss: bool


@dataclass
class ReferenceStep:
    target_rate: int
    achieved_rate: float
    generated: int
    records: int
    kernel_lost: int
    reader_cpu_s: float
    reader_cpu_s_per_million: float
    generator_cpu_s: float
    reached: bool
    zero_loss: bool


@dataclass
class Headline:
    zero_loss_rate: int | None
    limited_by: str  # "loss", "generator" or "none" (every rate passed)
    cpu_s_per_million: float | None


@dataclass
class Report:
    meta: dict[str, Any]
    headline: dict[str, Any] = field(default_factory=dict)
    service: list[ServiceStep] = field(default_factory=list)
    reference: list[ReferenceStep] = field(default_factory=list)


def headline(
    steps: Sequence[ServiceStep] | Sequence[ReferenceStep],
) -> Headline:
    best: ServiceStep | ReferenceStep | None = None
    for step in steps:
        if step.reached and step.zero_loss:
            best = step
    last = steps[-1] if steps else None
    if last is None or (last.reached and last.zero_loss):
        limited_by = "none"
    else:
        limited_by = "loss" if not last.zero_loss else "generator"
    if best is None:
        return Headline(None, limited_by, None)
    cpu = (
        best.service_cpu_s_per_million
        if isinstance(best, ServiceStep)
        else best.reader_cpu_s_per_million
    )
    return Headline(best.target_rate, limited_by, cpu)


# -- small helpers -----------------------------------------------------------


def say(text: str) -> None:
    print(text, flush=True)


def per_million(cpu_s: float, events: int) -> float:
    return cpu_s / (events / 1e6) if events else 0.0


def expected_calls(rate: int, seconds: float) -> int:
    # The generator's own arithmetic (C doubles): calls due at the window's end.
    return int(round(seconds * 1e9) * float(rate) / 1e9)


def proc_cpu_seconds(stat_path: Path) -> float:
    """utime + stime of /proc/<pid>/stat or /proc/self/task/<tid>/stat."""
    text = stat_path.read_text()
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is the state (field 3 of proc(5)); utime and stime are 14, 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(f"    {line}" for line in text.splitlines()[-lines:])


def stop_process(proc: subprocess.Popen[Any], first: int = signal.SIGINT, wait: float = 5) -> None:
    """Stop a child politely, then for sure."""
    if proc.poll() is not None:
        return
    with suppress(ProcessLookupError):
        proc.send_signal(first)
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Children:
    """Every child process still running is stopped when the run ends."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[Any]] = []

    def start(self, args: Sequence[str | Path], **kwargs: Any) -> subprocess.Popen[Any]:
        proc: subprocess.Popen[Any] = subprocess.Popen(args, **kwargs)
        self._procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self._procs):
            stop_process(proc, signal.SIGINT, wait=SERVICE_STOP_SECONDS)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    with suppress(OSError):
                        stream.close()
        self._procs.clear()


# -- builds ----------------------------------------------------------------


def build_generator() -> None:
    """Compile syscall_gen.c when the binary is missing or older than it."""
    if GEN_BINARY.exists() and GEN_BINARY.stat().st_mtime >= GEN_SOURCE.stat().st_mtime:
        return
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise BenchError("no C compiler (cc) found; install gcc to build bench/syscall_gen.c")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    partial = GEN_BINARY.with_suffix(".tmp")
    result = subprocess.run(
        [cc, "-O2", "-Wall", "-Wextra", "-o", str(partial), str(GEN_SOURCE), "-lm"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError("compiling bench/syscall_gen.c failed", result.stderr.strip())
    partial.replace(GEN_BINARY)
    say(f"built {GEN_BINARY.relative_to(ROOT)}")


def find_go() -> str:
    # sudo often drops /usr/local/go/bin from PATH.
    for candidate in (shutil.which("go"), "/usr/local/go/bin/go"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise BenchError("the Go toolchain (go) is not on PATH; it builds kindling-events")


def build_events_command() -> None:
    """Build kindling-events into build/bench (go's cache makes a rebuild cheap)."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [find_go(), "build", "-o", str(EVENTS_BINARY), "./cmd/kindling-events"],
        cwd=GO_CLIENT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError("building clients/go/cmd/kindling-events failed", result.stderr.strip())


# -- the generator -----------------------------------------------------------


def start_generator(children: Children, rate: int, seconds: float) -> subprocess.Popen[bytes]:
    # It waits for one byte on stdin: the subscriber is set up with its pid first.
    return children.start(
        [GEN_BINARY, str(rate), repr(seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def release_generator(gen: subprocess.Popen[bytes]) -> None:
    assert gen.stdin is not None
    gen.stdin.write(b"g")
    # Flushed, not closed: communicate() closes it when it reaps the generator.
    gen.stdin.flush()


def finish_generator(gen: subprocess.Popen[bytes], seconds: float) -> GenResult:
    """Wait for the generator (reaping it) and parse its result line."""
    before = children_cpu_seconds()
    try:
        out, err = gen.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        gen.kill()
        gen.communicate()
        raise BenchError("the syscall generator did not finish in time") from None
    cpu = children_cpu_seconds() - before
    match = GEN_RESULT.search(out.decode(errors="replace"))
    if gen.returncode != 0 or match is None:
        raise BenchError(
            f"the syscall generator failed (exit status {gen.returncode})",
            err.decode(errors="replace").strip(),
        )
    return GenResult(int(match[1]), float(match[2]), float(match[3]), cpu)


# -- scenario A: the service path -------------------------------------------


class Service:
    """One `kindling-probe serve` on a temporary socket."""

    def __init__(self, children: Children, workdir: Path) -> None:
        self.socket = workdir / "probe.sock"
        self.log_path = workdir / "service.log"
        self._children = children
        self._log: IO[bytes] = self.log_path.open("wb")
        self.proc = children.start(
            [
                SERVICE_BINARY,
                "serve",
                "--socket",
                str(self.socket),
                "--perf-buffer-pages",
                str(PAGE_COUNT),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # A crash then leaves a Python traceback in the log tail we print.
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        )

    def wait_serving(self) -> None:
        """Poll the gRPC health service until it reports SERVING (driver attached)."""
        import grpc  # noqa: PLC0415  (only needed once the service runs)
        from grpc_health.v1 import health_pb2  # noqa: PLC0415

        deadline = time.monotonic() + SERVICE_START_SECONDS
        with grpc.insecure_channel(f"unix:{self.socket}") as channel:
            # The typed form of HealthStub.Check (its stubs lack the method).
            check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise BenchError(
                        f"the service exited during startup (exit status {self.proc.returncode})",
                        self.log_tail(),
                    )
                if self.socket.exists():
                    with suppress(grpc.RpcError):
                        reply = check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                        if reply.status == health_pb2.HealthCheckResponse.SERVING:
                            return
                time.sleep(0.2)
        raise BenchError(
            f"the service did not report SERVING within {SERVICE_START_SECONDS:.0f}s",
            self.log_tail(),
        )

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(Path(f"/proc/{self.proc.pid}/stat"))

    def joined(self) -> int:
        """How many "subscriber ... joined" lines the service has logged."""
        return self.log_path.read_text(errors="replace").count(" joined (")

    def log_tail(self) -> str:
        self._log.flush()
        return tail(self.log_path)

    def check_alive(self) -> None:
        code = self.proc.poll()
        if code is None:
            return
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        raise BenchError(f"the service died during the run ({how})", self.log_tail())

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGINT, wait=SERVICE_STOP_SECONDS)
        self._log.close()


class LineCounter:
    """Counts the subscriber's stdout lines (one per event) from a pipe."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines = 0
        self.last_growth = time.monotonic()
        self._stream = stream
        self._thread = threading.Thread(target=self._run, name="bench-lines", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        fd = self._stream.fileno()
        while chunk := os.read(fd, 1 << 16):
            self.lines += chunk.count(b"\n")
            self.last_growth = time.monotonic()

    def join(self) -> None:
        self._thread.join(timeout=10)


def wait_subscribed(service: Service, joined_before: int, client: subprocess.Popen[Any]) -> None:
    """Wait until the service logged the new subscriber, and at least 0.5 s."""
    started = time.monotonic()
    deadline = started + 3
    while service.joined() <= joined_before:
        if client.poll() is not None or time.monotonic() > deadline:
            # Its stderr says why; the step's checks report it.
            return
        time.sleep(0.05)
    # The subscriber joined; the kernel mask follows right after. Keep a margin.
    time.sleep(max(0.1, 0.5 - (time.monotonic() - started)))


def start_subscriber(
    children: Children,
    service: Service,
    gen_pid: int,
    expected: int,
    seconds: float,
    err_path: Path,
) -> tuple[subprocess.Popen[bytes], LineCounter]:
    """Start kindling-events for the generator's writes; return once it is subscribed."""
    with err_path.open("wb") as err_file:
        joined_before = service.joined()
        client: subprocess.Popen[bytes] = children.start(
            [
                EVENTS_BINARY,
                "--socket",
                str(service.socket),
                "--pid",
                str(gen_pid),
                "--name",
                "write",
                "-o",
                "compact",
                "--count",
                str(expected),
                "--timeout",
                str(seconds + 10),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err_file,
        )
    assert client.stdout is not None
    counter = LineCounter(client.stdout)
    wait_subscribed(service, joined_before, client)
    return client, counter


def service_step(
    children: Children, service: Service, workdir: Path, rate: int, seconds: float
) -> ServiceStep:
    expected = expected_calls(rate, seconds)
    gen = start_generator(children, rate, seconds)
    for attempt in (1, 2):
        err_path = workdir / f"events-{rate}-{attempt}.err"
        client, counter = start_subscriber(children, service, gen.pid, expected, seconds, err_path)
        if client.poll() is None:
            break
        # It ended before any load: it could not subscribe. The figure is
        # about throughput, so retry once, but say so.
        service.check_alive()
        error = err_path.read_text(errors="replace").strip()
        if attempt == 2:
            raise BenchError(
                "kindling-events could not subscribe",
                f"{error}\n  service log (last lines):\n{service.log_tail()}",
            )
        say(f"    (kindling-events could not subscribe, retrying: {error})")

    cpu_before = service.cpu_seconds()
    release_generator(gen)
    result = finish_generator(gen, seconds)
    # Wait for the subscriber: it exits at --count; if fewer events come
    # (loss, or a slow generator), stop it once its output went quiet.
    client_cpu_before = children_cpu_seconds()
    counter.last_growth = time.monotonic()
    while client.poll() is None:
        if time.monotonic() - counter.last_growth > QUIET_SECONDS:
            stop_process(client, signal.SIGINT)
            break
        time.sleep(0.05)
    client.wait()
    client_cpu = children_cpu_seconds() - client_cpu_before
    service_cpu = service.cpu_seconds() - cpu_before
    counter.join()

    notices: dict[str, int] = {}
    other: list[str] = []
    for line in err_path.read_text(errors="replace").splitlines():
        match = LOSS_NOTICE.search(line)
        if match:
            notices[match[2]] = notices.get(match[2], 0) + int(match[1])
        elif "timed out after" not in line:
            other.append(line)
    if counter.lines == 0 and result.calls > 0 and other:
        service.check_alive()
        raise BenchError(
            "kindling-events failed",
            "\n".join(other) + f"\n  service log (last lines):\n{service.log_tail()}",
        )
    for line in other:
        say(f"    (kindling-events: {line})")
    delivered = counter.lines
    return ServiceStep(
        target_rate=rate,
        achieved_rate=result.rate,
        generated=result.calls,
        delivered=delivered,
        lost=max(0, result.calls - delivered),
        loss_notices=notices,
        service_cpu_s=service_cpu,
        service_cpu_s_per_million=per_million(service_cpu, result.calls),
        client_cpu_s=client_cpu,
        generator_cpu_s=result.cpu_s,
        reached=result.calls >= REACHED_SHARE * expected,
        zero_loss=delivered >= result.calls and not notices,
    )


def run_service(
    children: Children, workdir: Path, rates: Sequence[int], seconds: float
) -> tuple[list[ServiceStep], float]:
    build_events_command()
    service = Service(children, workdir)
    steps: list[ServiceStep] = []
    try:
        service.wait_serving()
        # Its cost with no subscriber (polling, timers): the floor under every step.
        before = service.cpu_seconds()
        time.sleep(IDLE_SECONDS)
        idle = (service.cpu_seconds() - before) / IDLE_SECONDS
        say(f"service up (pid {service.proc.pid}); idle it uses {idle:.3f} cpu-s per second")
        for rate in rates:
            service.check_alive()
            step = service_step(children, service, workdir, rate, seconds)
            steps.append(step)
            say(
                f"  A {rate:>9,}/s: made {step.achieved_rate:>11,.0f}/s  "
                f"delivered {step.delivered:>9,} of {step.generated:>9,}  "
                f"service {step.service_cpu_s:5.2f} cpu-s"
                + (f"  losses {step.loss_notices}" if step.loss_notices else "")
            )
            if not (step.zero_loss and step.reached):
                break
            time.sleep(0.5)  # let the last subscriber's teardown settle
        service.check_alive()  # also a crash as the last subscriber left
    finally:
        service.stop()
    return steps, idle


# -- scenario B: the reference reader ---------------------------------------


class ReferenceReader:
    """The service's own driver (loader, programs, transport), read by a
    consumer that only counts: no merging, no pipeline, no gRPC."""

    def __init__(self, transport: str = "auto") -> None:
        from kindling.server.catalog import CATALOG  # noqa: PLC0415
        from kindling.server.drivers.bcc.driver import BccDriver  # noqa: PLC0415
        from kindling.server.drivers.transports.base import Drain  # noqa: PLC0415

        self._catalog = CATALOG
        self.driver = BccDriver(CATALOG, transport=transport, perf_buffer_pages=PAGE_COUNT)
        records = 0
        lost = 0

        def on_drain(drain: Drain, kernel_lost: int) -> None:
            nonlocal records, lost
            records += int(drain.records["event_id"].__eq__(self._write_id).sum())
            lost += kernel_lost

        self._write_id = CATALOG.by_name["write"].id
        self.counts: Callable[[], tuple[int, int]] = lambda: (records, lost)
        self.driver.start_raw(on_drain)
        self.wakeup_events = 0

    def watch(self, pid: int) -> None:
        """Capture what a subscriber to this pid's writes makes the kernel capture."""
        from kindling.server.drivers.base import KernelLimits  # noqa: PLC0415
        from kindling.server.pipeline.plan import Demand, ServiceFilters, plan  # noqa: PLC0415

        demand = Demand(frozenset({self._write_id}), pids=frozenset({pid}))
        every = frozenset(s.id for s in self._catalog.specs)
        planned = plan(
            self._catalog, [demand], configured=every, service=ServiceFilters(),
            limits=KernelLimits(),
        )  # fmt: skip
        self.driver.apply(planned.kernel)

    def cpu_seconds(self) -> float:
        tid = self.driver.reader_thread_id()
        return proc_cpu_seconds(Path(f"/proc/self/task/{tid}/stat"))

    def close(self) -> None:
        self.driver.stop()


def reference_step(
    children: Children, reader: ReferenceReader, rate: int, seconds: float
) -> ReferenceStep:
    expected = expected_calls(rate, seconds)
    gen = start_generator(children, rate, seconds)
    reader.watch(gen.pid)
    time.sleep(0.2)  # its fork and exec records drain before counting starts
    records_before, lost_before = reader.counts()
    cpu_before = reader.cpu_seconds()
    release_generator(gen)
    result = finish_generator(gen, seconds)
    # A few poll intervals so the last records are read.
    time.sleep(0.2)
    records_after, lost_after = reader.counts()
    cpu = reader.cpu_seconds() - cpu_before
    records = records_after - records_before
    lost = lost_after - lost_before
    return ReferenceStep(
        target_rate=rate,
        achieved_rate=result.rate,
        generated=result.calls,
        records=records,
        kernel_lost=lost,
        reader_cpu_s=cpu,
        reader_cpu_s_per_million=per_million(cpu, result.calls),
        generator_cpu_s=result.cpu_s,
        reached=result.calls >= REACHED_SHARE * expected,
        zero_loss=lost == 0 and records >= result.calls,
    )


def run_reference(
    children: Children, rates: Sequence[int], seconds: float
) -> tuple[list[ReferenceStep], int]:
    try:
        reader = ReferenceReader()
    except Exception as error:
        raise BenchError(f"loading the eBPF programs in the bench failed: {error}") from None
    steps: list[ReferenceStep] = []
    try:
        for rate in rates:
            step = reference_step(children, reader, rate, seconds)
            steps.append(step)
            say(
                f"  B {rate:>9,}/s: made {step.achieved_rate:>11,.0f}/s  "
                f"read {step.records:>9,} of {step.generated:>9,}  "
                f"kernel lost {step.kernel_lost:,}  reader {step.reader_cpu_s:5.2f} cpu-s"
            )
            if not (step.zero_loss and step.reached):
                break
            time.sleep(0.3)
    finally:
        reader.close()
    return steps, reader.wakeup_events


# -- output --------------------------------------------------------------------


LIMITS = {
    "loss": "the next rate lost events",
    "generator": "the generator could not reach the next rate",
    "none": "every rate passed: the limit is higher",
}


def fmt_rate(rate: int | None) -> str:
    return "none" if rate is None else f"{rate:,}/s"


def print_summary(report: Report, service: Headline, reference: Headline) -> None:
    say("")
    say(
        "A. service path: generator -> eBPF -> kindling-probe -> gRPC -> kindling-events"
        f" ({report.meta['step_seconds']:g} s per step)"
    )
    say(
        f"  {'target/s':>10} {'made/s':>10} {'generated':>10} {'delivered':>10} {'lost':>8}"
        f" {'svc cpu-s':>9} {'cpu-s/M':>8} {'cli cpu-s':>9}  notes"
    )
    for s in report.service:
        notes = ", ".join(f"{n:,} {reason}" for reason, n in s.loss_notices.items())
        if not s.reached:
            notes = "generator short" + (f"; {notes}" if notes else "")
        say(
            f"  {s.target_rate:>10,} {s.achieved_rate:>10,.0f} {s.generated:>10,}"
            f" {s.delivered:>10,} {s.lost:>8,} {s.service_cpu_s:>9.2f}"
            f" {s.service_cpu_s_per_million:>8.2f} {s.client_cpu_s:>9.2f}  {notes}"
        )
    idle = report.meta.get("service_idle_cpu_s_per_s")
    if isinstance(idle, float):
        say(f"  (idle, the service uses {idle:.3f} cpu-s per second; the steps include it)")
    say("")
    say("B. reference: same eBPF programs and perf buffers, Python callback that only counts")
    say(
        f"  {'target/s':>10} {'made/s':>10} {'generated':>10} {'read':>10} {'k-lost':>8}"
        f" {'rdr cpu-s':>9} {'cpu-s/M':>8}  notes"
    )
    for r in report.reference:
        say(
            f"  {r.target_rate:>10,} {r.achieved_rate:>10,.0f} {r.generated:>10,}"
            f" {r.records:>10,} {r.kernel_lost:>8,} {r.reader_cpu_s:>9.2f}"
            f" {r.reader_cpu_s_per_million:>8.2f}  {'' if r.reached else 'generator short'}"
        )
    say("")
    say("Summary")
    cpu = (
        f"{service.cpu_s_per_million:.2f} service cpu-s per million events there"
        if service.cpu_s_per_million is not None
        else "no step without loss"
    )
    say(
        f"  service, highest rate with zero loss:   {fmt_rate(service.zero_loss_rate):>12}  ({cpu})"
    )
    say(f"  {'':38}  {'':>12}  {LIMITS[service.limited_by]}")
    say(f"  reference, highest rate with zero loss: {fmt_rate(reference.zero_loss_rate):>12}")
    say(f"  {'':38}  {'':>12}  {LIMITS[reference.limited_by]}")
    ratio = report.headline.get("service_to_reference_ratio")
    bound = "" if reference.limited_by == "loss" else "  (at most: the reference limit is higher)"
    say(
        "  service / reference:                   "
        + (f"{ratio:>12.2f}{bound}" if isinstance(ratio, float) else f"{'n/a':>12}")
    )
    say("  (one noisy 2-core VM: differences under ~25% are noise; compare within one run)")


def rounded(value: Any) -> Any:
    """Floats to 4 decimals for the JSON: more digits than that are noise."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


def write_results(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "meta": report.meta,
        "headline": report.headline,
        "service": [asdict(s) for s in report.service],
        "reference": [asdict(r) for r in report.reference],
    }
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(rounded(data), indent=2) + "\n")
    partial.replace(path)


def machine_meta() -> dict[str, Any]:
    cpu_model = ""
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": commit,
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
    }


# -- main ----------------------------------------------------------------------


@contextmanager
def sigterm_as_exit() -> Iterator[None]:
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop the children.
    def handler(_signum: int, _frame: object) -> None:
        say("bench: terminated")
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Measure the kindling probe service's event throughput (needs root).",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short smoke run (< 60 s), written to build/bench"
    )
    parser.add_argument(
        "--rates", metavar="R,R,...", help="events per second to try, in rising order"
    )
    parser.add_argument("--seconds", type=float, metavar="S", help="length of each step")
    parser.add_argument("--output", type=Path, metavar="PATH", help="where to write the JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rates: Sequence[int] = QUICK_RATES if args.quick else FULL_RATES
    if args.rates:
        rates = [int(r.replace("_", "")) for r in args.rates.split(",")]
    seconds: float = args.seconds or (QUICK_SECONDS if args.quick else FULL_SECONDS)
    output: Path = args.output or (QUICK_RESULTS_FILE if args.quick else RESULTS_FILE)

    if os.geteuid() != 0:
        say("bench: needs root (it loads eBPF programs); run it with sudo")
        return 2
    if not SERVICE_BINARY.exists():
        say(f"bench: {SERVICE_BINARY.relative_to(ROOT)} is missing; run `make setup` first")
        return 2

    children = Children()
    workdir = Path(tempfile.mkdtemp(prefix="kindling-bench-"))
    started = time.monotonic()
    try:
        with sigterm_as_exit():
            build_generator()
            report = Report(
                meta={
                    **machine_meta(),
                    "mode": "quick" if args.quick else "full",
                    "step_seconds": seconds,
                    "rates": list(rates),
                    "perf_buffer_pages": PAGE_COUNT,
                    "reached_share": REACHED_SHARE,
                }
            )
            say(f"A. service path, {seconds:g} s per step")
            report.service, idle = run_service(children, workdir, rates, seconds)
            report.meta["service_idle_cpu_s_per_s"] = round(idle, 4)
            say(f"B. reference reader, {seconds:g} s per step")
            report.reference, wakeup_events = run_reference(children, rates, seconds)
    except BenchError as error:
        say(f"bench: {error}")
        if error.detail:
            say(error.detail)
        return 1
    except KeyboardInterrupt:
        say("bench: interrupted")
        return 130
    finally:
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)

    service = headline(report.service)
    reference = headline(report.reference)
    ratio = (
        service.zero_loss_rate / reference.zero_loss_rate
        if service.zero_loss_rate and reference.zero_loss_rate
        else None
    )
    report.meta["wakeup_events"] = wakeup_events
    report.meta["duration_seconds"] = round(time.monotonic() - started, 1)
    report.headline = {
        "service": asdict(service),
        "reference": asdict(reference),
        "service_to_reference_ratio": ratio,
    }
    print_summary(report, service, reference)
    write_results(report, output)
    say(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
