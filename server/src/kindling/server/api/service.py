"""The kindling.probe.v1.ProbeService handlers.

Subscribe streams responses the pipeline already serialized (bytes), so the
handlers are registered with an identity serializer rather than through the
generated servicer base class.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from google.protobuf import timestamp_pb2

from kindling.probe.v1 import probe_pb2
from kindling.server import __version__
from kindling.server.api.authorization import current_caller
from kindling.server.api.decoding import Context, decoded
from kindling.server.api.host_facts import HostFacts
from kindling.server.api.limits import request_limits
from kindling.server.api.requests import batching, compile_request, same_stream, stream_options
from kindling.server.capture import (
    CaptureControl,
    ConfigError,
    Configuration,
    KernelFiltersRequest,
    StaleGenerationError,
)
from kindling.server.catalog import AttrType, Catalog
from kindling.server.drivers.base import Driver, KernelFilter
from kindling.server.pipeline.encode.framing import Envelope
from kindling.server.pipeline.fanout.broker import Broker
from kindling.server.pipeline.fanout.budget import MemoryBudget
from kindling.server.pipeline.fanout.filters import FilterError
from kindling.server.pipeline.fanout.options import QueueLimits
from kindling.server.pipeline.fanout.subscription import Reader, Subscription

log = logging.getLogger(__name__)
R = TypeVar("R")

SERVICE_NAME = probe_pb2.DESCRIPTOR.services_by_name["ProbeService"].full_name
CONFIGURE_METHOD = f"/{SERVICE_NAME}/Configure"
CONTRACT_VERSIONS = ("kindling.event.v1", "kindling.probe.v1")
OVERFLOWED = (
    "the stream's queue was full: the subscriber read too slowly, and the stream asked to be "
    "disconnected then (overflow: OVERFLOW_POLICY_DISCONNECT)"
)

_ATTR_TYPES = {
    AttrType.INT32: probe_pb2.ATTRIBUTE_TYPE_INT32,
    AttrType.UINT32: probe_pb2.ATTRIBUTE_TYPE_UINT32,
    AttrType.INT64: probe_pb2.ATTRIBUTE_TYPE_INT64,
    AttrType.UINT64: probe_pb2.ATTRIBUTE_TYPE_UINT64,
    AttrType.BOOL: probe_pb2.ATTRIBUTE_TYPE_BOOL,
    AttrType.STRING: probe_pb2.ATTRIBUTE_TYPE_STRING,
    AttrType.STRING_LIST: probe_pb2.ATTRIBUTE_TYPE_STRING_LIST,
}


def _payload_mode(event_id: int, kernel: KernelFilter) -> probe_pb2.PayloadMode.ValueType:
    if event_id in kernel.payload_any_fd:
        return probe_pb2.PAYLOAD_MODE_ALL
    if event_id in kernel.payload:
        return probe_pb2.PAYLOAD_MODE_SOCKETS
    return probe_pb2.PAYLOAD_MODE_UNSPECIFIED


def _kernel_filters(config: Configuration) -> probe_pb2.KernelFilters:
    filters = config.filters
    return probe_pb2.KernelFilters(
        deny_pids=sorted(filters.deny_pids),
        deny_comms=sorted(c.decode(errors="replace") for c in filters.deny_comms),
        drop_failed_io=filters.drop_failed_io,
    )


def _batching(config: Configuration) -> probe_pb2.Batching:
    events, delay = config.batching
    batched = probe_pb2.Batching(max_events=events)
    batched.max_delay.FromNanoseconds(round(delay * 1e9))
    return batched


def _some(names: list[str], most: int = 12) -> str:
    """Event names for a log line: all of a few, the count of many."""
    if len(names) > most:
        return f"{len(names)} events ({', '.join(names[:most])}, ...)"
    return ", ".join(names) or "no events"


def _named(subscription: Subscription) -> str:
    """A stream as the log shows it: #7 (pid 4242 collector, uid 1000)."""
    if subscription.caller:
        return f"{subscription.peer} ({subscription.caller})"
    return subscription.peer


