"""Route templating: an HTTP request target becomes a low-cardinality ``http.route``.

Only the path counts (no query, no fragment). Path segments that look like
ids (all digits, hex of 8 or more digits, a UUID) become ``*``; beyond a
limit of distinct routes per service (an executable name and a server
port), further new routes become :data:`OTHER_ROUTE`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from kindling.collector.limits import LabelBudget

__all__ = ["DEFAULT_ROUTE_LIMIT", "OTHER_ROUTE", "RouteTable", "template"]

DEFAULT_ROUTE_LIMIT = 100
OTHER_ROUTE = "_other"

_ID_SEGMENT = re.compile(
    r"[0-9]+|[0-9a-fA-F]{8,}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def _path(target: str) -> str:
    if not target.startswith("/") and "://" in target:
        # The absolute form, sent to proxies: http://host:port/path?query
        return urlsplit(target).path
    for mark in "?#":
        target = target.split(mark, 1)[0]
    return target


def template(target: str) -> str:
    """The route of a request target: "/users/123/orders/deadbeef00?x=1" -> "/users/*/orders/*"."""
    if target == "*":
        return "*"  # OPTIONS * asks about the server itself
    path = _path(target)
    if not path:
        return "/"
    return "/".join("*" if _ID_SEGMENT.fullmatch(part) else part for part in path.split("/"))


class RouteTable:
    """The routes seen per service, at most ``limit`` each."""

    def __init__(self, limit: int = DEFAULT_ROUTE_LIMIT) -> None:
        self._budget: LabelBudget[tuple[str, int]] = LabelBudget(limit, OTHER_ROUTE)

    def route(self, target: str, executable: str, server_port: int) -> str:
        """The ``http.route`` of ``target`` for the service (executable, server port)."""
        return self._budget.admit((executable, server_port), template(target))
