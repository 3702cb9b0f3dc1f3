"""Text from the raw bytes of kernel records: C strings, unix socket names
and IP addresses, as events carry them."""

from __future__ import annotations

import ipaddress

AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10


def c_string(raw: bytes | None) -> str:
    if not raw:
        return ""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def sun_path(raw: bytes | None) -> str:
    """A unix socket path from raw sun_path bytes; abstract names get '@'."""
    if not raw:
        return ""
    if raw[0] == 0:
        return "@" + raw[1:].rstrip(b"\0").decode("utf-8", "replace")
    return c_string(raw)


def ip_text(family: int, raw: bytes) -> str:
    if family == AF_INET:
        return str(ipaddress.IPv4Address(raw[:4]))
    if family == AF_INET6:
        return str(ipaddress.IPv6Address(raw[:16]))
    return ""
