"""Requests are decoded by the handlers, not by grpc: bytes that are not the
method's message (truncated, garbage, invalid UTF-8, another message) get
INVALID_ARGUMENT with a short reason, instead of grpc's UNKNOWN and a
traceback in the log for each."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message

M = TypeVar("M", bound=Message)
R = TypeVar("R")
Context = grpc.aio.ServicerContext[Any, Any]
# The reason the protobuf library gives is short; keep it so.
REASON_CHARS = 120


def decoded(
    message: type[M],
) -> Callable[
    [Callable[[Any, M, Context], Awaitable[R]]], Callable[[Any, bytes, Context], Awaitable[R]]
]:
    """Decorate a handler method to take the request's bytes and decode them
    as `message` first."""

    def wrap(
        handler: Callable[[Any, M, Context], Awaitable[R]],
    ) -> Callable[[Any, bytes, Context], Awaitable[R]]:
        @functools.wraps(handler)
        async def decode_then_handle(self: Any, data: bytes, context: Context) -> R:
            try:
                request = message.FromString(data)
            except (DecodeError, ValueError) as error:
                # "Error parsing message with type '...': Wire format was corrupt"
                reason = str(error).rpartition(": ")[2][:REASON_CHARS] or "it does not decode"
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"the request is not a valid {message.DESCRIPTOR.full_name}: {reason}",
                )
            return await handler(self, request, context)

        return decode_then_handle

    return wrap
