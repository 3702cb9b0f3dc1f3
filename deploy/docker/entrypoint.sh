#!/usr/bin/env bash
# The container's entrypoint: kernel headers for BCC (the node's, mounted
# under /host, or the closest the image carries), then kindling-probe with
# the arguments given (serve by default).
set -euo pipefail
/opt/kindling/scripts/kernel-headers.sh "${KINDLING_HOST_ROOT:-/host}"
exec /opt/kindling/.venv/bin/kindling-probe "$@"
