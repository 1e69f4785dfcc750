# quikapp-monitoring: common tasks. Everything runs from ./venv (created by `make venv`).
PY      ?= python3
VENV    ?= venv
BIN     := $(VENV)/bin
STACK   ?= dev

.PHONY: venv tools e2e-tools test lint typecheck up preview render check config-doc bench bench-doc capacity cluster cluster-down e2e

$(BIN)/python:
	$(PY) -m venv $(VENV)

venv: $(VENV)/.installed

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

## prometheus, promtool, alertmanager, amtool at the deployed versions, into .tools/bin (rebuilt on a version change).
tools: venv
	scripts/upstream-tools.sh

## The real engine (Pulumi CLI, Kubernetes provider) and control plane (etcd, kube-*, kwok) for `make e2e`.
e2e-tools: venv
	scripts/e2e-tools.sh

## The README's test command: lint, types (the program and its offline harness), the whole test suite,
## then the real-engine journeys.
test: venv
	$(BIN)/ruff check .
	$(BIN)/mypy components mockengine
	$(BIN)/python -m pytest -q -n 2 --dist loadfile
	scripts/e2e.sh -q

## A local control plane on 127.0.0.1 with simulated nodes; kubeconfig at build/e2e/kubeconfig.
cluster: venv
	$(BIN)/python tests/e2e/cluster.py up

cluster-down: venv
	$(BIN)/python tests/e2e/cluster.py down

## The operator's journeys on staging and prod, real engine on a real control plane (tests/e2e/);
## writes build/e2e/summary.json.
e2e: venv
	scripts/e2e.sh -q

lint:
	$(BIN)/ruff check .

typecheck:
	$(BIN)/mypy components mockengine

## Main job: bootstrap (venv, local file backend, stack, secrets) and `pulumi up` on $(STACK).
up:
	scripts/bootstrap.sh $(STACK) up

preview:
	scripts/bootstrap.sh $(STACK) preview

## Write every rendered file and resources.json of $(STACK) under build/rendered/$(STACK) (offline, mock engine).
render: venv
	$(BIN)/python scripts/render.py $(STACK)

## Run promtool, amtool and strict kubernetes-validate on what `make render` wrote for $(STACK);
## builds only those two tools.
check: render
	scripts/upstream-tools.sh prometheus alertmanager
	$(BIN)/python scripts/check.py $(STACK)

## Write docs/CONFIGURATION.md from the settings model (components/settings/) and docs/CONFIGURATION.md.tmpl.
config-doc: venv
	$(BIN)/python scripts/configuration-doc.py

## Benchmark program cost vs the SDK floor, critical path, catalog scaling; writes build/BENCHMARKS.md.
bench: venv
	$(BIN)/python benchmarks/bench.py

## The same, rewriting the tracked docs/BENCHMARKS.md (its analysis section is kept): commit the result.
bench-doc: venv
	$(BIN)/python benchmarks/bench.py --out docs/BENCHMARKS.md

## Prometheus memory and disk at 10, 100 and 1,000 services, measured with the real Prometheus on
## loopback (about 12 minutes); writes build/CAPACITY.md. CAPACITY_ARGS="--out docs/CAPACITY.md" rewrites the doc.
capacity: venv tools
	$(BIN)/python benchmarks/capacity.py $(CAPACITY_ARGS)
