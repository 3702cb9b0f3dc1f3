"""The composition root: driver -> pipeline -> API, and the service's life cycle."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from kindling.server import __version__
from kindling.server.api.server import ApiServer
from kindling.server.api.service import ProbeService
from kindling.server.capture import CaptureControl, ConfigError, KernelFiltersRequest
from kindling.server.catalog import CATALOG, Catalog
from kindling.server.config import ServeConfig
from kindling.server.drivers.base import Driver, RecordBatch
from kindling.server.drivers.replay import ReplayDriver
from kindling.server.errors import StartupError
from kindling.server.observe.metrics import ServiceMetrics
from kindling.server.observe.tracing import Tracing
from kindling.server.pipeline.builder import EventBuilder, warm_up
from kindling.server.pipeline.encode import native
from kindling.server.pipeline.encode.batch import EventBatch
from kindling.server.pipeline.fanout.broker import Broker
from kindling.server.pipeline.fanout.budget import MemoryBudget
from kindling.server.pipeline.fanout.options import QueueLimits

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 1.0
# Configure's field names in errors, as the serve options spell them.
_START_OPTIONS = (
    ("disable_events", "--disable-events"),
    ("kernel_filters.deny_pids", "--deny-pids"),
    ("kernel_filters.deny_comms", "--deny-comms"),
)
STATS_INTERVAL_SECONDS = 60.0


def default_driver(config: ServeConfig, catalog: Catalog) -> Driver:
    if config.replay is not None:
        return ReplayDriver(catalog, config.replay, speed=config.replay_speed)
    from kindling.server.drivers.bcc.driver import BccDriver  # noqa: PLC0415 (imports bcc lazily)

    return BccDriver(
        catalog,
        transport=config.transport,
        perf_buffer_pages=config.perf_buffer_pages,
        ring_buffer_pages=config.ring_buffer_pages,
        poll_interval_ms=config.poll_interval_ms,
        data_capacity=config.max_snaplen,
    )


class ProbeApp:
    """One running service. run() returns when a signal or stop() ends it."""

    def __init__(self, config: ServeConfig, driver: Driver, catalog: Catalog = CATALOG) -> None:
        self.config = config
        self.catalog = catalog
        self.driver = driver
        self.builder = EventBuilder(catalog)
        self.broker = Broker()
        self.capture = CaptureControl(
            catalog,
            driver,
            self.builder,
            self.broker,
            snaplen=config.snaplen,
            max_snaplen=config.max_snaplen,
            batching=(config.max_batch_events, 0.0),
        )
        self._start_configuration(config)
        self.broker.on_change = self.capture.refresh
        self.budget = MemoryBudget(config.queue_memory_mb << 20)
        self.service = ProbeService(
            catalog=catalog,
            driver=driver,
            broker=self.broker,
            capture=self.capture,
            node_name=config.node_name,
            limits=QueueLimits(
                events=config.subscriber_queue_events,
                bytes=config.subscriber_queue_mb << 20,
                resume_bytes=config.resume_buffer_mb << 20,
            ),
            budget=self.budget,
            max_subscribers=config.max_subscribers,
            max_batch_events=config.max_batch_events,
            clock=time.monotonic,
        )
        self.tracing = (
            Tracing(config.otlp_endpoint, config.node_name, __version__)
            if config.otlp_endpoint
            else None
        )
        self.api = ApiServer(
            self.service,
            config.socket,
            config.socket_group,
            admin_group=config.admin_group,
            interceptors=[self.tracing.interceptor()] if self.tracing else (),
        )
        self.metrics = (
            ServiceMetrics(driver, self.broker, self.budget, catalog)
            if config.metrics_address
            else None
        )
        if self.metrics is not None:
            self.service.on_rpc = self.metrics.rpc
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failed: asyncio.Future[None] | None = None

    def _start_configuration(self, config: ServeConfig) -> None:
        """Apply the settings that Configure can change later."""
        filters = None
        if config.deny_pids or config.deny_comms or config.drop_failed_io:
            filters = KernelFiltersRequest(
                deny_pids=list(config.deny_pids),
                deny_comms=list(config.deny_comms),
                drop_failed_io=config.drop_failed_io,
            )
        try:
            self.capture.configure(
                [],
                list(config.disable_events),
                filters,
                batching=(config.max_batch_events, config.batch_delay_ms / 1000),
                numbered=False,
            )
        except ConfigError as error:
            # The request's field names, as the options spell them.
            message = str(error)
            for field, option in _START_OPTIONS:
                message = message.replace(field, option)
            raise StartupError(message) from None

    def _on_batch(self, batch: RecordBatch | EventBatch) -> None:
        # Runs on the driver's thread: enrich, encode and fan out.
        if isinstance(batch, EventBatch):  # a replay: the events are built
            self.broker.publish(batch)
            return
        began = time.perf_counter()
        try:
            events = self.builder.build(batch)
        except Exception:
            # A bug must not end capture, nor lose events silently: log it and
            # tell every subscriber what it lost.
            log.exception("failed to process %d records; reporting them lost", len(batch))
            events = EventBatch.losses_only(batch.kernel_lost, failed=len(batch))
        self.broker.publish(events)
        if self.metrics is not None:
            self.metrics.batch(len(batch), time.perf_counter() - began, batch.drain_seconds)

    def _on_driver_failure(self, reason: str) -> None:
        # On the driver's thread: health turns NOT_SERVING on the loop.
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._driver_failed, reason)

    def _driver_failed(self, reason: str) -> None:
        log.error("capture stopped (%s); health reports NOT_SERVING", reason)
        self._failed = asyncio.ensure_future(self.api.set_serving(False))

    def stop(self) -> None:
        self._stop.set()

    async def _log_stats(self) -> None:
        """A line a minute, so operators see throughput and loss in the log."""
        last = self.driver.stats().records
        while True:
            await asyncio.sleep(STATS_INTERVAL_SECONDS)
            stats = self.driver.stats()
            log.info(
                "%d records in the last %.0fs (%.0f/s); since start: %d lost in the kernel, "
                "%d delivered out of order; %d subscribers",
                stats.records - last,
                STATS_INTERVAL_SECONDS,
                (stats.records - last) / STATS_INTERVAL_SECONDS,
                stats.kernel_lost,
                stats.late_records,
                len(self.broker.subscriptions),
            )
            last = stats.records

    async def run(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.stop)
        self.capture.refresh()
        # Fail before taking the socket when the driver cannot run at all.
        await loop.run_in_executor(None, self.driver.preflight)
        await loop.run_in_executor(None, warm_up, self.catalog)
        await self.api.start()
        stop_metrics = None
        driver_started = False
        try:
            if self.metrics is not None and self.config.metrics_address:
                stop_metrics = self.metrics.serve(self.config.metrics_address)
            # Compiling and attaching takes a moment; keep the loop responsive.
            await loop.run_in_executor(
                None, self.driver.start, self._on_batch, self._on_driver_failure
            )
            driver_started = True
            if not self.driver.failure:  # it may have failed at once
                await self.api.set_serving(True)
            log.info(
                "capturing with %s over %s; serving on %s",
                self.driver.name,
                self.driver.transport,
                self.config.socket,
            )
            if native.gather is None:
                log.warning(
                    "the compiled gather (%s) is not built: events are encoded with numpy "
                    "alone, which costs more CPU; `make setup` builds it",
                    native.LIBRARY,
                )
            stats_task = asyncio.create_task(self._log_stats())
            await self._stop.wait()
            stats_task.cancel()
            log.info("shutting down")
        finally:
            await self.api.set_serving(False)
            if driver_started:
                await loop.run_in_executor(None, self.driver.stop)
            self.broker.close_all()
            await self.api.stop(SHUTDOWN_GRACE_SECONDS)
            if stop_metrics is not None:
                stop_metrics()
            if self.tracing is not None:
                await loop.run_in_executor(None, self.tracing.shutdown)
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
