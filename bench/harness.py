"""What every part of the benchmark shares: child processes that are always
stopped, the builds it needs, CPU accounting, the syscall generator, the
service and the Go subscriber."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build" / "bench"
GEN_SOURCE = ROOT / "bench" / "syscall_gen.c"
GEN_BINARY = BUILD_DIR / "syscall_gen"
SUBSCRIBER_BINARY = BUILD_DIR / "benchsubscriber"
SERVICE_BINARY = ROOT / ".venv" / "bin" / "kindling-probe"
GO_CLIENT_DIR = ROOT / "clients" / "go"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVICE_START_SECONDS = 60.0
SETTLE_SECONDS = 5.0
LOG_TAIL_LINES = 25
GEN_RESULT = re.compile(r"calls=(\d+) seconds=([0-9.]+) rate=([0-9.]+)")
# A generator flat out: far more than a core can do.
FLAT_OUT = 1_000_000_000


class BenchError(Exception):
    """Ends the run with a one-line message (and optional detail below it)."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def say(text: str) -> None:
    print(text, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


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
        proc: subprocess.Popen[Any] = subprocess.Popen([str(a) for a in args], **kwargs)
        self._procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self._procs):
            stop_process(proc, signal.SIGINT, wait=10)
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


def find_go() -> str:
    # sudo often drops /usr/local/go/bin from PATH.
    for candidate in (
        shutil.which("go"),
        str(ROOT / ".tools" / "bin" / "go"),
        "/usr/local/go/bin/go",
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    raise BenchError("the Go toolchain (go) is not on PATH; run `make setup`")


def build_subscriber() -> None:
    """The Go subscriber (go's cache makes a rebuild cheap)."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [find_go(), "build", "-o", str(SUBSCRIBER_BINARY), "./internal/benchsubscriber"],
        cwd=GO_CLIENT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError("building the Go subscriber failed", result.stderr.strip())


def require_tools(*names: str) -> dict[str, str]:
    found = {name: shutil.which(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise BenchError(
            f"missing {', '.join(missing)}: `make setup` installs them (Debian packages)"
        )
    return {name: path for name, path in found.items() if path is not None}


# -- the generator -----------------------------------------------------------


@dataclass
class GenResult:
    calls: int
    seconds: float
    rate: float
    cpu_s: float


def expected_calls(rate: int, seconds: float) -> int:
    # The generator's own arithmetic (C doubles): calls due at the window's end.
    return int(round(seconds * 1e9) * float(rate) / 1e9)


def start_generator(
    children: Children, rate: int, seconds: float, wrapper: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """Start it paused (it waits for a byte on stdin), optionally under a
    wrapper command such as strace."""
    return children.start(
        [*wrapper, GEN_BINARY, str(rate), repr(seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def release_generator(gen: subprocess.Popen[bytes]) -> None:
    assert gen.stdin is not None
    gen.stdin.write(b"g")
    gen.stdin.flush()


def finish_generator(gen: subprocess.Popen[bytes], seconds: float) -> GenResult:
    """Wait for the generator (reaping it) and parse its result line."""
    before = children_cpu_seconds()
    try:
        out, err = gen.communicate(timeout=seconds + 60)
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


def run_generator(children: Children, rate: int, seconds: float) -> GenResult:
    gen = start_generator(children, rate, seconds)
    release_generator(gen)
    return finish_generator(gen, seconds)


# -- the service ---------------------------------------------------------------


class Service:
    """One `kindling-probe serve` on a socket of the run's own."""

    def __init__(self, children: Children, workdir: Path, transport: str = "auto") -> None:
        self.transport = transport
        self.socket = workdir / f"probe-{transport}.sock"
        self.log_path = workdir / f"service-{transport}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        self.started = time.monotonic()
        self.proc = children.start(
            [SERVICE_BINARY, "serve", "--socket", self.socket, "--transport", transport],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # A crash then leaves a Python traceback in the log tail we print.
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        )
        self.start_seconds = 0.0

    def wait_serving(self) -> float:
        """Poll the gRPC health service until SERVING; return the seconds
        from the start of the process."""
        import grpc  # noqa: PLC0415  (only needed once the service runs)
        from grpc_health.v1 import health_pb2  # noqa: PLC0415

        deadline = self.started + SERVICE_START_SECONDS
        with grpc.insecure_channel(f"unix:{self.socket}") as channel:
            check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            while time.monotonic() < deadline:
                self.check_alive()
                if self.socket.exists():
                    with suppress(grpc.RpcError):
                        reply = check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                        if reply.status == health_pb2.HealthCheckResponse.SERVING:
                            self.start_seconds = time.monotonic() - self.started
                            return self.start_seconds
                time.sleep(0.02)
        raise BenchError(
            f"the service did not report SERVING within {SERVICE_START_SECONDS:.0f}s",
            self.log_tail(),
        )

    def info(self) -> Any:
        from kindling.client import ProbeClient  # noqa: PLC0415

        with ProbeClient(str(self.socket)) as client:
            return client.get_info(timeout=10)

    def wait_idle(self, timeout: float = 15.0) -> None:
        """Until no tracepoint is attached (detaching ends in the background)."""
        deadline = time.monotonic() + timeout
        while self.info().driver.attached:
            if time.monotonic() > deadline:
                raise BenchError("the service kept tracepoints attached with nobody subscribed")
            time.sleep(0.05)

    def settle(self) -> None:
        """Give the machine the seconds after a start back. For a few seconds
        after the service loaded its programs, traced workloads measured 10-15%
        slower here while the service itself used no CPU (the kernel finishing
        its own work after loading 36 programs); a service runs for days, so
        the idle figures are taken after that."""
        self.wait_idle()
        time.sleep(SETTLE_SECONDS)

    def emitted(self) -> dict[str, int]:
        return {c.event: c.emitted for c in self.info().driver.counters}

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
        stop_process(self.proc, signal.SIGINT, wait=15)
        self._log.close()


# -- the Go subscriber -------------------------------------------------------------


@dataclass
class Subscribed:
    proc: subprocess.Popen[str]

    def result(self, timeout: float) -> dict[str, Any]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process(self.proc)
            out, err = self.proc.communicate()
        try:
            parsed: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            raise BenchError("the Go subscriber printed no result", err.strip()) from None
        return parsed


def subscribe(
    children: Children,
    service: Service,
    *,
    pids: Sequence[int] = (),
    names: Sequence[str] = (),
    count: int = 0,
    timeout: float = 60,
    quiet: float = 2.0,
    payload: bool = False,
) -> Subscribed:
    """Start the Go subscriber and return once the service has it (and has
    attached what it needs)."""
    joined = service.joined()
    args: list[str | Path] = [SUBSCRIBER_BINARY, "--socket", service.socket]
    for pid in pids:
        args += ["--pid", str(pid)]
    for name in names:
        args += ["--name", name]
    args += ["--count", str(count), "--timeout", str(timeout), "--quiet", str(quiet)]
    if payload:
        args.append("--payload")
    proc = children.start(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while service.joined() <= joined:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise BenchError(
                "the Go subscriber could not subscribe", f"{err}\n{service.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise BenchError("the service never logged the Go subscriber", service.log_tail())
        time.sleep(0.02)
    time.sleep(0.3)  # the kernel filter follows right after the join
    return Subscribed(proc)


def machine_meta() -> dict[str, Any]:
    cpu_model = ""
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    import platform  # noqa: PLC0415
    from datetime import UTC, datetime  # noqa: PLC0415

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": commit,
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "argv": sys.argv[1:],
    }
