"""The control plane: what the probe captures, recomputed whenever a
subscriber comes or goes or Configure changes something, and pushed into
the kernel (as map updates and attachments, never a reload) and into the
pipeline (which events are delivered, and whom the tables cover).

With no subscriber nothing is captured: no tracepoint is attached, and the
traced processes pay nothing.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from kindling.server.catalog import Catalog
from kindling.server.drivers.base import PID_LIMIT, Driver, KernelLimits
from kindling.server.errors import shown
from kindling.server.pipeline.builder import EventBuilder
from kindling.server.pipeline.fanout.broker import Broker
from kindling.server.pipeline.plan import DEFAULT_SNAPLEN, Plan, Region, ServiceFilters, plan

# Processes a new subscription names are read from /proc when it starts, up
# to this many; the others are read when their first event is processed.
SEED_MAX_PIDS = 256
# The kernel compares a thread's name with at most this many bytes.
COMM_MAX_BYTES = 15


class ConfigError(ValueError):
    """A Configure request is invalid; the message names the offending field."""


class StaleGenerationError(ConfigError):
    """A compare-and-set Configure found the configuration changed."""


@dataclass(frozen=True)
class Configuration:
    """What Configure changes, numbered: events captured, the service-wide
    kernel filters (with snaplen), the batching of streams that ask for none,
    and its generation."""

    enabled: frozenset[int]
    filters: ServiceFilters
    generation: int
    # (most events per response, most delay in seconds)
    batching: tuple[int, float] = (0, 0.0)


@dataclass(frozen=True)
class KernelFiltersRequest:
    """Configure's kernel filters, as the request gave them."""

    deny_pids: Sequence[int]
    deny_comms: Sequence[str]
    drop_failed_io: bool


