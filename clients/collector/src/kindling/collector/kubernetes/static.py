"""Pods read once from a file: a Kubernetes ``PodList`` (``kubectl get pods
-o json``, or YAML), or a plain list of pods."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import yaml

from kindling.collector.kubernetes.pods import PodInfo, container_ids, pod_info

__all__ = ["PodsFileError", "StaticPods"]


class PodsFileError(Exception):
    """The file cannot be read as pods; the message says why, in one sentence."""


class StaticPods:
    """A :class:`~kindling.collector.kubernetes.PodDirectory` of the pods in a file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._pods: dict[str, PodInfo] = {}
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except OSError as error:
            raise PodsFileError(f"{os.fspath(path)}: {error.strerror}") from error
        try:
            document: Any = json.loads(text)
        except ValueError:
            try:
                document = yaml.safe_load(text)
            except yaml.YAMLError as error:
                raise PodsFileError(f"{os.fspath(path)}: neither JSON nor YAML ({error})") from None
        pods = document.get("items") if isinstance(document, Mapping) else document
        if not isinstance(pods, list) or not all(isinstance(p, Mapping) for p in pods):
            raise PodsFileError(
                f"{os.fspath(path)}: expected a PodList (kubectl get pods -o json) "
                "or a list of pods"
            )
        for pod in pods:
            info = pod_info(pod)
            for short_id in container_ids(pod):
                self._pods[short_id] = info

    def __len__(self) -> int:
        return len(self._pods)

    def pod_for(self, container_id: str) -> PodInfo | None:
        return self._pods.get(container_id[:12])

    def close(self) -> None:
        pass
