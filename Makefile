# kindling probe service. `make run` sets everything up and runs the service;
# `make test` runs every check and test. See README.md.
#
# scripts/setup.sh is idempotent and takes about half a second when there is
# nothing to do, so every target that needs the environment simply runs it.

SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
export PATH := $(ROOT)/.tools/bin:$(ROOT)/.venv/bin:$(PATH)

SOCKET ?= $(or $(KINDLING_SOCKET),/run/kindling.sock)
PYTEST_ARGS ?=
BUF := .tools/node/node_modules/.bin/buf

.PHONY: all help setup tools run test proto generate manifests proto-check lint go-test pytest bench clean

all: test

help:
	@echo "make run     set up (first time) and run the service on $(SOCKET) in the foreground"
	@echo "make test    set up (first time), then run every check and test"
	@echo "make java-test  build and test clients/java only"
	@echo "make proto   format, lint and regenerate the committed protobuf code"
	@echo "make generate  regenerate bpf/kindling_record.h from the record spec"
	@echo "make bench   run the throughput benchmark and print its figures"
	@echo "make manifests  render deploy/kubernetes from the Helm chart"
	@echo "make lint    ruff, mypy --strict, gofmt and go vet only"

# Everything, including what needs root: BCC, kernel headers, tracefs.
setup:
	@scripts/setup.sh

# Only the toolchain and environments (no root needed).
tools:
	@scripts/setup.sh --no-system

run: setup
	exec .venv/bin/kindling-probe serve --socket $(SOCKET)

proto: tools
	$(BUF) format -w
	$(BUF) lint
	scripts/gen-proto.sh

# The kernel record's C header, from its one definition (record.py), and the
# README's event table, from the catalogue; unit tests fail when either
# committed copy is out of date.
generate: tools
	.venv/bin/python -m kindling.server.record > bpf/kindling_record.h
	.venv/bin/python -m kindling.server.catalog_doc README.md

# The plain Kubernetes manifests, from the Helm chart (make test checks them).
manifests: tools
	scripts/render-manifests.sh

proto-check: tools
	scripts/check-proto.sh

# The checks themselves, without setup (shared by lint and test).
define LINT
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	@test -z "$$(cd clients/go && gofmt -l .)" || { cd clients/go && gofmt -l . ; echo "gofmt: files above need formatting"; exit 1; }
	cd clients/go && go vet ./...
endef

lint: tools
	$(LINT)

go-test: tools
	cd clients/go && go test ./...

.PHONY: java-test

# clients/java with Debian's Maven (scripts/setup.sh installs it); the
# tests start the worktree's kindling-probe (replay, and the kernel as root).
MVN_TEST = cd clients/java && mvn -B -ntp test

java-test: tools
	$(MVN_TEST)

pytest: tools
	.venv/bin/pytest $(PYTEST_ARGS)

test: setup
	scripts/check-proto.sh
	$(LINT)
	cd clients/go && go test ./...
	$(MVN_TEST)
	.venv/bin/pytest --junitxml=build/test-results/pytest.xml $(PYTEST_ARGS)

bench: setup
	.venv/bin/python bench/run.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache clients/java/target
