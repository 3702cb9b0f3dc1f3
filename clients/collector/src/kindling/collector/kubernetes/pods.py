"""Pods as the Kubernetes API describes them, reduced to what enrichment needs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["SHORT_ID", "PodInfo", "container_ids", "pod_info"]

#: The length of the container ids events carry (``Thread.container_id``).
SHORT_ID = 12

# Workload kinds and their OpenTelemetry attribute.
_WORKLOAD_ATTRIBUTES = {
    "Deployment": "k8s.deployment.name",
    "ReplicaSet": "k8s.replicaset.name",
    "StatefulSet": "k8s.statefulset.name",
    "DaemonSet": "k8s.daemonset.name",
    "Job": "k8s.job.name",
    "CronJob": "k8s.cronjob.name",
}


@dataclass(frozen=True)
class PodInfo:
    namespace: str
    name: str
    uid: str
    workload_kind: str  # "Deployment", "StatefulSet", ... or "" for a bare pod
    workload_name: str

    def attributes(self) -> dict[str, str]:
        """The OpenTelemetry resource attributes that describe the pod."""
        attributes = {"k8s.namespace.name": self.namespace, "k8s.pod.name": self.name}
        key = _WORKLOAD_ATTRIBUTES.get(self.workload_kind)
        if key is not None:
            attributes[key] = self.workload_name
        return attributes


def _workload(metadata: Mapping[str, Any]) -> tuple[str, str]:
    owners = [o for o in metadata.get("ownerReferences") or () if isinstance(o, Mapping)]
    owner = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    if owner is None:
        return "", ""
    kind, name = str(owner.get("kind", "")), str(owner.get("name", ""))
    # A Deployment's pods belong to a ReplicaSet named after it and the pod
    # template's hash; the name without the hash is the Deployment's.
    template_hash = (metadata.get("labels") or {}).get("pod-template-hash")
    if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
        return "Deployment", name[: -len(template_hash) - 1]
    return kind, name


def pod_info(pod: Mapping[str, Any]) -> PodInfo:
    metadata = pod.get("metadata") or {}
    kind, name = _workload(metadata)
    return PodInfo(
        namespace=str(metadata.get("namespace", "")),
        name=str(metadata.get("name", "")),
        uid=str(metadata.get("uid", "")),
        workload_kind=kind,
        workload_name=name,
    )


def container_ids(pod: Mapping[str, Any]) -> Iterator[str]:
    """The short ids of the pod's containers (init and ephemeral ones too)."""
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for container in status.get(key) or ():
            # "containerd://<64 hex digits>", "docker://...", "cri-o://..."
            full = str(container.get("containerID", ""))
            _, _, digits = full.rpartition("://")
            if len(digits) >= SHORT_ID:
                yield digits[:SHORT_ID]
