# kindling probe service. `make run` sets everything up and runs the service;
# `make test` runs every check and test. See README.md.

SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
export PATH := $(ROOT)/.tools/bin:$(ROOT)/.venv/bin:$(PATH)

SOCKET ?= $(or $(KINDLING_SOCKET),/run/kindling.sock)
PYTEST_ARGS ?=
SETUP_STAMP := .tools/stamps/setup
SETUP_INPUTS := scripts/setup.sh uv.lock pyproject.toml clients/python/pyproject.toml \
	clients/go/go.mod clients/go/go.sum

.PHONY: all setup run test lint typecheck proto proto-check go-test pytest bench clean help

all: test

help:
	@echo "make run     set up (first time) and run the service on $(SOCKET) in the foreground"
	@echo "make test    set up (first time), then run every check and test"
	@echo "make proto   format, lint and regenerate the committed protobuf code"
	@echo "make bench   run the throughput benchmark and print its figures"
	@echo "make lint    ruff, mypy --strict, gofmt and go vet only"

# Setup reruns when its inputs change; scripts/setup.sh is itself idempotent.
$(SETUP_STAMP): $(SETUP_INPUTS)
	scripts/setup.sh
	@mkdir -p $(dir $@) && touch $@

setup:
	scripts/setup.sh
	@mkdir -p $(dir $(SETUP_STAMP)) && touch $(SETUP_STAMP)

run: $(SETUP_STAMP)
	@scripts/setup.sh >/dev/null  # cheap re-check: headers, tracefs, Go command
	exec .venv/bin/kindling-probe serve --socket $(SOCKET)

proto: $(SETUP_STAMP)
	.tools/node/node_modules/.bin/buf format -w
	.tools/node/node_modules/.bin/buf lint
	scripts/gen-proto.sh

proto-check: $(SETUP_STAMP)
	scripts/check-proto.sh

lint: $(SETUP_STAMP)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	@test -z "$$(cd clients/go && gofmt -l .)" || { cd clients/go && gofmt -l . ; echo "gofmt: files above need formatting"; exit 1; }
	cd clients/go && go vet ./...

go-test: $(SETUP_STAMP)
	cd clients/go && go test ./...

pytest: $(SETUP_STAMP)
	@scripts/setup.sh --no-system >/dev/null
	.venv/bin/pytest $(PYTEST_ARGS)

test: $(SETUP_STAMP)
	@scripts/setup.sh >/dev/null
	$(MAKE) --no-print-directory proto-check lint go-test
	.venv/bin/pytest --junitxml=build/test-results/pytest.xml $(PYTEST_ARGS)

bench: $(SETUP_STAMP)
	@scripts/setup.sh >/dev/null
	.venv/bin/python bench/run.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
