"""Which protocol a connection speaks, from its first request's bytes (the
server port only orders the guesses)."""

from __future__ import annotations

from collections.abc import Callable

from kindling.collector.protocols import dns, http, redis

__all__ = ["DNS", "GENERIC", "HTTP", "PROTOCOLS", "REDIS", "detect_request"]

HTTP = "http"
REDIS = "redis"
DNS = "dns"
GENERIC = "generic"
#: Every value of a ``protocol`` attribute the collector reports.
PROTOCOLS = (HTTP, REDIS, DNS, GENERIC)

_WELL_KNOWN_PORTS = {53: DNS, 6379: REDIS, 80: HTTP, 8080: HTTP}


def _is_http(payload: bytes, cut: bool) -> bool:
    return http.parse_request(payload, cut) is not None


def _is_redis(payload: bytes, cut: bool) -> bool:
    try:
        return redis.parse_commands(payload) is not None
    except ValueError:
        return False


def _is_dns(payload: bytes, cut: bool) -> bool:
    message = dns.parse_message(payload, tcp=True)
    return message is not None and not message.response


_CHECKS: dict[str, Callable[[bytes, bool], bool]] = {HTTP: _is_http, REDIS: _is_redis, DNS: _is_dns}


def detect_request(payload: bytes, cut: bool = False, server_port: int = 0) -> str:
    """The protocol of a TCP connection whose request starts with ``payload``.

    ``cut`` says the payload is shorter than what the call moved. Anything
    that is not HTTP/1.x, RESP or DNS is :data:`GENERIC`.
    """
    order = list(_CHECKS)
    hinted = _WELL_KNOWN_PORTS.get(server_port)
    if hinted is not None:
        order.remove(hinted)
        order.insert(0, hinted)
    for protocol in order:
        if _CHECKS[protocol](payload, cut):
            return protocol
    return GENERIC