def boot_timestamp(boot: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=boot // 1_000_000_000, nanos=boot % 1_000_000_000)


class ProbeService:
    def __init__(
        self,
        *,
        catalog: Catalog,
        driver: Driver,
        broker: Broker,
        capture: CaptureControl,
        node_name: str,
        limits: QueueLimits,
        budget: MemoryBudget,
        max_batch_events: int,
        max_subscribers: int = 4096,
        clock: Callable[[], float],
    ) -> None:
        self._catalog = catalog
        self._driver = driver
        self._broker = broker
        self._capture = capture
        self._node_name = node_name
        self._limits = limits
        self._budget = budget
        self.max_subscribers = max_subscribers
        # Told each call's method and final status code (metrics).
        self.on_rpc: Callable[[str, str], None] | None = None
        self._max_batch = max_batch_events
        # The requests resumable streams started with, and the streams
        # waiting for their client (with their expiry).
        self._origins: dict[str, probe_pb2.SubscribeRequest] = {}
        self._waiting: dict[str, asyncio.TimerHandle] = {}
        self._host = HostFacts(driver)
        self._envelope = Envelope(node_name, clock, driver.boot_time_ns)
        self._subscriber_ids = itertools.count(1)

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Subscribe": grpc.unary_stream_rpc_method_handler(
                    self._counted("Subscribe", self.subscribe),
                    request_deserializer=None,  # decoded by the handler
                    response_serializer=None,  # responses arrive serialized
                ),
                "Configure": grpc.unary_unary_rpc_method_handler(
                    self._counted("Configure", self.configure),
                    request_deserializer=None,
                    response_serializer=probe_pb2.ConfigureResponse.SerializeToString,
                ),
                "GetInfo": grpc.unary_unary_rpc_method_handler(
                    self._counted("GetInfo", self.get_info),
                    request_deserializer=None,
                    response_serializer=probe_pb2.GetInfoResponse.SerializeToString,
                ),
                "GetConfig": grpc.unary_unary_rpc_method_handler(
                    self._counted("GetConfig", self.get_config),
                    request_deserializer=None,
                    response_serializer=probe_pb2.GetConfigResponse.SerializeToString,
                ),
            },
        )

    def denied(self, method: str) -> None:
        """A call refused before its handler ran (authorization)."""
        service, _, name = method.rpartition("/")
        if self.on_rpc is not None and service == f"/{SERVICE_NAME}":
            self.on_rpc(name, "PERMISSION_DENIED")

    def _counted(
        self, method: str, handler: Callable[[bytes, Context], Awaitable[R]]
    ) -> Callable[[bytes, Context], Awaitable[R]]:
        """The handler, telling on_rpc how each call ended."""

        async def count(request: bytes, context: Context) -> R:
            code = "OK"
            try:
                return await handler(request, context)
            except asyncio.CancelledError:
                code = "CANCELLED"
                raise
            except BaseException:
                given = context.code()
                code = getattr(given, "name", None) or "UNKNOWN"
                raise
            finally:
                if self.on_rpc is not None:
                    self.on_rpc(method, code)

        return count

    @decoded(probe_pb2.SubscribeRequest)
    async def subscribe(
        self, request: probe_pb2.SubscribeRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> None:
        if request.HasField("resume"):
            subscription = await self._resumed(request, context)
            reader = subscription.attach(request.resume.last_seq)
            log.info(
                "subscriber %s resumed after seq %d", _named(subscription), request.resume.last_seq
            )
        else:
            subscription = await self._started(request, context)
            reader = subscription.attach()
            log.info(
                "subscriber %s joined (%d live)",
                _named(subscription),
                len(self._broker.subscriptions),
            )
        # The reader's interruptions (overflow, a resume elsewhere) must stop
        # it even in a write a stalled client holds up: they cancel this task.
        task = asyncio.current_task()
        assert task is not None
        interrupted = asyncio.ensure_future(reader.interrupted.wait())
        interrupted.add_done_callback(lambda done: done.cancelled() or task.cancel())
        try:
            async with contextlib.aclosing(subscription.read(reader, self._envelope)) as stream:
                async for response in stream:
                    await context.write(response)
        except asyncio.CancelledError:
            if not reader.reason:
                raise  # the client went away, or the service is stopping
            task.uncancel()
        finally:
            interrupted.cancel()
            self._left(subscription, reader)
        if reader.reason == "overflowed":
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                OVERFLOWED + ("; resume the stream to go on" if subscription.resumable else ""),
            )
        if reader.reason == "superseded":
            await context.abort(
                grpc.StatusCode.ABORTED, "the stream was resumed on another connection"
            )

    async def _started(
        self, request: probe_pb2.SubscribeRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> Subscription:
        try:
            selection = compile_request(request, self._catalog)
            options = stream_options(
                request, self._max_batch, self._capture.configuration().batching
            )
        except FilterError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        if len(self._broker.subscriptions) >= self.max_subscribers:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the service has {self.max_subscribers} streams, its most "
                "(kindling-probe serve --max-subscribers)",
            )
        caller = current_caller.get()
        subscription = Subscription(
            selection,
            asyncio.get_running_loop(),
            options,
            self._limits,
            self._budget,
            peer=f"#{next(self._subscriber_ids)}",
            caller=f"pid {caller.pid} {caller.comm()}, uid {caller.uid}" if caller else "",
        )
        if subscription.resumable:
            self._origins[subscription.stream_id] = request
        self._broker.add(subscription)
        return subscription

    async def _resumed(
        self, request: probe_pb2.SubscribeRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> Subscription:
        resume = request.resume
        subscription = self._broker.resumable(resume.stream_id)
        if subscription is None or subscription.closed:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                "resume.stream_id: no resumable stream has this id (its resume window passed, "
                "or the service restarted): start a new stream",
            )
        if not same_stream(request, self._origins[subscription.stream_id]):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "resume: a resumed stream keeps its filters and options; send the request it "
                "started with, or only resume",
            )
        if resume.last_seq > subscription.last_sent_seq():
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"resume.last_seq: {resume.last_seq} is after the stream's last sent event "
                f"({subscription.last_sent_seq()})",
            )
        self._waiting.pop(subscription.stream_id, None)
        return subscription

    def _left(self, subscription: Subscription, reader: Reader) -> None:
        """A reader ended: the stream goes, or a resumable one waits for its
        client for its resume window."""
        if reader.reason == "superseded":
            return
        if subscription.resumable and not subscription.closed:
            stream_id = subscription.stream_id
            expire = asyncio.get_running_loop().call_later(
                subscription.options.resume_window, self._expire, subscription
            )
            previous = self._waiting.pop(stream_id, None)
            if previous is not None:
                previous.cancel()
            self._waiting[stream_id] = expire
            log.info(
                "subscriber %s disconnected; its stream waits %gs to be resumed",
                _named(subscription),
                subscription.options.resume_window,
            )
            return
        self._remove(subscription)

    def _expire(self, subscription: Subscription) -> None:
        self._waiting.pop(subscription.stream_id, None)
        log.info("subscriber %s was not resumed in time", _named(subscription))
        self._remove(subscription)

    def _remove(self, subscription: Subscription) -> None:
        self._broker.remove(subscription)
        self._origins.pop(subscription.stream_id, None)
        stats = subscription.stats
        log.info(
            "subscriber %s left: %d events delivered, %d dropped (queue full), "
            "%d lost in the kernel, %d lost to service errors",
            _named(subscription),
            stats.delivered,
            stats.dropped,
            stats.kernel_lost,
            stats.failed,
        )

    @decoded(probe_pb2.ConfigureRequest)
    async def configure(
        self, request: probe_pb2.ConfigureRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> probe_pb2.ConfigureResponse:
        filters = None
        if request.HasField("kernel_filters"):
            given = request.kernel_filters
            filters = KernelFiltersRequest(
                deny_pids=list(given.deny_pids),
                deny_comms=list(given.deny_comms),
                drop_failed_io=given.drop_failed_io,
            )
        try:
            batched = (
                batching(request.batching, self._max_batch)
                if request.HasField("batching")
                else None
            )
            config = self._capture.configure(
                request.enable_events,
                request.disable_events,
                filters,
                snaplen=request.snaplen if request.HasField("snaplen") else None,
                batching=batched,
                dry_run=request.dry_run,
                expected_generation=(
                    request.expected_generation if request.HasField("expected_generation") else None
                ),
            )
        except StaleGenerationError as error:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        except (ConfigError, FilterError) as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        enabled = self._capture.names(config.enabled)
        caller = current_caller.get()
        log.info(
            "%s by %s (generation %d): capturing %s",
            "configuration checked (dry run)" if request.dry_run else "configured",
            caller.describe() if caller else "an unidentified caller",
            config.generation,
            _some(enabled),
        )
        return probe_pb2.ConfigureResponse(
            enabled_events=enabled,
            kernel_filters=_kernel_filters(config),
            snaplen=config.filters.snaplen,
            generation=config.generation,
            applied=not request.dry_run,
            batching=_batching(config),
        )

    @decoded(probe_pb2.GetConfigRequest)
    async def get_config(
        self, request: probe_pb2.GetConfigRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> probe_pb2.GetConfigResponse:
        config = self._capture.configuration()
        return probe_pb2.GetConfigResponse(
            enabled_events=self._capture.names(config.enabled),
            kernel_filters=_kernel_filters(config),
            snaplen=config.filters.snaplen,
            generation=config.generation,
            batching=_batching(config),
        )

    def _scope(self) -> probe_pb2.KernelScope:
        kernel = self._capture.plan.kernel
        return probe_pb2.KernelScope(
            events=[
                probe_pb2.ScopedEvent(
                    name=spec.name,
                    delivered=spec.id in kernel.delivered,
                    pid_scoped=spec.id in kernel.pid_scoped,
                    cgroup_scoped=spec.id in kernel.cgroup_scoped,
                    drop_failed=spec.id in kernel.drop_failed,
                    payload=_payload_mode(spec.id, kernel),
                )
                for spec in self._catalog.specs
                if spec.id in kernel.capture
            ],
            allowed_pid_count=len(kernel.allow_pids),
            allowed_cgroup_count=len(kernel.allow_cgroups),
            kernel_filters=probe_pb2.KernelFilters(
                deny_pids=sorted(kernel.deny_pids),
                deny_comms=sorted(c.decode(errors="replace") for c in kernel.deny_comms),
                drop_failed_io=self._capture.service_filters.drop_failed_io,
            ),
        )

    @decoded(probe_pb2.GetInfoRequest)
    async def get_info(
        self, request: probe_pb2.GetInfoRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> probe_pb2.GetInfoResponse:
        configured = self._capture.configured
        facts = await self._host.get()
        unavailable = facts.unavailable
        stats = self._driver.stats()
        counters = stats.events
        response = probe_pb2.GetInfoResponse(
            service_version=__version__,
            contract_versions=CONTRACT_VERSIONS,
            node_name=self._node_name,
            boot_time=boot_timestamp(self._driver.boot_time_ns()),
            streams=probe_pb2.StreamsInfo(
                subscribers=len(self._broker.subscriptions),
                queue_events=self._limits.events,
                queue_bytes=self._limits.bytes,
                memory_bytes=self._budget.limit,
                memory_used_bytes=self._budget.used,
                resume_buffer_bytes=self._limits.resume_bytes,
            ),
            limits=request_limits(self.max_subscribers),
            driver=probe_pb2.DriverInfo(
                name=self._driver.name,
                transport=self._driver.transport,
                kernel_release=self._driver.kernel_release(),
                features=[
                    probe_pb2.KernelFeature(name=f.name, available=f.available, detail=f.detail)
                    for f in facts.features
                ],
                attached=self._driver.attached(),
                scope=self._scope(),
                counters=[
                    probe_pb2.KernelCounters(
                        event=spec.name,
                        emitted=counters[spec.id].emitted,
                        filtered=counters[spec.id].filtered,
                        lost=counters[spec.id].lost,
                    )
                    for spec in self._catalog.specs
                    if spec.id in counters
                ],
                snaplen=self._capture.service_filters.snaplen,
                max_snaplen=self._capture.max_snaplen,
                max_batch_events=self._max_batch,
                failure=self._driver.failure,
                lost_by_cpu=stats.lost_by_cpu,
            ),
        )
        for spec in self._catalog.specs:
            response.events.append(
                probe_pb2.EventDescriptor(
                    name=spec.name,
                    source=spec.source,
                    category=spec.category,
                    description=spec.description,
                    enabled=spec.id in configured,
                    fd_context=spec.fd_context,
                    available=spec.id not in unavailable,
                    attributes=[
                        probe_pb2.AttributeDescriptor(
                            key=a.key, type=_ATTR_TYPES[a.type], description=a.description
                        )
                        for a in spec.attributes
                    ],
                )
            )
        return response
