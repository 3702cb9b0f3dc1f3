"""What the probe captures: the union of what subscribers want, limited by
what Configure enabled, pushed down into the kernel's event mask.

Events the thread and fd tables depend on stay captured in the kernel even
when nobody wants them delivered, so context stays right for later events.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from kindling.server.catalog import Catalog
from kindling.server.drivers.base import Driver
from kindling.server.pipeline.broker import Broker
from kindling.server.pipeline.events import EventBuilder


class ConfigError(ValueError):
    """A Configure request is invalid; the message names the offending field."""


class CaptureControl:
    def __init__(
        self, catalog: Catalog, driver: Driver, builder: EventBuilder, broker: Broker
    ) -> None:
        self._catalog = catalog
        self._driver = driver
        self._builder = builder
        self._broker = broker
        self._lock = threading.Lock()
        self._all = frozenset(s.id for s in catalog.specs)
        self._state_ids = frozenset(s.id for s in catalog.specs if s.state_changing)
        self.configured: frozenset[int] = self._all
        self.kernel_mask: frozenset[int] = self._all
        self.delivered: frozenset[int] = self._all

    def configured_names(self) -> list[str]:
        return [s.name for s in self._catalog.specs if s.id in self.configured]

    def _validate(self, names: Sequence[str], field: str) -> set[int]:
        ids = set()
        for i, name in enumerate(names):
            spec = self._catalog.by_name.get(name)
            if spec is None:
                raise ConfigError(
                    f"{field}[{i}]: unknown event name {name!r}; known events are "
                    f"{', '.join(self._catalog.names)}"
                )
            ids.add(spec.id)
        return ids

    def configure(self, enable: Sequence[str], disable: Sequence[str]) -> list[str]:
        """Apply a Configure request, or raise ConfigError and change nothing."""
        enable_ids = self._validate(enable, "enable_events")
        disable_ids = self._validate(disable, "disable_events")
        both = enable_ids & disable_ids
        if both:
            names = ", ".join(self._catalog.by_id[i].name for i in sorted(both))
            raise ConfigError(
                f"enable_events and disable_events both name {names}; name each event once"
            )
        with self._lock:
            self.configured = (self.configured | enable_ids) - disable_ids
        self.refresh()
        return self.configured_names()

    def refresh(self) -> None:
        """Recompute the kernel mask and the delivered set after a change."""
        with self._lock:
            wanted: set[int] = set()
            for subscription in self._broker.subscriptions:
                wanted |= subscription.selection.wanted_event_ids(self._all)
            self.delivered = self.configured & wanted
            self.kernel_mask = self._state_ids | self.delivered
            self._builder.delivered = self.delivered
            self._driver.set_enabled_events(self.kernel_mask)
