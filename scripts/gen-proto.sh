#!/usr/bin/env bash
# Regenerate the committed protobuf/gRPC code from proto/ into OUT_ROOT
# (default: the repository itself). `make proto` runs this in place; the drift
# check runs it into a scratch directory and compares.
#   Python: grpcio-tools' protoc + mypy-protobuf -> clients/python/src
#   Go:     buf generate with local protoc-gen-go/-go-grpc -> clients/go/gen
#   Java:   the same buf generate, with protoc's java and protoc-gen-grpc-java
#           -> clients/java/src/generated/java
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT_ROOT="${1:-$ROOT}"
PY="$ROOT/.venv/bin/python"
BUF="$ROOT/.tools/node/node_modules/.bin/buf"
export PATH="$ROOT/.tools/bin:$ROOT/.venv/bin:$PATH"

py_out="$OUT_ROOT/clients/python/src"
go_out="$OUT_ROOT/clients/go/gen"
java_out="$OUT_ROOT/clients/java/src/generated/java"
mkdir -p "$py_out"
rm -rf "$py_out/kindling/event" "$py_out/kindling/probe" "$go_out" "$java_out"

cd "$ROOT"
mapfile -t protos < <(cd proto && find kindling -name '*.proto' | sort)
"$PY" -m grpc_tools.protoc -I proto 2> >(grep -v "^Writing mypy to" >&2) \
    --python_out="$py_out" --mypy_out="$py_out" \
    --grpc_python_out="$py_out" --mypy_grpc_out="$py_out" \
    "${protos[@]}"
# Packages for the generated modules; "kindling" itself stays a PEP 420
# namespace shared with the server distribution. py.typed ships the stubs.
for dir in $(cd "$py_out" && find kindling/event kindling/probe -type d); do
    touch "$py_out/$dir/__init__.py"
done
touch "$py_out/kindling/event/py.typed" "$py_out/kindling/probe/py.typed"

"$BUF" generate --template buf.gen.yaml -o "$OUT_ROOT"
