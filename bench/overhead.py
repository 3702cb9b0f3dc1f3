"""What tracing costs the traced process: a write() loop flat out, with and
without the probe, and beside it bpftrace and strace doing the same job.

Every scenario runs the same generator (bench/syscall_gen.c, flat out for
a fixed time); the figure is its rate. Runs go round-robin over the
scenarios, so slow drifts of a noisy VM spread over all of them, and each
figure is the median of its runs.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    FLAT_OUT,
    BenchError,
    Children,
    Service,
    Subscribed,
    finish_generator,
    median,
    release_generator,
    require_tools,
    say,
    start_generator,
    stop_process,
    subscribe,
)
from ladder import ReferenceReader

# Setup for one run, given the generator's pid; returns the teardown, which
# returns what the scenario wants to report about the run (or None).
Setup = Callable[[int], Callable[[], dict[str, Any] | None]]


@dataclass
class Scenario:
    key: str
    label: str
    setup: Setup
    wrapper: Sequence[str] = ()
    rates: list[float] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return median(self.rates)


def _nothing(_pid: int) -> Callable[[], None]:
    return lambda: None


def _bpftrace(tool: str) -> Setup:
    def setup(_pid: int) -> Callable[[], None]:
        proc = subprocess.Popen(
            [tool, "-e", "tracepoint:syscalls:sys_enter_write { @writes = count(); }"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        seen = []
        # "Attaching 1 probe..." once it is attached (after warnings, if any).
        while not seen or "Attaching" not in seen[-1]:
            line = proc.stdout.readline()
            if not line or len(seen) > 20:
                stop_process(proc)
                raise BenchError("bpftrace did not attach", "".join(seen))
            seen.append(line)
        return lambda: stop_process(proc)

    return setup


def _reference(reader: ReferenceReader) -> Setup:
    def setup(pid: int) -> Callable[[], dict[str, Any]]:
        reader.watch(pid)
        before = reader.records
        time.sleep(0.2)

        def teardown() -> dict[str, Any]:
            time.sleep(0.1)
            reader.watch(None)
            return {"captured": reader.records - before}

        return teardown

    return setup


def _subscriber(
    children: Children, current: list[Service], names: Sequence[str], own_pid: bool
) -> Setup:
    def setup(pid: int) -> Callable[[], dict[str, Any]]:
        service = current[0]
        sub: Subscribed = subscribe(
            children, service, pids=[pid] if own_pid else [], names=names, timeout=60, quiet=1.5
        )

        def teardown() -> dict[str, Any]:
            if not own_pid:
                stop_process(sub.proc)
            outcome = sub.result(timeout=30)
            service.wait_idle()
            return {"delivered": outcome["events"], "lost": outcome["lost"]}

        return teardown

    return setup


def measure(
    children: Children, workdir: Path, transport: str, seconds: float, repeats: int
) -> dict[str, Scenario]:
    """Every scenario, `repeats` times. Each round starts a service for the
    scenarios that need one, then stops it for those that must not have it
    (untraced, and the tools that load their own programs)."""
    tools = require_tools("bpftrace", "strace")
    reader = ReferenceReader(transport)
    current: list[Service] = []
    with_service = [
        Scenario("service_idle", "service running, nobody subscribed", _nothing),
        Scenario(
            "other_events", "a subscriber for other events (openat, connect)",
            _subscriber(children, current, ["openat", "connect"], own_pid=False),
        ),
        Scenario(
            "service_every_write", "a subscriber for every write of the loop",
            _subscriber(children, current, ["write"], own_pid=True),
        ),
    ]  # fmt: skip
    without = [
        Scenario("untraced", "untraced", _nothing),
        Scenario(
            "reference_every_write", "the probe's programs, a counting reader (reference)",
            _reference(reader),
        ),
        Scenario("bpftrace", "bpftrace counting sys_enter_write", _bpftrace(tools["bpftrace"])),
        Scenario(
            "strace", "strace -f -e trace=write", _nothing,
            wrapper=[tools["strace"], "-f", "-e", "trace=write", "-o", "/dev/null"],
        ),
    ]  # fmt: skip
    try:
        for round_ in range(repeats):
            # Every other round runs in reverse order, so that a drift within
            # a round weighs on every scenario alike.
            reverse = round_ % 2 == 1
            if reverse:
                for scenario in reversed(without):
                    one_run(children, scenario, seconds)
            service = Service(children, workdir, transport)
            current[:] = [service]
            try:
                service.wait_serving()
                service.settle()
                for scenario in reversed(with_service) if reverse else with_service:
                    one_run(children, scenario, seconds)
            finally:
                service.stop()
            if not reverse:
                for scenario in without:
                    one_run(children, scenario, seconds)
            say(
                f"  overhead round {round_ + 1}/{repeats}: "
                + ", ".join(
                    f"{s.key} {s.rates[-1] / 1e6:.2f}M/s" for s in [*without, *with_service]
                )
            )
    finally:
        reader.close()
    return {s.key: s for s in [*without, *with_service]}


def one_run(children: Children, scenario: Scenario, seconds: float) -> None:
    gen = start_generator(children, FLAT_OUT, seconds, wrapper=scenario.wrapper)
    try:
        if scenario.wrapper:
            time.sleep(0.3)  # strace attaches to the child as it starts
        teardown = scenario.setup(gen.pid)
    except BaseException:
        stop_process(gen)
        raise
    release_generator(gen)
    result = finish_generator(gen, seconds)
    note = teardown()
    scenario.rates.append(result.rate)
    if note is not None:
        scenario.notes.append({**note, "calls": result.calls})
