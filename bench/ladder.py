"""The rate ladder: write() at rising rates, one step per rate, until a step
loses events or the generator cannot reach its rate.

- The service path: generator -> eBPF -> kindling-probe -> gRPC -> the Go
  subscriber, which decodes every event and checks the sequence numbers.
- The reference: the service's own driver (loader, programs, transport) in
  this process, with a consumer that only counts. It is the most any service
  can get through that transport.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    BenchError,
    Children,
    Service,
    expected_calls,
    finish_generator,
    proc_cpu_seconds,
    release_generator,
    say,
    start_generator,
    subscribe,
)

# A generator that made fewer than this share of its calls did not reach the
# rate: the step then measures the generator, not the probe.
REACHED_SHARE = 0.97


@dataclass
class Step:
    target_rate: int
    achieved_rate: float
    generated: int
    delivered: int
    lost: dict[str, int]
    gaps: int
    cpu_s: float  # the service's (or the reference reader's) CPU during the step
    reached: bool

    @property
    def lossless(self) -> bool:
        return self.delivered >= self.generated and not self.lost and not self.gaps

    @property
    def cpu_s_per_million(self) -> float:
        return self.cpu_s / (self.generated / 1e6) if self.generated else 0.0


@dataclass
class Ladder:
    path: str  # "service" or "reference"
    transport: str
    steps: list[Step] = field(default_factory=list)

    def best(self) -> Step | None:
        lossless = [s for s in self.steps if s.reached and s.lossless]
        return lossless[-1] if lossless else None

    def limited_by(self) -> str:
        if not self.steps:
            return "none"
        last = self.steps[-1]
        if last.reached and last.lossless:
            return "none"
        return "loss" if not last.lossless else "generator"

    def summary(self) -> dict[str, Any]:
        best = self.best()
        return {
            "path": self.path,
            "transport": self.transport,
            "zero_loss_rate": best.target_rate if best else None,
            "cpu_s_per_million": round(best.cpu_s_per_million, 3) if best else None,
            "events_per_cpu_second": round(1e6 / best.cpu_s_per_million)
            if best and best.cpu_s_per_million
            else None,
            "limited_by": self.limited_by(),
        }


def climb(steps: list[Step], rates: Sequence[int], run: Callable[[int], Step], label: str) -> None:
    for rate in rates:
        step = run(rate)
        steps.append(step)
        lost = f"  lost {step.lost}" if step.lost else ""
        gaps = f"  {step.gaps} unreported gaps" if step.gaps else ""
        say(
            f"  {label} {rate:>9,}/s: made {step.achieved_rate:>10,.0f}/s  delivered "
            f"{step.delivered:>9,} of {step.generated:>9,}  cpu {step.cpu_s:5.2f} s{lost}{gaps}"
        )
        if not (step.lossless and step.reached):
            break
        time.sleep(0.3)


def service_ladder(
    children: Children, service: Service, rates: Sequence[int], seconds: float
) -> Ladder:
    ladder = Ladder("service", service.transport)

    def step(rate: int) -> Step:
        expected = expected_calls(rate, seconds)
        gen = start_generator(children, rate, seconds)
        sub = subscribe(
            children, service, pids=[gen.pid], names=["write"], count=expected,
            timeout=seconds + 30, quiet=2.0,
        )  # fmt: skip
        before = service.cpu_seconds()
        release_generator(gen)
        result = finish_generator(gen, seconds)
        outcome = sub.result(timeout=seconds + 40)
        cpu = service.cpu_seconds() - before
        if outcome.get("error"):
            service.check_alive()
            raise BenchError(f"the Go subscriber failed: {outcome['error']}", service.log_tail())
        return Step(
            target_rate=rate,
            achieved_rate=result.rate,
            generated=result.calls,
            delivered=int(outcome["events"]),
            lost={k: int(v) for k, v in outcome["lost"].items() if v},
            gaps=int(outcome["gaps"]),
            cpu_s=cpu,
            reached=result.calls >= REACHED_SHARE * expected,
        )

    climb(ladder.steps, rates, step, f"service/{service.transport}")
    return ladder


class ReferenceReader:
    """The service's own driver, read by a consumer that only counts: no
    merging, no pipeline, no gRPC."""

    def __init__(self, transport: str) -> None:
        from kindling.server.catalog import CATALOG  # noqa: PLC0415
        from kindling.server.drivers.bcc.driver import BccDriver  # noqa: PLC0415
        from kindling.server.drivers.transports.base import Drain  # noqa: PLC0415

        self._catalog = CATALOG
        self._write_id = CATALOG.by_name["write"].id
        self.driver = BccDriver(CATALOG, transport=transport)
        self.records = 0
        self.lost = 0

        def on_drain(drain: Drain, kernel_lost: int) -> None:
            self.records += int((drain.records["event_id"] == self._write_id).sum())
            self.lost += kernel_lost

        self.driver.start_raw(on_drain)
        self.transport = self.driver.transport

    def watch(self, pid: int | None) -> None:
        """Capture what a subscriber to this pid's writes makes the kernel
        capture (the writes and the process's fd syscalls), or nothing."""
        from kindling.server.drivers.base import NOTHING, KernelLimits  # noqa: PLC0415
        from kindling.server.pipeline.plan import Demand, ServiceFilters, plan  # noqa: PLC0415

        if pid is None:
            self.driver.apply(NOTHING)
            return
        every = frozenset(s.id for s in self._catalog.specs)
        planned = plan(
            self._catalog,
            [Demand(frozenset({self._write_id}), pids=frozenset({pid}))],
            configured=every,
            service=ServiceFilters(),
            limits=KernelLimits(),
        )
        self.driver.apply(planned.kernel)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(Path(f"/proc/self/task/{self.driver.reader_thread_id()}/stat"))

    def close(self) -> None:
        self.driver.stop()


def reference_ladder(
    children: Children, transport: str, rates: Sequence[int], seconds: float
) -> Ladder:
    reader = ReferenceReader(transport)
    ladder = Ladder("reference", reader.transport)

    def step(rate: int) -> Step:
        expected = expected_calls(rate, seconds)
        gen = start_generator(children, rate, seconds)
        reader.watch(gen.pid)
        time.sleep(0.3)
        records, lost = reader.records, reader.lost
        cpu_before = reader.cpu_seconds()
        release_generator(gen)
        result = finish_generator(gen, seconds)
        time.sleep(0.1)  # a few drains, so the last records are read
        cpu = reader.cpu_seconds() - cpu_before
        read, lost_now = reader.records - records, reader.lost - lost
        reader.watch(None)
        return Step(
            target_rate=rate,
            achieved_rate=result.rate,
            generated=result.calls,
            delivered=read,
            lost={"kernel_buffer_full": lost_now} if lost_now else {},
            gaps=0,
            cpu_s=cpu,
            reached=result.calls >= REACHED_SHARE * expected,
        )

    try:
        climb(ladder.steps, rates, step, f"reference/{reader.transport}")
    finally:
        reader.close()
    return ladder