class CaptureControl:
    def __init__(
        self,
        catalog: Catalog,
        driver: Driver,
        builder: EventBuilder,
        broker: Broker,
        limits: KernelLimits | None = None,
        *,
        snaplen: int = DEFAULT_SNAPLEN,
        max_snaplen: int = DEFAULT_SNAPLEN,
        batching: tuple[int, float] = (0, 0.0),
    ) -> None:
        self._catalog = catalog
        self.batching = batching
        self.max_snaplen = max_snaplen
        self._driver = driver
        self._builder = builder
        self._broker = broker
        self._limits = limits or KernelLimits()
        self._lock = threading.Lock()
        self._all = frozenset(s.id for s in catalog.specs)
        self.configured: frozenset[int] = self._all
        self.generation = 1
        self.service_filters = ServiceFilters(snaplen=snaplen)
        self.plan: Plan = plan(
            catalog, [], configured=self._all, service=self.service_filters, limits=self._limits
        )

    def configured_names(self) -> list[str]:
        return [s.name for s in self._catalog.specs if s.id in self.configured]

    def _validate(self, names: Sequence[str], field: str) -> set[int]:
        ids = set()
        for i, name in enumerate(names):
            spec = self._catalog.by_name.get(name)
            if spec is None:
                raise ConfigError(
                    f"{field}[{i}]: unknown event name {shown(name)}; "
                    f"{self._catalog.known_events()}"
                )
            if spec.id in ids:
                raise ConfigError(f"{field}[{i}]: {name} is named twice; name each event once")
            ids.add(spec.id)
        return ids

    def _validate_filters(self, request: KernelFiltersRequest) -> ServiceFilters:
        field = "kernel_filters"
        if len(request.deny_pids) > self._limits.deny_pids:
            raise ConfigError(f"{field}.deny_pids: at most {self._limits.deny_pids} processes")
        if len(request.deny_comms) > self._limits.deny_comms:
            raise ConfigError(f"{field}.deny_comms: at most {self._limits.deny_comms} names")
        pids: set[int] = set()
        for i, pid in enumerate(request.deny_pids):
            if pid == 0 or pid >= PID_LIMIT:
                raise ConfigError(
                    f"{field}.deny_pids[{i}]: {pid} is not a process id "
                    f"(they run from 1 to {PID_LIMIT - 1})"
                )
            if pid in pids:
                raise ConfigError(f"{field}.deny_pids[{i}]: {pid} is named twice")
            pids.add(pid)
        comms: set[bytes] = set()
        for i, comm in enumerate(request.deny_comms):
            raw = comm.encode()
            if not raw:
                raise ConfigError(f"{field}.deny_comms[{i}]: a thread name cannot be empty")
            if len(raw) > COMM_MAX_BYTES:
                raise ConfigError(
                    f"{field}.deny_comms[{i}]: {shown(comm)} is longer than the "
                    f"{COMM_MAX_BYTES} bytes of a thread name"
                )
            if raw in comms:
                raise ConfigError(f"{field}.deny_comms[{i}]: {shown(comm)} is named twice")
            comms.add(raw)
        return dataclasses.replace(
            self.service_filters,
            deny_pids=frozenset(pids),
            deny_comms=frozenset(comms),
            drop_failed_io=request.drop_failed_io,
        )

    def configure(
        self,
        enable: Sequence[str],
        disable: Sequence[str],
        kernel_filters: KernelFiltersRequest | None = None,
        snaplen: int | None = None,
        *,
        batching: tuple[int, float] | None = None,
        dry_run: bool = False,
        numbered: bool = True,
        expected_generation: int | None = None,
    ) -> Configuration:
        """Apply a Configure request (or, for a dry run, say what it would
        make), or raise ConfigError and change nothing. The configuration the
        service starts with is applied `numbered=False`: it is generation 1."""
        if snaplen is not None and not 0 <= snaplen <= self.max_snaplen:
            raise ConfigError(
                f"snaplen: {snaplen} is more than the {self.max_snaplen} bytes the kernel's "
                "records were made for; start the service with a larger "
                "`kindling-probe serve --snaplen` for more"
            )
        enable_ids = self._validate(enable, "enable_events")
        disable_ids = self._validate(disable, "disable_events")
        both = enable_ids & disable_ids
        if both:
            names = ", ".join(self._catalog.by_id[i].name for i in sorted(both))
            raise ConfigError(
                f"enable_events and disable_events both name {names}; name each event once"
            )
        filters = self._validate_filters(kernel_filters) if kernel_filters is not None else None
        with self._lock:
            if expected_generation is not None and expected_generation != self.generation:
                raise StaleGenerationError(
                    f"expected_generation: the configuration is at generation "
                    f"{self.generation}, not {expected_generation}; read it again with GetConfig"
                )
            configured = (self.configured | enable_ids) - disable_ids
            service = filters if filters is not None else self.service_filters
            if snaplen is not None:
                service = dataclasses.replace(service, snaplen=snaplen)
            batched = self.batching if batching is None else batching
            if dry_run:
                return Configuration(configured, service, self.generation, batched)
            self.configured, self.service_filters = configured, service
            self.batching = batched
            self.generation += numbered  # not the start-up configuration
            applied = Configuration(configured, service, self.generation, batched)
        self.refresh()
        return applied

    def configuration(self) -> Configuration:
        with self._lock:
            return Configuration(
                self.configured, self.service_filters, self.generation, self.batching
            )

    def names(self, ids: frozenset[int]) -> list[str]:
        """Event names in catalogue order."""
        return [s.name for s in self._catalog.specs if s.id in ids]

    def refresh(self) -> None:
        """Recompute the plan after a change and push it down."""
        with self._lock:
            subscriptions = self._broker.subscriptions
            demands = [d for s in subscriptions for d in s.selection.demands(self._all)]
            old = self.plan.tables
            self.plan = plan(
                self._catalog,
                demands,
                configured=self.configured,
                service=self.service_filters,
                subscriber_denied_pids=[s.selection.denied_pids() for s in subscriptions],
                limits=self._limits,
            )
            self._builder.delivered = self.plan.kernel.delivered
            self._driver.apply(self.plan.kernel)
            # From here on the kernel captures by the new plan: so do the
            # tables, from what /proc says now of the processes new to them.
            at_ns = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            new = self.plan.tables
            seed = self._builder.snapshot(
                _newly_named(new.threads, old.threads)[:SEED_MAX_PIDS],
                _newly_named(new.fds, old.fds)[:SEED_MAX_PIDS],
            )
            self._builder.set_scope(new, at_ns, seed)

    @property
    def kernel_mask(self) -> frozenset[int]:
        return self.plan.kernel.capture

    @property
    def delivered(self) -> frozenset[int]:
        return self.plan.kernel.delivered


def _newly_named(new: Region, old: Region) -> list[int]:
    """Processes a region names that the old one did not cover for sure."""
    if (None, None) in old.parts:
        return []
    covered: set[int] = set()
    for pids, cgroups in old.parts:
        if pids is not None and cgroups is None:
            covered |= pids
    return sorted(pid for pids, _ in new.parts if pids is not None for pid in pids - covered)
