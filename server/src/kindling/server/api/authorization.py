"""Per-call authorization from the caller's credentials.

Reading (Subscribe, GetInfo, GetConfig, health, reflection) is for root,
the service's own user and members of the socket's group; changing what
the kernel captures for every collector (Configure) for root, the service's
own user and members of the admin group (--admin-group). The socket's mode
(0660) already keeps everybody else from connecting; the check here holds
even when someone loosens that mode.

When callers cannot be told apart (CallerLookup.available is False), reads
are left to the socket's mode and Configure is refused to everyone.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from kindling.server.api.callers import Caller, CallerLookup
from kindling.server.api.decoding import Context

log = logging.getLogger(__name__)

# The caller of the call being handled, for the handlers' logs.
current_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar(
    "current_caller", default=None
)


@dataclass(frozen=True)
class Policy:
    reader_gid: int  # the socket's group
    admin_gid: int | None
    admin_group: str | None  # as given, for messages
    service_uid: int

    def _trusted(self, caller: Caller) -> bool:
        return caller.uid in (0, self.service_uid)

    def may_read(self, caller: Caller) -> bool:
        return (
            self._trusted(caller) or self.reader_gid in caller.groups or self.may_configure(caller)
        )

    def may_configure(self, caller: Caller) -> bool:
        return self._trusted(caller) or (
            self.admin_gid is not None and self.admin_gid in caller.groups
        )

    def who_may_configure(self) -> str:
        if self.admin_group is None:
            return "root (start the service with --admin-group GROUP to let a group's members)"
        return f"root or members of the group {self.admin_group!r} (--admin-group)"


Check = Callable[[Context], Awaitable[None]]


class _CallContext:
    """The call's context as the handlers behind the check see it: peer() is
    "unix:", gRPC's own form for a unix socket client, not the internal peer
    name, which must not reach logs or traces."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def peer(self) -> str:
        return "unix:"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


if TYPE_CHECKING:  # generic in the stubs only
    Handler = grpc.RpcMethodHandler[Any, Any]


def _guarded(handler: Handler, check: Check) -> Handler:
    """The handler with `check` run before its behaviour."""
    for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
        behaviour = getattr(handler, kind)
        if behaviour is not None:
            break
    else:
        return handler

    if inspect.isasyncgenfunction(behaviour):

        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            await check(context)
            async for response in behaviour(request, _CallContext(context)):
                yield response

        wrapped: Callable[..., Any] = stream
    else:

        async def call(request: Any, context: Context) -> Any:
            await check(context)
            return await behaviour(request, _CallContext(context))

        wrapped = call
    # grpc's handlers are named tuples.
    return handler._replace(**{kind: wrapped})  # type: ignore[attr-defined,no-any-return]


class Authorization(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        policy: Policy,
        lookup: CallerLookup,
        configure_methods: frozenset[str],
        on_denied: Callable[[str], None] | None = None,
    ) -> None:
        self._policy = policy
        self._lookup = lookup
        self._configure = configure_methods
        # Told the full method name of each refused call (metrics).
        self.on_denied = on_denied

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None:
            return None  # grpc answers UNIMPLEMENTED
        method: str = details.method

        async def check(context: Context) -> None:
            await self._check(method, context)

        return _guarded(handler, check)

    async def _check(self, method: str, context: Context) -> None:
        caller = self._lookup.identify(context.peer())
        current_caller.set(caller)
        changing = method in self._configure
        if caller is None:
            if not changing:
                return  # the socket's mode decided
            await self._deny(
                method,
                context,
                "the service cannot tell who is calling "
                f"({self._lookup.reason or 'the connection is gone'}), so it lets nobody "
                "Configure",
            )
            return
        if changing and not self._policy.may_configure(caller):
            log.warning("refused %s from %s: not allowed to configure", method, caller.describe())
            await self._deny(
                method,
                context,
                "Configure changes what the kernel captures for every collector: it is for "
                f"{self._policy.who_may_configure()}; uid {caller.uid} is neither",
            )
        elif not changing and not self._policy.may_read(caller):
            log.warning("refused %s from %s: not in the socket's group", method, caller.describe())
            await self._deny(
                method,
                context,
                f"calls are for root and members of the socket's group (gid "
                f"{self._policy.reader_gid}); uid {caller.uid} is neither",
            )

    async def _deny(self, method: str, context: Context, message: str) -> None:
        if self.on_denied is not None:
            self.on_denied(method)
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, message)
