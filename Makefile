# Everyday commands. `make dev` starts the whole system locally; `make test` runs every test.
# Each target installs what it needs: Python tools go into the project-local .venv.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed-$(shell sha1sum requirements-dev.txt | cut -c1-12)
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: dev test venv lint fmt clippy cfn-lint unit system check-tools clean

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

clean:
	rm -rf $(VENV) target
