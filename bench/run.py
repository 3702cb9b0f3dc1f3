"""The kindling probe benchmark (`make bench`): every figure the project
promises, measured side by side in one run and printed beside its goal.

  1. The rate ladder, per transport: the highest write() rate the service
     delivers to a Go subscriber without loss, the service's CPU per event,
     and the same ladder for a counting-only reader of the same driver (the
     reference: the most the transport allows).
  2. What tracing costs the traced process: a write() loop flat out, with
     and without the probe, beside bpftrace and strace.
  3. A real workload: nginx under wrk, with and without the probe.
  4. The service's idle CPU and its time from start to SERVING.
  5. The service under load: peak memory and GetInfo latency under a write
     flood, a bystander beside five maximal filters, 1,000 subscribers.
  6. kindling-collector's own CPU per 1,000 HTTP requests (nginx under wrk).

Run as root: `.venv/bin/python bench/run.py [--quick]` (from any directory).
bench/README.md says how to read the output. Figures, not verdicts: the
goals are targets, and a missed one is reported as missed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import collector
import harness
import ladder
import load
import overhead
import web
from harness import BenchError, Children, Service, say

RESULTS_FILE = harness.ROOT / "bench" / "results" / "latest.json"
# Smoke runs must not overwrite the committed figures; build/ is gitignored.
QUICK_RESULTS_FILE = harness.BUILD_DIR / "quick.json"
TRANSPORTS = ("ring_buffer", "perf_buffer")
SECTIONS = ("ladder", "overhead", "web", "service", "load", "collector")

FULL_RATES = (100_000, 200_000, 300_000, 400_000, 500_000, 600_000, 800_000, 1_000_000)
QUICK_RATES = (100_000, 300_000, 600_000)
IDLE_SECONDS = 5.0
# The Python collector's target: one core keeps up with 10,000 requests a
# second seen from both sides (nginx's and its client's).
COLLECTOR_CPU_TARGET_MS = 100.0
COLLECTOR_CPU_GOAL = "<= 100 ms"


@dataclass
class Goal:
    figure: str
    measured: str
    goal: str
    met: bool | None  # None: no goal, only a figure to compare with

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("met" if self.met else "MISSED")


def ratio(value: float, base: float) -> float:
    return value / base if base and not math.isnan(base) else float("nan")


def run_ladders(
    children: Children,
    workdir: Path,
    rates: Sequence[int],
    seconds: float,
    transports: Sequence[str],
) -> tuple[list[ladder.Ladder], dict[str, dict[str, float]]]:
    ladders: list[ladder.Ladder] = []
    service_figures: dict[str, dict[str, float]] = {}
    for transport in transports:
        service = Service(children, workdir, transport)
        try:
            start = service.wait_serving()
            service.wait_idle()
            before = service.cpu_seconds()
            time.sleep(IDLE_SECONDS)
            idle = (service.cpu_seconds() - before) / IDLE_SECONDS
            service_figures[transport] = {"start_seconds": start, "idle_cpu_share": idle}
            say(
                f"service/{transport}: SERVING {start:.2f} s after start; idle {idle:.2%} of a core"
            )
            ladders.append(ladder.service_ladder(children, service, rates, seconds))
        finally:
            service.stop()
        ladders.append(ladder.reference_ladder(children, transport, rates, seconds))
    return ladders, service_figures


def goals(report: dict[str, Any]) -> list[Goal]:
    out: list[Goal] = []
    for summary in report.get("ladders", []):
        rate, per_cpu = summary["zero_loss_rate"], summary["events_per_cpu_second"]
        limit = {"loss": "", "generator": " (generator-bound)", "none": " (every rate passed)"}[
            summary["limited_by"]
        ]
        if summary["path"] == "service":
            out.append(Goal(
                f"lossless rate to one Go subscriber, {summary['transport']}",
                f"{rate or 0:,}/s{limit}", ">= 500,000/s (moonshot 1M)",
                rate is not None and rate >= 500_000,
            ))  # fmt: skip
            out.append(Goal(
                f"events per service CPU-second, {summary['transport']}",
                f"{per_cpu or 0:,}", ">= 500,000", per_cpu is not None and per_cpu >= 500_000,
            ))  # fmt: skip
        else:
            out.append(Goal(
                f"reference (counting reader) lossless rate, {summary['transport']}",
                f"{rate or 0:,}/s{limit}", "the transport's limit", None,
            ))  # fmt: skip
    loop = report.get("overhead")
    if loop:
        ratios = {key: value["ratio"] for key, value in loop.items()}
        out.append(Goal("write loop, service running, nobody wants writes",
                        f"{ratios['service_idle']:.3f}x", ">= 0.97x",
                        ratios["service_idle"] >= 0.97))  # fmt: skip
        out.append(Goal("write loop, a subscriber for other events only",
                        f"{ratios['other_events']:.3f}x", "", None))  # fmt: skip
        out.append(Goal("write loop, every write to the counting reference",
                        f"{ratios['reference_every_write']:.3f}x", ">= 0.30x",
                        ratios["reference_every_write"] >= 0.30))  # fmt: skip
        service_vs_reference = ratio(ratios["service_every_write"], ratios["reference_every_write"])
        out.append(Goal("write loop, every write to a Go subscriber through the service",
                        f"{ratios['service_every_write']:.3f}x "
                        f"({service_vs_reference:.2f} of the reference)",
                        "within 20% of the reference", service_vs_reference >= 0.8))  # fmt: skip
        out.append(Goal("write loop, bpftrace counting the tracepoint",
                        f"{ratios['bpftrace']:.3f}x", "", None))  # fmt: skip
        out.append(Goal("write loop, strace -f -e trace=write",
                        f"{ratios['strace']:.4f}x", "", None))  # fmt: skip
    nginx = report.get("web")
    if nginx:
        idle, delivered, filtered = nginx["service_idle"], nginx["delivered"], nginx["filtered"]
        out.append(Goal("nginx requests/s, service running, nobody subscribed",
                        f"{idle['ratio']:.3f}x", ">= 0.98x", idle["ratio"] >= 0.98))  # fmt: skip
        out.append(Goal("nginx p99 latency, service running, nobody subscribed",
                        f"{idle['p99_ratio']:.2f}x", "<= 1.10x",
                        idle["p99_ratio"] <= 1.10))  # fmt: skip
        out.append(Goal("nginx requests/s, a subscriber for its network I/O events",
                        f"{delivered['ratio']:.3f}x (p99 {delivered['p99_ratio']:.2f}x)",
                        ">= 0.95x", delivered["ratio"] >= 0.95))  # fmt: skip
        if "payload" in nginx:
            payload = nginx["payload"]
            out.append(Goal("nginx requests/s, the same with socket payloads",
                            f"{payload['ratio']:.3f}x (p99 {payload['p99_ratio']:.2f}x)",
                            "", None))  # fmt: skip
        out.append(Goal("nginx requests/s, those events filtered out in the kernel",
                        f"{filtered['ratio']:.3f}x (p99 {filtered['p99_ratio']:.2f}x)",
                        ">= 0.99x", filtered["ratio"] >= 0.99))  # fmt: skip
    under_load = report.get("load")
    if under_load:
        flood, filters, many = (
            under_load["flood"],
            under_load["filters"],
            under_load["subscribers"],
        )
        out.append(Goal(f"service RSS, write loop flat out {flood['seconds']:g} s, one subscriber",
                        f"{flood['rss_mb_start']:.0f} -> {flood['rss_mb_max']:.0f} MB", "<= 400 MB",
                        flood["rss_mb_max"] <= 400))  # fmt: skip
        out.append(Goal("GetInfo p99 during that flood", f"{flood['get_info_ms_p99']:.0f} ms",
                        "<= 100 ms", flood["get_info_ms_p99"] <= 100))  # fmt: skip
        if "stalled" in under_load:
            stuck = under_load["stalled"]
            bound = stuck["rss_mb_start"] + stuck["queue_memory_mb"] + 64
            out.append(Goal(f"service RSS, that flood with {stuck['subscribers']} subscribers "
                            "that never read",
                            f"{stuck['rss_mb_start']:.0f} -> {stuck['rss_mb_max']:.0f} MB "
                            f"(queues {stuck['queued_mb_max']:.0f} MB)",
                            f"<= start + {stuck['queue_memory_mb']} + 64 MB",
                            stuck["rss_mb_max"] <= bound))  # fmt: skip
            out.append(Goal("GetInfo p99 meanwhile", f"{stuck['get_info_ms_p99']:.0f} ms",
                            "<= 100 ms", stuck["get_info_ms_p99"] <= 100))  # fmt: skip
        out.append(Goal(f"bystander lost, beside five maximal filters at {filters['rate']:,}/s",
                        f"{filters['bystander_lost']:,} of {filters['made']:,} "
                        f"(service {filters['service_cpu_share']:.0%} of a core)",
                        "0", filters["bystander_lost"] == 0))  # fmt: skip
        out.append(Goal(f"GetInfo p99 with {many['subscribers']:,} idle subscribers",
                        f"{many['get_info_ms_p99']:.0f} ms", "<= 100 ms",
                        many["get_info_ms_p99"] <= 100))  # fmt: skip
    for transport, figures in report.get("service", {}).items():
        idle_share = figures["idle_cpu_share"]
        out.append(Goal(f"service idle CPU, {transport}", f"{idle_share:.2%} of a core",
                        "<= 0.5%", idle_share <= 0.005))  # fmt: skip
        out.append(Goal(f"service start to SERVING, {transport}",
                        f"{figures['start_seconds']:.2f} s", "<= 3 s",
                        figures["start_seconds"] <= 3.0))  # fmt: skip
    own = report.get("collector")
    if own:
        per_1000 = own["cpu_ms_per_1000_requests"]
        out.append(Goal("kindling-collector CPU per 1,000 HTTP requests (both sides)",
                        f"{per_1000:.0f} ms ({own['requests_counted']:,} requests, "
                        f"{own['lost_events']:,} lost)",
                        COLLECTOR_CPU_GOAL, per_1000 <= COLLECTOR_CPU_TARGET_MS))  # fmt: skip
    return out


def print_goals(rows: list[Goal]) -> None:
    say("")
    say("Figures and goals (2-core VM; compare ratios within one run: differences under ~25%")
    say("between runs are noise)")
    width = max(len(r.figure) for r in rows)
    measured = max(len(r.measured) for r in rows)
    goal = max(len(r.goal) for r in rows)
    say(f"  {'figure':<{width}}  {'measured':>{measured}}  {'goal':<{goal}}  ")
    for r in rows:
        say(f"  {r.figure:<{width}}  {r.measured:>{measured}}  {r.goal:<{goal}}  {r.verdict}")


def overhead_report(scenarios: dict[str, overhead.Scenario]) -> dict[str, Any]:
    base = scenarios["untraced"].rate
    return {
        key: {
            "label": s.label,
            "rate": round(s.rate),
            "ratio": round(ratio(s.rate, base), 4),
            "runs": [round(r) for r in s.rates],
            "notes": s.notes,
        }
        for key, s in scenarios.items()
    }


def web_report(scenarios: dict[str, web.WebScenario]) -> dict[str, Any]:
    base = scenarios["untraced"]
    return {
        key: {
            "label": s.label,
            "requests_per_s": round(s.requests_per_s),
            "p99_ms": round(s.p99_s * 1e3, 3),
            "ratio": round(ratio(s.requests_per_s, base.requests_per_s), 4),
            "p99_ratio": round(ratio(s.p99_s, base.p99_s), 3),
            "runs": [asdict(r) for r in s.runs],
            "notes": s.notes,
        }
        for key, s in scenarios.items()
    }


def print_details(report: dict[str, Any]) -> None:
    for summary, steps in zip(
        report.get("ladders", []), report.get("ladder_steps", []), strict=True
    ):
        say("")
        step = report["meta"]["step_seconds"]
        say(f"{summary['path']} ladder, {summary['transport']} ({step:g} s per step)")
        say(f"  {'target/s':>10} {'made/s':>10} {'generated':>10} {'delivered':>10} {'cpu-s':>6} "
            f"{'cpu-s/M':>8}  losses")  # fmt: skip
        for s in steps:
            per_million = s["cpu_s"] / (s["generated"] / 1e6) if s["generated"] else 0.0
            notes = ", ".join(f"{n:,} {reason}" for reason, n in s["lost"].items())
            if not s["reached"]:
                notes = "generator short" + (f"; {notes}" if notes else "")
            say(
                f"  {s['target_rate']:>10,} {s['achieved_rate']:>10,.0f} {s['generated']:>10,} "
                f"{s['delivered']:>10,} {s['cpu_s']:>6.2f} {per_million:>8.2f}  {notes}"
            )
    loop = report.get("overhead")
    if loop:
        say("")
        say("write() loop flat out (median of the runs, ratio to untraced)")
        for value in loop.values():
            say(f"  {value['label']:<55} {value['rate'] / 1e6:6.2f}M/s  {value['ratio']:.3f}x")
    nginx = report.get("web")
    if nginx:
        say("")
        say("nginx under wrk (median of the runs, ratio to untraced)")
        for value in nginx.values():
            say(f"  {value['label']:<60} {value['requests_per_s']:>8,}/s {value['ratio']:.3f}x  "
                f"p99 {value['p99_ms']:.2f} ms {value['p99_ratio']:.2f}x")  # fmt: skip


def rounded(value: Any) -> Any:
    """Floats to 4 decimals for the JSON: more digits than that are noise."""
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


def write_results(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(rounded(report), indent=2) + "\n")
    partial.replace(path)


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
        prog="bench/run.py", description="Measure the kindling probe service (needs root)."
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run, to build/bench")
    parser.add_argument("--only", metavar="S,S", help=f"sections to run, of {','.join(SECTIONS)}")
    parser.add_argument("--transports", metavar="T,T", help="transports for the ladders")
    parser.add_argument("--rates", metavar="R,R,...", help="ladder rates, in rising order")
    parser.add_argument("--seconds", type=float, metavar="S", help="length of each ladder step")
    parser.add_argument("--repeats", type=int, metavar="N", help="runs per overhead scenario")
    parser.add_argument("--output", type=Path, metavar="PATH", help="where to write the JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sections = args.only.split(",") if args.only else list(SECTIONS)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        say(
            f"bench: unknown section {', '.join(sorted(unknown))}; choose from {','.join(SECTIONS)}"
        )
        return 2
    transports = args.transports.split(",") if args.transports else list(TRANSPORTS)
    rates: Sequence[int] = QUICK_RATES if args.quick else FULL_RATES
    if args.rates:
        rates = [int(r.replace("_", "")) for r in args.rates.split(",")]
    seconds: float = args.seconds or (1.0 if args.quick else 3.0)
    repeats: int = args.repeats or (2 if args.quick else 6)
    output: Path = args.output or (QUICK_RESULTS_FILE if args.quick else RESULTS_FILE)
    if os.geteuid() != 0:
        say("bench: needs root (it loads eBPF programs); run it with sudo")
        return 2
    if not harness.SERVICE_BINARY.exists():
        say(f"bench: {harness.SERVICE_BINARY} is missing; run `make setup` first")
        return 2

    children = Children()
    workdir = Path(tempfile.mkdtemp(prefix="kindling-bench-"))
    started = time.monotonic()
    report: dict[str, Any] = {
        "meta": {
            **harness.machine_meta(),
            "mode": "quick" if args.quick else "full",
            "step_seconds": seconds,
            "rates": list(rates),
            "repeats": repeats,
        }
    }
    try:
        with sigterm_as_exit():
            harness.build_generator()
            harness.build_subscriber()
            if "ladder" in sections or "service" in sections:
                say(f"1. rate ladders, {seconds:g} s per step")
                ladders, service_figures = run_ladders(
                    children, workdir, rates if "ladder" in sections else [], seconds, transports
                )
                if "ladder" in sections:
                    report["ladders"] = [lad.summary() for lad in ladders]
                    report["ladder_steps"] = [[asdict(s) for s in lad.steps] for lad in ladders]
                report["service"] = service_figures
            if "overhead" in sections:
                say(f"2. write() loop overhead, {repeats} rounds")
                scenarios = overhead.measure(children, workdir, "auto", 1.0, repeats)
                report["overhead"] = overhead_report(scenarios)
            if "web" in sections:
                say(f"3. nginx under wrk, {repeats} rounds")
                nginx = web.measure(children, workdir, "auto", 1.0 if args.quick else 3.0, repeats)
                report["web"] = web_report(nginx)
            if "load" in sections:
                flood_seconds = 4.0 if args.quick else 20.0
                say(f"5. the service under load ({flood_seconds:g} s write flood)")
                report["load"] = load.measure(children, workdir, "auto", flood_seconds)
            if "collector" in sections:
                wrk_seconds = 1.0 if args.quick else 3.0
                say(f"6. kindling-collector's CPU, nginx under wrk for {wrk_seconds:g} s")
                figures = collector.measure(children, workdir, wrk_seconds)
                collector.print_figures(figures)
                report["collector"] = {
                    **asdict(figures),
                    "cpu_ms_per_1000_requests": round(figures.cpu_ms_per_1000, 1),
                }
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

    report["meta"]["duration_seconds"] = round(time.monotonic() - started, 1)
    rows = goals(report)
    report["goals"] = [asdict(r) for r in rows]
    print_details(report)
    print_goals(rows)
    write_results(report, output)
    say(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
