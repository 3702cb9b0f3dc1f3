"""Start the real service (`kindling-probe serve`) on a temporary socket."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
# Every test that runs the kernel path runs once per transport.
TRANSPORTS = ("ring_buffer", "perf_buffer")
PROBE = Path(sys.executable).with_name("kindling-probe")
TOOLS = ROOT / ".tools" / "bin"
# A recording of real events, for services that need no kernel (--replay).
SAMPLE = ROOT / "tests" / "data" / "sample.kindling"


def health_status(socket: Path, service: str = "", timeout: float = 1.0) -> str | None:
    """The health status name, or None when nothing answers on the socket."""
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError:
            return None
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


@dataclass
class Service:
    socket: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    transport: str = "auto"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_serving(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"kindling-probe exited with {self.proc.returncode}:\n{self.log()}"
                )
            if self.socket.exists() and health_status(self.socket) == "SERVING":
                return
            time.sleep(0.05)
        raise AssertionError(f"kindling-probe did not report SERVING in {timeout}s:\n{self.log()}")

    def wait_subscribers(self, joined: int, timeout: float = 10.0) -> None:
        """Wait until the service has logged `joined` subscriptions in all."""
        deadline = time.monotonic() + timeout
        while self.log().count(" joined (") < joined:
            if time.monotonic() > deadline:
                raise AssertionError(f"{joined} subscriptions never joined:\n{self.log()}")
            time.sleep(0.02)

    def wait_for_log(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline:
                raise AssertionError(f"the service never logged {text!r}:\n{self.log()}")
            time.sleep(0.02)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"kindling-probe ignored SIGINT:\n{self.log()}") from None
        return self.proc.returncode


def start_service(
    directory: Path, *args: str, wait: bool = True, transport: str = "auto"
) -> Service:
    socket = directory / "kindling.sock"
    log_path = directory / "service.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(PROBE), "serve", "--socket", str(socket), "--transport", transport, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    service = Service(socket=socket, proc=proc, log_path=log_path, transport=transport)
    if wait:
        try:
            service.wait_serving()
        except BaseException:
            service.stop()
            raise
    return service
