#!/usr/bin/env bash
# Render the plain Kubernetes manifests in deploy/kubernetes from the Helm
# chart, their one source (`make manifests`; make test fails when the
# committed ones differ):
#   kindling.yaml             the defaults: least privilege, with the collector example
#   kindling-privileged.yaml  for kernels before 5.8, without the collector
set -euo pipefail
cd "$(dirname "$0")/.."
HELM="${HELM:-.tools/bin/helm}"
out="${1:-deploy/kubernetes}"
header() {
    printf '# Rendered from deploy/helm/kindling by scripts/render-manifests.sh; edit the chart.\n'
    printf "# kubectl apply -f deploy/kubernetes/namespace.yaml -f %s\\n" "$1"
}
{ header deploy/kubernetes/kindling.yaml; "$HELM" template kindling deploy/helm/kindling --namespace kindling; } \
    > "$out/kindling.yaml"
{ header deploy/kubernetes/kindling-privileged.yaml
  "$HELM" template kindling deploy/helm/kindling --namespace kindling \
      --set privileged=true --set collector.enabled=false; } > "$out/kindling-privileged.yaml"
