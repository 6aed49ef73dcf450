# Everyday commands. `make dev` starts the whole system locally; `make test` runs every test.
# Each target installs what it needs: Python tools go into the project-local .venv.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed-$(shell sha1sum requirements-dev.txt | cut -c1-12)
# The SAM CLI, cargo-lambda and zig (requirements-build.txt) in their own environment, as
# scripts/build.sh installs them (same stamp): the SAM CLI pins boto3 and cfn-lint of its own.
BUILD_VENV := $(VENV)/build
BUILD_VENV_STAMP := $(BUILD_VENV)/.installed-$(shell sha1sum requirements-build.txt | cut -c1-12)
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: dev test token client client-generate frontend venv build-venv fmt clippy cfn-lint sam-validate build deploy bench bench-cold-start bench-provider bench-sync bench-webhooks bench-freshness bench-cost bench-scale schemathesis clean

## dev: moto, the provider sandbox and every function on localhost, plus a visible end-to-end
## connect; the integrations console at http://127.0.0.1:3000/dev/console
dev: venv client
	$(CARGO) run -p devstack

## token: a dev JWT (1 hour) for a running `make dev`: make token TENANT=acme [TOKEN_USER=alice]
token:
	@test -n "$(TENANT)" || { echo 'usage: make token TENANT=<tenant id> [TOKEN_USER=<user>]' >&2; exit 2; }
	@$(CARGO) run -q -p devstack -- token "$(TENANT)" $(if $(TOKEN_USER),"$(TOKEN_USER)")

## client: the TypeScript client and the console it drives (npm ci, tsc) in clients/typescript
client: clients/typescript/node_modules/.package-lock.json
	cd clients/typescript && npx --no-install tsc -p tsconfig.json

clients/typescript/node_modules/.package-lock.json: clients/typescript/package-lock.json
	cd clients/typescript && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

## client-generate: regenerate clients/typescript/src/generated/api.ts from docs/openapi.yaml
client-generate: clients/typescript/node_modules/.package-lock.json
	cd clients/typescript && npm run -s generate

## frontend: the client's drift check, tsc and tests, and the console in headless Chromium
frontend: venv
	scripts/frontend.sh

## test: formatting, lints, the template checks, every Rust test (unit and system), the
## TypeScript client and the console in headless Chromium (scripts/frontend.sh), then the
## devstack's walk-through and schemathesis against it (scripts/schemathesis.sh checks both)
test: venv fmt clippy cfn-lint sam-validate
	DEVSTACK_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) test --workspace --all-targets
	scripts/frontend.sh
	scripts/schemathesis.sh

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

## sam-validate: the SAM CLI's checks of template.yaml: the SAM transform, then its cfn-lint run
# Offline: a region is all it needs (no credentials, no AWS call). samconfig.toml's default
# environment sets `lint = true`, which replaces the transform check, so the first run reads an
# environment that samconfig.toml does not have (no settings: the SAM translator validates).
sam-validate: build-venv
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=eu-north-1 $(BUILD_VENV)/bin/sam validate --config-env sam-transform --template-file template.yaml
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=eu-north-1 $(BUILD_VENV)/bin/sam validate --lint --template-file template.yaml

build-venv: $(BUILD_VENV_STAMP)

$(BUILD_VENV_STAMP): requirements-build.txt
	$(PYTHON) -m venv $(BUILD_VENV)
	$(BUILD_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-build.txt
	rm -f $(BUILD_VENV)/.installed-*
	touch $@

## build: every function as a Lambda bootstrap with `sam build` (cargo-lambda build method); lists the artifacts
build:
	scripts/build.sh

## deploy: `sam deploy` of the last build (settings in samconfig.toml)
deploy:
	scripts/deploy.sh

## bench: every benchmark (each prints its figures and exits non-zero on a missed target); all
## of them run, and it exits non-zero naming the ones that missed
BENCHES := bench-provider bench-sync bench-webhooks bench-freshness bench-cost bench-scale bench-cold-start
bench:
	@missed=""; for b in $(BENCHES); do $(MAKE) --no-print-directory $$b || missed="$$missed $$b"; done; \
	if [ -n "$$missed" ]; then echo "make bench: missed a target in:$$missed"; exit 1; fi; \
	echo "make bench: every target met"

bench-provider: venv
	DEVSTACK_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) run --release -p provider-throughput

bench-sync: venv
	DEVSTACK_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) run --release -p sync-throughput

## bench-freshness: change at the provider → the app's feed, at real speed (about 16 minutes)
bench-freshness: venv
	DEVSTACK_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) run --release -p freshness

bench-webhooks: venv
	DEVSTACK_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) run --release -p webhook-load

bench-cold-start: venv
	$(VENV)/bin/python bench/cold-start/run.py

## bench-scale: 10,000 integrations through the real scheduler and worker, virtual time (minutes)
bench-scale:
	$(CARGO) run --release -p scale-simulation

## bench-cost: USD per integration-month at 100, 1,000 and 10,000 integrations (a virtual day)
bench-cost: venv
	DEVSTACK_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) run --release -p cost-per-integration

## schemathesis: property-based API test of docs/openapi.yaml against the devstack
schemathesis: venv
	scripts/schemathesis.sh

clean:
	rm -rf $(VENV) target .aws-sam clients/typescript/node_modules clients/typescript/dist
