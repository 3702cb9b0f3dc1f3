"""Pairing requests with responses on one connection, per protocol.

A connection's pairing sees the payloads that go in the request direction
(what a client writes, what a server reads) and those in the response
direction, with the times the spec gives: a request starts at the entry of
the call that moved its first bytes, and ends at the exit of the call that
moved its response's first bytes. HTTP/1.x and Redis answer in order, so
their requests wait in a FIFO queue (pipelining included); DNS answers by
id; anything else is one request at a time: the first bytes one way after
the other way's.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from kindling.collector.protocols import dns, http, redis
from kindling.collector.protocols.detect import DNS, GENERIC, HTTP, REDIS

__all__ = [
    "MAX_PENDING",
    "DnsPairing",
    "Exchange",
    "GenericPairing",
    "HttpPairing",
    "Outcome",
    "Pairing",
    "RedisPairing",
    "pairing_for",
]

#: Requests a connection may have waiting; past it the oldest counts as unmatched.
MAX_PENDING = 256

_Request = TypeVar("_Request")


@dataclass(frozen=True)
class Exchange:
    """A request and its response."""

    protocol: str
    start_ns: int
    end_ns: int
    request: object  # HttpRequest, RedisCommand, DnsMessage or None (generic)
    response: object  # HttpResponse, RedisReply, DnsMessage or None

    @property
    def duration_s(self) -> float:
        return max(self.end_ns - self.start_ns, 0) / 1e9


@dataclass
class Outcome:
    """What one payload did: exchanges completed, requests given up as
    unmatched, and whether it was malformed."""

    exchanges: list[Exchange] = field(default_factory=list)
    unmatched: int = 0
    malformed: bool = False


_NOTHING = Outcome()


@dataclass(frozen=True)
class _Waiting(Generic[_Request]):
    start_ns: int
    request: _Request


class Pairing:
    """The pairing of one connection's protocol."""

    protocol = GENERIC

    def request(self, payload: bytes, cut: bool, start_ns: int) -> Outcome:
        raise NotImplementedError

    def response(self, payload: bytes, cut: bool, end_ns: int) -> Outcome:
        raise NotImplementedError

    def pending(self) -> int:
        """Requests still waiting for their response."""
        raise NotImplementedError

    def clear(self) -> int:
        """Forget the waiting requests (the stream lost events); returns how many."""
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        """The connection stopped speaking this protocol (an HTTP upgrade)."""
        return False


class _Queue(Pairing, Generic[_Request]):
    """Requests answered in order."""

    def __init__(self) -> None:
        self._waiting: deque[_Waiting[_Request]] = deque()

    def _push(self, start_ns: int, requests: list[_Request]) -> Outcome:
        outcome = Outcome()
        for request in requests:
            if len(self._waiting) >= MAX_PENDING:
                self._waiting.popleft()
                outcome.unmatched += 1
            self._waiting.append(_Waiting(start_ns, request))
        return outcome

    def _pop(self, end_ns: int, response: object) -> Exchange | None:
        if not self._waiting:
            return None  # a response to a request sent before we looked
        waiting = self._waiting.popleft()
        return Exchange(self.protocol, waiting.start_ns, end_ns, waiting.request, response)

    def pending(self) -> int:
        return len(self._waiting)

    def clear(self) -> int:
        count = len(self._waiting)
        self._waiting.clear()
        return count


class HttpPairing(_Queue[http.HttpRequest]):
    protocol = HTTP

    def __init__(self) -> None:
        super().__init__()
        self._upgraded = False

    def request(self, payload: bytes, cut: bool, start_ns: int) -> Outcome:
        parsed = http.parse_request(payload, cut)
        if parsed is None:
            return _NOTHING  # the rest of a request (headers, a body)
        return self._push(start_ns, [parsed])

    def response(self, payload: bytes, cut: bool, end_ns: int) -> Outcome:
        parsed = http.parse_response(payload)
        if parsed is None:
            # The rest of a response, unless it claims to start one.
            return Outcome(malformed=True) if http.looks_like_response(payload) else _NOTHING
        if parsed.interim:
            return _NOTHING
        exchange = self._pop(end_ns, parsed)
        if parsed.status == 101:
            self._upgraded = True  # what follows is another protocol
        return Outcome([exchange]) if exchange else _NOTHING

    @property
    def finished(self) -> bool:
        return self._upgraded


class RedisPairing(_Queue[redis.RedisCommand]):
    protocol = REDIS

    def request(self, payload: bytes, cut: bool, start_ns: int) -> Outcome:
        try:
            commands = redis.parse_commands(payload)
        except ValueError:
            return Outcome(malformed=True)
        if commands is None:
            return _NOTHING  # the rest of a long command
        return self._push(start_ns, list(commands))

    def response(self, payload: bytes, cut: bool, end_ns: int) -> Outcome:
        replies = redis.parse_replies(payload)
        if not replies or not self._waiting:
            return _NOTHING
        outcome = Outcome()
        for reply in replies:
            exchange = self._pop(end_ns, reply)
            if exchange is None:
                break
            outcome.exchanges.append(exchange)
        return outcome


class GenericPairing(Pairing):
    """One request at a time: it starts with the first bytes in the request
    direction and ends with the first bytes back."""

    protocol = GENERIC

    def __init__(self) -> None:
        self._start_ns: int | None = None

    def request(self, payload: bytes, cut: bool, start_ns: int) -> Outcome:
        if self._start_ns is None:
            self._start_ns = start_ns
        return _NOTHING

    def response(self, payload: bytes, cut: bool, end_ns: int) -> Outcome:
        if self._start_ns is None:
            return _NOTHING
        exchange = Exchange(GENERIC, self._start_ns, end_ns, None, None)
        self._start_ns = None
        return Outcome([exchange])

    def pending(self) -> int:
        return int(self._start_ns is not None)

    def clear(self) -> int:
        count = self.pending()
        self._start_ns = None
        return count


class DnsPairing(Pairing):
    """Queries answered by id (over TCP, or a UDP socket's datagrams)."""

    protocol = DNS

    def __init__(self, tcp: bool) -> None:
        self._tcp = tcp
        self._waiting: OrderedDict[int, _Waiting[dns.DnsMessage]] = OrderedDict()

    def request(self, payload: bytes, cut: bool, start_ns: int) -> Outcome:
        message = dns.parse_message(payload, self._tcp)
        if message is None or message.response:
            return _NOTHING
        outcome = Outcome()
        if self._waiting.pop(message.id, None) is not None:
            outcome.unmatched += 1  # asked again under the same id: the first went unanswered
        elif len(self._waiting) >= MAX_PENDING:
            self._waiting.popitem(last=False)
            outcome.unmatched += 1
        self._waiting[message.id] = _Waiting(start_ns, message)
        return outcome

    def response(self, payload: bytes, cut: bool, end_ns: int) -> Outcome:
        message = dns.parse_message(payload, self._tcp)
        if message is None or not message.response:
            return _NOTHING
        waiting = self._waiting.pop(message.id, None)
        if waiting is None:
            return _NOTHING
        return Outcome([Exchange(DNS, waiting.start_ns, end_ns, waiting.request, message)])

    def pending(self) -> int:
        return len(self._waiting)

    def clear(self) -> int:
        count = len(self._waiting)
        self._waiting.clear()
        return count


def pairing_for(protocol: str) -> Pairing:
    """A fresh pairing for a TCP connection that speaks ``protocol``."""
    if protocol == HTTP:
        return HttpPairing()
    if protocol == REDIS:
        return RedisPairing()
    if protocol == DNS:
        return DnsPairing(tcp=True)
    return GenericPairing()
