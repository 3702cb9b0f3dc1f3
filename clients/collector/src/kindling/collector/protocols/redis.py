"""Redis RESP (versions 2 and 3): commands and replies.

A client sends each command as an array of bulk strings
(``*2\\r\\n$3\\r\\nGET\\r\\n$1\\r\\nk\\r\\n``) or, typed by hand, as an
inline line (``PING\\r\\n``); a server answers each with one reply whose first
byte gives its type. Pipelined commands and their replies share a read or a
write, so both parsers return every message that starts in the payload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "INLINE_COMMANDS",
    "RedisCommand",
    "RedisReply",
    "parse_commands",
    "parse_replies",
]

#: Inline commands are only believed for these names, typed upper-case:
#: other line protocols (memcached's "get key") would pass for Redis otherwise.
INLINE_COMMANDS = frozenset(
    {
        "PING", "ECHO", "GET", "SET", "DEL", "EXISTS", "INCR", "DECR", "KEYS",
        "INFO", "QUIT", "AUTH", "SELECT", "HELLO", "MGET", "MSET", "EXPIRE", "TTL",
    }
)  # fmt: skip

_COMMAND_NAME = re.compile(rb"[A-Za-z][A-Za-z_|.-]{0,31}\Z")
_INLINE = re.compile(rb"([A-Z]{2,16})(?:[ \t][^\r\n]*)?\r?\n")
# Reply types whose value is the rest of one line.
_LINE_TYPES = frozenset(b"+-:_,#(")
# Reply types with a length, then that many bytes and CRLF.
_BLOB_TYPES = frozenset(b"$!=")
# Aggregates: that many elements (a map or attribute: twice as many).
_AGGREGATE_TYPES = frozenset(b"*~>%|")
REPLY_FIRST_BYTES = frozenset(_LINE_TYPES | _BLOB_TYPES | _AGGREGATE_TYPES)
# Nesting deeper than this is not a reply worth parsing.
_MAX_DEPTH = 16


@dataclass(frozen=True)
class RedisCommand:
    name: str  # upper-case


@dataclass(frozen=True)
class RedisReply:
    error: bool  # an error reply (- or !)


class _CutError(Exception):
    """The payload ends inside the message."""


class _MalformedError(Exception):
    """The bytes are not RESP."""


def _line(payload: bytes, at: int) -> tuple[bytes, int]:
    end = payload.find(b"\r\n", at)
    if end < 0:
        raise _CutError
    return payload[at:end], end + 2


def _length(text: bytes, low: int) -> int:
    if not text or not (text.isdigit() or (text[:1] == b"-" and text[1:].isdigit())):
        raise _MalformedError
    value = int(text)
    if value < low:
        raise _MalformedError
    return value


def _command(payload: bytes, at: int) -> tuple[str, int]:
    """One array command at ``at``: its name, and where the next message starts.
    Raises _CutError with the name known (``args[0]``) when the payload ends inside."""
    header, at = _line(payload, at + 1)
    count = _length(header, 1)
    name = ""
    for index in range(count):
        if payload[at : at + 1] != b"$":
            if at >= len(payload):
                raise _CutError(name)
            raise _MalformedError
        try:
            size_text, at = _line(payload, at + 1)
        except _CutError:
            raise _CutError(name) from None
        size = _length(size_text, 0)
        if index == 0:
            word = payload[at : at + size]
            if len(word) < size:
                raise _CutError(name)
            if not _COMMAND_NAME.match(word):
                raise _MalformedError
            name = word.decode("ascii").upper()
        if len(payload) < at + size + 2:
            raise _CutError(name)
        if payload[at + size : at + size + 2] != b"\r\n":
            raise _MalformedError
        at += size + 2
    return name, at


def parse_commands(payload: bytes) -> list[RedisCommand] | None:
    """The commands that start in ``payload``, or None when it does not start with one.

    A command cut by the end of the payload counts once its name is seen.
    Raises ValueError when the payload starts like an array command but is
    malformed.
    """
    if payload[:1] != b"*":
        match = _INLINE.match(payload)
        if match is None or match.group(1).decode() not in INLINE_COMMANDS:
            return None
        if b" HTTP/" in match.group(0):
            return None  # "GET /path HTTP/1.1" is an HTTP request line
        return [RedisCommand(match.group(1).decode())]
    commands: list[RedisCommand] = []
    at = 0
    while at < len(payload):
        if payload[at : at + 1] != b"*":
            break  # what follows is not a command's start: stop here
        try:
            name, at = _command(payload, at)
        except _CutError as cut:
            if cut.args and cut.args[0]:
                commands.append(RedisCommand(cut.args[0]))
            break
        except _MalformedError:
            if commands:
                break
            raise ValueError("not a RESP array of bulk strings") from None
        commands.append(RedisCommand(name))
    return commands or None


def _reply(payload: bytes, at: int, depth: int) -> int:
    """Where the reply at ``at`` ends (after its CRLF)."""
    if depth > _MAX_DEPTH:
        raise _MalformedError
    if at >= len(payload):
        raise _CutError
    kind = payload[at]
    if kind in _LINE_TYPES:
        _, at = _line(payload, at + 1)
        return at
    if kind in _BLOB_TYPES:
        size_text, at = _line(payload, at + 1)
        size = _length(size_text, -1)
        if size < 0:
            return at  # a RESP2 null
        if len(payload) < at + size + 2:
            raise _CutError
        return at + size + 2
    if kind in _AGGREGATE_TYPES:
        count_text, at = _line(payload, at + 1)
        count = _length(count_text, -1)
        if kind in b"%|":
            count *= 2
        for _ in range(max(count, 0)):
            at = _reply(payload, at, depth + 1)
        if kind == ord("|"):
            return _reply(payload, at, depth + 1)  # an attribute precedes the reply
        return at
    raise _MalformedError


def parse_replies(payload: bytes) -> list[RedisReply] | None:
    """The replies that start in ``payload``, or None when it does not start with one.

    A reply cut by the end of the payload counts as one.
    """
    if not payload or payload[0] not in REPLY_FIRST_BYTES:
        return None
    replies: list[RedisReply] = []
    at = 0
    while at < len(payload) and payload[at] in REPLY_FIRST_BYTES:
        error = payload[at] in b"-!"
        try:
            at = _reply(payload, at, 0)
        except _CutError:
            replies.append(RedisReply(error))
            break
        except _MalformedError:
            break
        replies.append(RedisReply(error))
    return replies or None
