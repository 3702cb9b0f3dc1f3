"""Kubernetes enrichment: pods from a file, and from the API's list and watch
of one node's pods (a local HTTP server stands in for the API server)."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kindling.collector.kubernetes.api import ApiServer, KubernetesError, NodePods
from kindling.collector.kubernetes.static import PodsFileError, StaticPods

ID_WEB = "a1b2c3d4e5f6" + "0" * 52
ID_DB = "0123456789ab" + "f" * 52


def pod(name: str, uid: str, container: str, owner: tuple[str, str] | None, **labels: str) -> Any:
    metadata: dict[str, Any] = {"name": name, "namespace": "shop", "uid": uid, "labels": labels}
    if owner is not None:
        metadata["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {
        "metadata": metadata,
        "status": {
            "containerStatuses": [{"name": "c", "containerID": f"containerd://{container}"}]
        },
    }


WEB = pod(
    "web-7d4b9-xk2p", "u1", ID_WEB, ("ReplicaSet", "web-7d4b9"), **{"pod-template-hash": "7d4b9"}
)
DB = pod("db-0", "u2", ID_DB, ("StatefulSet", "db"))


def test_a_pods_file(tmp_path: Path) -> None:
    path = tmp_path / "pods.json"
    path.write_text(json.dumps({"kind": "PodList", "items": [WEB, DB]}))
    pods = StaticPods(path)
    web = pods.pod_for(ID_WEB[:12])
    assert web is not None
    assert web.attributes() == {
        "k8s.namespace.name": "shop",
        "k8s.pod.name": "web-7d4b9-xk2p",
        "k8s.deployment.name": "web",
    }
    db = pods.pod_for(ID_DB[:12])
    assert db is not None and db.attributes()["k8s.statefulset.name"] == "db"
    assert pods.pod_for("ffffffffffff") is None


def test_a_pods_file_in_yaml(tmp_path: Path) -> None:
    path = tmp_path / "pods.yaml"
    path.write_text(
        "- metadata: {name: lone, namespace: default, uid: u9}\n"
        f"  status: {{containerStatuses: [{{containerID: 'docker://{ID_DB}'}}]}}\n"
    )
    lone = StaticPods(path).pod_for(ID_DB[:12])
    assert lone is not None
    assert lone.attributes() == {"k8s.namespace.name": "default", "k8s.pod.name": "lone"}


@pytest.mark.parametrize(
    ("text", "message"),
    [("{}", "expected a PodList"), ("[1, 2]", "expected a PodList"), (":\n- [", "neither JSON")],
)
def test_a_bad_pods_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "pods"
    path.write_text(text)
    with pytest.raises(PodsFileError, match=message):
        StaticPods(path)
    with pytest.raises(PodsFileError, match="No such file"):
        StaticPods(tmp_path / "missing")


class FakeApi(BaseHTTPRequestHandler):
    """GET /api/v1/pods: a list, then a watch that adds, changes and deletes pods."""

    requests: list[dict[str, list[str]]]
    watch_lines: list[dict[str, Any]]

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        type(self).requests.append(query)
        assert url.path == "/api/v1/pods"
        assert self.headers["Authorization"] == "Bearer t0ken"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        if "watch" not in query:
            page = {"kind": "PodList", "metadata": {"resourceVersion": "100"}, "items": [WEB]}
            self.wfile.write(json.dumps(page).encode())
            return
        if query["resourceVersion"] == ["100"]:
            for line in type(self).watch_lines:
                self.wfile.write(json.dumps(line).encode() + b"\n")
                self.wfile.flush()
        else:
            time.sleep(0.2)  # a watch with nothing new, until it times out

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[tuple[ApiServer, type[FakeApi]]]:
    handler = type("Handler", (FakeApi,), {"requests": [], "watch_lines": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield ApiServer(f"http://127.0.0.1:{server.server_address[1]}", token="t0ken"), handler
    finally:
        server.shutdown()
        server.server_close()


def wait(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_api_lists_and_watches_only_its_nodes_pods(
    api: tuple[ApiServer, type[FakeApi]],
) -> None:
    server, handler = api
    moved = json.loads(json.dumps(DB))
    handler.watch_lines = [
        {"type": "ADDED", "object": DB | {"metadata": DB["metadata"] | {"resourceVersion": "101"}}},
        {
            "type": "DELETED",
            "object": WEB | {"metadata": WEB["metadata"] | {"resourceVersion": "102"}},
        },
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "103"}}},
    ]
    del moved
    pods = NodePods("node-a", server, watch_seconds=1)
    pods.start()
    try:
        wait(lambda: pods.pod_for(ID_DB[:12]) is not None and pods.pod_for(ID_WEB[:12]) is None)
        wait(lambda: len(handler.requests) >= 3)
    finally:
        pods.close()
    assert pods.synced.is_set()
    for query in handler.requests:
        assert query["fieldSelector"] == ["spec.nodeName=node-a"]
    list_query, first_watch, second_watch = handler.requests[:3]
    assert "watch" not in list_query
    assert first_watch["watch"] == ["true"] and first_watch["resourceVersion"] == ["100"]
    assert second_watch["resourceVersion"] == ["103"]  # resumed after the bookmark


def test_a_gone_resource_version_lists_again(api: tuple[ApiServer, type[FakeApi]]) -> None:
    server, handler = api
    handler.watch_lines = [{"type": "ERROR", "object": {"code": 410, "message": "too old"}}]
    pods = NodePods("node-a", server, watch_seconds=1)
    pods.start()
    try:
        wait(lambda: sum("watch" not in q for q in handler.requests) >= 2)
    finally:
        pods.close()


def test_in_cluster_needs_the_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubernetesError, match="not running in a Kubernetes pod"):
        ApiServer.in_cluster()
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    with pytest.raises(KubernetesError, match="cannot read the service account"):
        ApiServer.in_cluster(tmp_path)
