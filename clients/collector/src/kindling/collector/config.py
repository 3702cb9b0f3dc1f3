"""The collector's settings: defaults, a YAML file, then command-line flags.

The file (``--config``) holds any of these keys::

    socket: /run/kindling.sock       # the probe service's socket
    listen: ":9464"                  # the /metrics and /healthz endpoint
    otlp:
      endpoint: http://localhost:4317  # also export over OTLP/gRPC
      interval_seconds: 10
    limits:
      routes_per_service: 100        # distinct http.route values per service
      dns_names: 100                 # distinct dns.question.name values
      peers_per_service: 1000        # distinct network.peer.address values per service
      tcp_connections: 1000          # distinct connections in the TCP health metrics
      connections: 65536             # connections followed at once
    kubernetes:
      node: NAME                     # watch this node's pods in the Kubernetes API
      pods_file: FILE                # or read pods from a file
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from kindling.collector.http_server import parse_listen
from kindling.collector.metrics import Limits

__all__ = ["DEFAULT_LISTEN", "Config", "ConfigError", "load_config"]

DEFAULT_LISTEN = ":9464"


class ConfigError(Exception):
    """A setting is wrong; the message names it and says why, in one sentence."""


@dataclass(frozen=True)
class Config:
    socket: str | None = None  # None: $KINDLING_SOCKET or /run/kindling.sock
    listen: str = DEFAULT_LISTEN
    otlp_endpoint: str | None = None
    otlp_interval_s: float = 10.0
    limits: Limits = field(default_factory=Limits)
    max_connections: int = 65536
    kubernetes_node: str | None = None
    kubernetes_pods_file: str | None = None

    def with_flags(self, **flags: Any) -> Config:
        """This config with the flags that were given (not None) put over it."""
        given = {key: value for key, value in flags.items() if value is not None}
        limits = self.limits
        if "route_limit" in given:
            limits = replace(limits, routes_per_service=given.pop("route_limit"))
        config = replace(self, limits=limits, **given)
        config.check()
        return config

    def check(self) -> None:
        try:
            parse_listen(self.listen)
        except ValueError as error:
            raise ConfigError(f"listen: {error}") from None
        if self.kubernetes_node and self.kubernetes_pods_file:
            raise ConfigError(
                "kubernetes: give the node (to watch the API) or a pods file, not both"
            )
        if self.limits.routes_per_service < 1:
            raise ConfigError(f"route limit: {self.limits.routes_per_service} is less than 1")


_TOP = {"socket", "listen", "otlp", "limits", "kubernetes"}
_OTLP = {"endpoint", "interval_seconds"}
_LIMITS = {"routes_per_service", "dns_names", "peers_per_service", "tcp_connections", "connections"}
_KUBERNETES = {"node", "pods_file"}


def _section(document: Mapping[str, Any], key: str, allowed: set[str]) -> Mapping[str, Any]:
    value = document.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a mapping, not {type(value).__name__}")
    _only(value, allowed, f"{key}.")
    return value


def _only(document: Mapping[str, Any], allowed: set[str], prefix: str = "") -> None:
    for key in document:
        if key not in allowed:
            raise ConfigError(
                f"{prefix}{key}: unknown setting (expected one of {', '.join(sorted(allowed))})"
            )


def _string(section: Mapping[str, Any], key: str, where: str) -> str | None:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a non-empty string, not {value!r}")
    return value


def _count(section: Mapping[str, Any], key: str, where: str, default: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: expected a whole number of 1 or more, not {value!r}")
    return value


def load_config(path: str) -> Config:
    """The settings of the YAML file at ``path``."""
    try:
        with open(path, encoding="utf-8") as file:
            document = yaml.safe_load(file)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path} is not valid YAML{where}") from None
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path}: expected a mapping of settings, not {type(document).__name__}")
    try:
        return _parse(document)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def _parse(document: Mapping[str, Any]) -> Config:
    _only(document, _TOP)
    otlp = _section(document, "otlp", _OTLP)
    limits = _section(document, "limits", _LIMITS)
    kubernetes = _section(document, "kubernetes", _KUBERNETES)
    interval = otlp.get("interval_seconds", 10.0)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
        raise ConfigError(
            f"otlp.interval_seconds: expected a number of seconds above 0, not {interval!r}"
        )
    defaults = Limits()
    socket = _string(document, "socket", "socket")
    config = Config(
        socket=os.path.expanduser(socket) if socket else None,
        listen=_string(document, "listen", "listen") or DEFAULT_LISTEN,
        otlp_endpoint=_string(otlp, "endpoint", "otlp.endpoint"),
        otlp_interval_s=float(interval),
        limits=Limits(
            routes_per_service=_count(
                limits, "routes_per_service", "limits.routes_per_service",
                defaults.routes_per_service,
            ),
            dns_names=_count(limits, "dns_names", "limits.dns_names", defaults.dns_names),
            peers_per_service=_count(
                limits, "peers_per_service", "limits.peers_per_service",
                defaults.peers_per_service,
            ),
            tcp_connections=_count(
                limits, "tcp_connections", "limits.tcp_connections", defaults.tcp_connections
            ),
        ),
        max_connections=_count(limits, "connections", "limits.connections", 65536),
        kubernetes_node=_string(kubernetes, "node", "kubernetes.node"),
        kubernetes_pods_file=_string(kubernetes, "pods_file", "kubernetes.pods_file"),
    )  # fmt: skip
    config.check()
    return config
