# Everyday commands. `make dev` starts the whole system locally; `make test` runs every test.
# Each target installs what it needs: Python tools go into the project-local .venv.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed-$(shell sha1sum requirements-dev.txt | cut -c1-12)
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: dev test venv fmt clippy cfn-lint build deploy bench bench-cold-start bench-provider bench-sync bench-webhooks schemathesis clean

## dev: moto, the provider sandbox and every function on localhost, plus a visible end-to-end connect
dev: venv
	$(CARGO) run -p devstack

## test: formatting, lints, the template lint and every Rust test (unit and system)
test: venv fmt clippy cfn-lint
	DEVSTACK_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) test --workspace --all-targets
	DEVSTACK_PYTHON=$(CURDIR)/$(VENV)/bin/python DEVSTACK_EXIT_AFTER_DEMO=1 DEVSTACK_PORT=0 SANDBOX_PORT=0 \
		$(CARGO) run -q -p devstack > target/devstack-smoke.log 2>&1 \
		|| { cat target/devstack-smoke.log; exit 1; }
	@grep -q 'status=connected' target/devstack-smoke.log && echo "devstack walk-through: ok"

## venv: pinned Python tools (moto server, cfn-lint) in .venv
venv: $(VENV_STAMP)

$(VENV_STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

fmt:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

cfn-lint: venv
	$(VENV)/bin/cfn-lint template.yaml

## build: every function as a Lambda bootstrap with `sam build` (cargo-lambda build method); lists the artifacts
build:
	scripts/build.sh

## deploy: `sam deploy` of the last build (settings in samconfig.toml)
deploy:
	scripts/deploy.sh

## bench: every benchmark (each prints its figures and exits non-zero on a missed target)
bench: bench-provider bench-sync bench-webhooks bench-cold-start

bench-provider: venv
	DEVSTACK_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) run --release -p provider-throughput

bench-sync: venv
	DEVSTACK_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) run --release -p sync-throughput

bench-webhooks: venv
	DEVSTACK_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) run --release -p webhook-load

bench-cold-start: venv
	$(VENV)/bin/python bench/cold-start/run.py

## schemathesis: property-based API test of docs/openapi.yaml against the devstack
schemathesis: venv
	scripts/schemathesis.sh

clean:
	rm -rf $(VENV) target .aws-sam
