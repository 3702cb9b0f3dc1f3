"""The gRPC server: ProbeService, health and reflection on one unix socket,
every call authorized from its caller's credentials (authorization.py).

Health reports NOT_SERVING until the driver is attached, and again while
the service shuts down.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from kindling.server.api.authorization import Authorization, Policy
from kindling.server.api.callers import CallerLookup
from kindling.server.api.limits import MAX_REQUEST_BYTES, max_concurrent_rpcs, max_connections
from kindling.server.api.listen import (
    PrivateBindPath,
    check_socket_path,
    group_id,
    prepare_socket_path,
)
from kindling.server.api.lock import SocketLock
from kindling.server.api.service import CONFIGURE_METHOD, SERVICE_NAME, ProbeService
from kindling.server.errors import StartupError

log = logging.getLogger(__name__)

HEALTH_SERVICE_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
# Responses are batches; leave room above gRPC's 4 MiB default.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class ApiServer:
    def __init__(
        self,
        service: ProbeService,
        socket_path: Path,
        socket_group: str | None = None,
        admin_group: str | None = None,
        callers: CallerLookup | None = None,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> None:
        self._service = service
        self.socket_path = socket_path
        # The group whose members may connect (mode 0660); root's otherwise.
        self._group = socket_group
        self._gid: int | None = None
        # The group whose members may Configure besides root.
        self._admin_group = admin_group
        self.callers = callers or CallerLookup.for_this_process()
        self._authorization: Authorization | None = None
        # Run after the authorization check (tracing).
        self._interceptors = list(interceptors)
        self._server: grpc.aio.Server | None = None
        self._health = health_aio.HealthServicer()
        self._bind: PrivateBindPath | None = None
        self._lock = SocketLock(socket_path)

    async def start(self) -> None:
        self._gid = group_id(self._group, "--socket-group") if self._group else None
        admin_gid = group_id(self._admin_group, "--admin-group") if self._admin_group else None
        self._authorization = Authorization(
            Policy(
                reader_gid=os.getegid() if self._gid is None else self._gid,
                admin_gid=admin_gid,
                admin_group=self._admin_group,
                service_uid=os.geteuid(),
            ),
            self.callers,
            configure_methods=frozenset({CONFIGURE_METHOD}),
            on_denied=self._service.denied,
        )
        check_socket_path(self.socket_path)
        self._lock.acquire()
        try:
            await self._listen()
            await self._confirm_callers()
        except BaseException:
            self._lock.release()
            raise

    async def _confirm_callers(self) -> None:
        """Call the socket once from this process: if the call is not seen
        as this process's, no caller can be told apart."""
        if self.callers.available:
            async with grpc.aio.insecure_channel(f"unix:{self.socket_path}") as channel:
                check = channel.unary_unary(
                    f"/{HEALTH_SERVICE_NAME}/Check",
                    request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                    response_deserializer=health_pb2.HealthCheckResponse.FromString,
                )
                await check(health_pb2.HealthCheckRequest(), timeout=10)
            self.callers.confirm()
        if not self.callers.available:
            log.warning(
                "callers cannot be told apart: %s; Configure is refused to every caller, and "
                "who may read is left to the socket's mode",
                self.callers.reason,
            )

    async def _listen(self) -> None:
        prepare_socket_path(self.socket_path)
        server = grpc.aio.server(
            interceptors=[*filter(None, [self._authorization]), *self._interceptors],
            maximum_concurrent_rpcs=max_concurrent_rpcs(self._service.max_subscribers),
            options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
                (
                    "grpc.max_allowed_incoming_connections",
                    max_connections(self._service.max_subscribers),
                ),
            ],
        )
        server.add_generic_rpc_handlers((self._service.handler(),))
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, HEALTH_SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        await self.set_serving(False)
        self._bind = PrivateBindPath(self.socket_path)
        try:
            server.add_insecure_port(f"unix:{self._bind.path}")
        except RuntimeError as error:
            self._bind.cleanup_dir()
            raise StartupError(
                f"cannot listen on {self.socket_path} ({error}); choose another path with --socket"
            ) from None
        await server.start()
        try:
            self._bind.publish(group=self._gid)
        except StartupError:
            await server.stop(None)
            raise
        self._server = server
        log.info("listening on unix:%s", self.socket_path)

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", SERVICE_NAME):
            await self._health.set(name, status)

    async def stop(self, grace: float) -> None:
        await self._health.enter_graceful_shutdown()
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        if self._bind is not None:
            self._bind.remove_published()
            self._bind = None
        self._lock.release()
