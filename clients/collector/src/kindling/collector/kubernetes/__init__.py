"""Kubernetes enrichment: the pod, namespace and workload of a container id.

:class:`PodDirectory` is what the collector asks; :mod:`.api` answers from
the Kubernetes API, watching only the pods of its own node, and
:mod:`.static` from a file (a ``kubectl get pods -o json`` list).
"""

from __future__ import annotations

from typing import Protocol

from kindling.collector.kubernetes.pods import PodInfo

__all__ = ["PodDirectory", "PodInfo"]


class PodDirectory(Protocol):
    """Finds the pod a container belongs to."""

    def pod_for(self, container_id: str) -> PodInfo | None:
        """The pod of the container whose id starts with ``container_id``
        (the event's 12-digit short id), or None."""
        ...

    def close(self) -> None:
        """Stop following the pods."""
        ...
