"""`kindling-probe health`: ask a running service's gRPC health service over
its socket, for container HEALTHCHECKs and Kubernetes exec probes (whose own
gRPC probes reach TCP ports only)."""

from __future__ import annotations

import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2

CHECK = "/grpc.health.v1.Health/Check"


def health(socket: Path, service: str, timeout: float, prog: str) -> int:
    """Print the status; 0 when SERVING, 1 otherwise."""
    if not socket.exists():
        print(f"{prog}: no service at {socket}: the socket does not exist", file=sys.stderr)
        return 1
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        check = channel.unary_unary(
            CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            response = check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as error:
            code = error.code().name
            print(f"{prog}: the service at {socket} did not answer ({code})", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    print(status)
    return 0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1
