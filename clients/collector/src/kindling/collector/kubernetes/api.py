"""Pods from the Kubernetes API: a list, then a watch, of this node's pods only.

Every request carries the field selector ``spec.nodeName=<node>``, so the
API server sends each collector the pods of its own node and nothing else:
one collector per node never costs the API server a cluster-wide list or
watch per node. The watch resumes from the last resource version it saw and
lists again only when the API server says that version is gone (410).
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.client import HTTPResponse
from pathlib import Path
from typing import Any

from kindling.collector.kubernetes.pods import PodInfo, container_ids, pod_info

__all__ = ["ApiServer", "KubernetesError", "NodePods"]

log = logging.getLogger("kindling.collector.kubernetes")

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_GONE = 410


class KubernetesError(Exception):
    """The API cannot be reached or used; the message says why, in one sentence."""


class _ExpiredError(Exception):
    """The watch's resource version is too old: list again."""


@dataclass(frozen=True)
class ApiServer:
    """Where the API is and how to authenticate to it."""

    url: str
    token: str | None = None
    ssl_context: ssl.SSLContext | None = None

    @classmethod
    def in_cluster(cls, account: Path = SERVICE_ACCOUNT) -> ApiServer:
        """The API server of the cluster this pod runs in, with its service account's token."""
        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise KubernetesError(
                "not running in a Kubernetes pod ($KUBERNETES_SERVICE_HOST is not set)"
            )
        try:
            token = (account / "token").read_text().strip()
            context = ssl.create_default_context(cafile=str(account / "ca.crt"))
        except OSError as error:
            raise KubernetesError(
                f"cannot read the service account in {account}: {error.strerror}"
            ) from error
        if ":" in host:
            host = f"[{host}]"
        return cls(f"https://{host}:{port}", token, context)

    def get(self, path: str, query: Mapping[str, str], timeout: float) -> HTTPResponse:
        url = f"{self.url}{path}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        response = urllib.request.urlopen(request, timeout=timeout, context=self.ssl_context)
        assert isinstance(response, HTTPResponse)
        return response


class NodePods:
    """A :class:`~kindling.collector.kubernetes.PodDirectory` kept up to date
    by a background thread that lists and watches the node's pods."""

    def __init__(
        self,
        node: str,
        api: ApiServer,
        *,
        watch_seconds: int = 300,
        retry_seconds: float = 2.0,
    ) -> None:
        if not node:
            raise KubernetesError("the node name is empty")
        self.node = node
        self._api = api
        self._watch_seconds = watch_seconds
        self._retry_seconds = retry_seconds
        self._selector = {"fieldSelector": f"spec.nodeName={node}"}
        self._by_container: dict[str, PodInfo] = {}
        self._containers_of: dict[str, list[str]] = {}  # pod uid -> short ids
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        #: Set once the first list is in.
        self.synced = threading.Event()
        self._response: HTTPResponse | None = None
        self._thread = threading.Thread(target=self._run, name="kubernetes-pods", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stopped.set()
        response = self._response
        if response is not None:
            response.close()
        self._thread.join(timeout=5)

    def pod_for(self, container_id: str) -> PodInfo | None:
        return self._by_container.get(container_id[:12])

    def __len__(self) -> int:
        return len(self._containers_of)

    def _run(self) -> None:
        version: str | None = None
        while not self._stopped.is_set():
            try:
                if version is None:
                    version = self._list()
                version = self._watch(version)
            except _ExpiredError:
                version = None
            except Exception as error:  # the watcher must outlive any failure
                if self._stopped.is_set():
                    return  # close() cut the response it was reading
                log.warning(
                    "kubernetes: %s; trying again in %gs", _reason(error), self._retry_seconds
                )
                version = None
                self._stopped.wait(self._retry_seconds)

    def _list(self) -> str:
        pods: list[Mapping[str, Any]] = []
        query = dict(self._selector, limit="500")
        while True:
            with self._api.get("/api/v1/pods", query, timeout=30) as response:
                page = json.load(response)
            pods.extend(page.get("items") or ())
            metadata = page.get("metadata") or {}
            if not metadata.get("continue"):
                break
            query["continue"] = metadata["continue"]
        with self._lock:
            self._by_container.clear()
            self._containers_of.clear()
            for pod in pods:
                self._put(pod)
        self.synced.set()
        log.info("kubernetes: %d pods on node %s", len(pods), self.node)
        return str(metadata.get("resourceVersion", ""))

    def _watch(self, version: str) -> str:
        query = dict(
            self._selector,
            watch="true",
            resourceVersion=version,
            allowWatchBookmarks="true",
            timeoutSeconds=str(self._watch_seconds),
        )
        with self._api.get("/api/v1/pods", query, timeout=self._watch_seconds + 30) as response:
            self._response = response
            try:
                for change in _lines(response):
                    version = self._apply(change) or version
            finally:
                self._response = None
        return version

    def _apply(self, change: Mapping[str, Any]) -> str | None:
        kind = change.get("type")
        pod = change.get("object") or {}
        if kind == "ERROR":
            if pod.get("code") == _GONE:
                raise _ExpiredError
            raise KubernetesError(f"the watch failed: {pod.get('message', 'no reason given')}")
        with self._lock:
            if kind in ("ADDED", "MODIFIED"):
                self._put(pod)
            elif kind == "DELETED":
                self._remove(str((pod.get("metadata") or {}).get("uid", "")))
        version = (pod.get("metadata") or {}).get("resourceVersion")
        return str(version) if version else None

    def _put(self, pod: Mapping[str, Any]) -> None:
        info = pod_info(pod)
        self._remove(info.uid)
        ids = list(container_ids(pod))
        self._containers_of[info.uid] = ids
        for short_id in ids:
            self._by_container[short_id] = info

    def _remove(self, uid: str) -> None:
        for short_id in self._containers_of.pop(uid, ()):
            self._by_container.pop(short_id, None)


def _lines(response: HTTPResponse) -> Iterator[Mapping[str, Any]]:
    for line in response:
        if line.strip():
            change = json.loads(line)
            if isinstance(change, Mapping):
                yield change


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"the API server answered {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return f"cannot reach the API server ({error.reason})"
    return str(error) or type(error).__name__
