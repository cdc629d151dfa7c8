# Meterflow developer commands. A new user needs two: `make run` and `make test`.
SHELL := /bin/bash

.PHONY: setup node chromium run up down status test test-unit lint fmt bench bench-scale bench-notifications chaos clean helm

setup: ## install uv (if missing), the Python environment and the Kafka jars
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	uv sync --frozen
	bash infra/kafka/kafka.sh fetch

node: ## Node.js and npm for the TimescaleDB (PGlite) tests: installed with apt-get when missing (as root)
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
		if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "node/npm missing: apt-get install nodejs npm (the TimescaleDB tests need them)"; \
			apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null; \
		else \
			echo "error: the TimescaleDB (PGlite) tests need Node.js and npm, which apt-get cannot install here (not root):" \
				"install them (sudo apt-get install nodejs npm) and run make test again" >&2; \
			exit 1; \
		fi; \
	fi

chromium: ## Debian's Chromium for the browser tests (Playwright drives it; its own browser download is never used)
	@if [ ! -x "$${MF_CHROMIUM:-/usr/bin/chromium}" ]; then \
		if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "chromium missing: apt-get install chromium (the dashboard and /docs browser tests need it)"; \
			apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; \
		else \
			echo "error: the browser tests need Chromium, which apt-get cannot install here (not root):" \
				"install it (sudo apt-get install chromium) or set MF_CHROMIUM to a Chromium binary" >&2; \
			exit 1; \
		fi; \
	fi

.PHONY: prometheus-tools
prometheus-tools: ## promtool, amtool and prometheus from Debian (apt-get as root when missing): ops tests, PROMETHEUS=1
	@if ! command -v promtool >/dev/null 2>&1 || ! command -v amtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then \
		if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Prometheus tools missing: apt-get install prometheus prometheus-alertmanager (the ops tests need them)"; \
			apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
				prometheus prometheus-alertmanager >/dev/null; \
		else \
			echo "error: the ops tests need promtool, amtool and prometheus, which apt-get cannot install here (not root):" \
				"install them (sudo apt-get install prometheus prometheus-alertmanager) and run make test again" >&2; \
			exit 1; \
		fi; \
	fi

# helm for the chart's tests (tests/unit/deploy/test_helm_chart.py): built from the Go module proxy at a pinned
# version into .local/bin (cached: the stamp file says which version is there; `go version -m` would too).
HELM_VERSION := v3.22.0
HELM_STAMP := .local/bin/.helm-$(HELM_VERSION)

helm: $(HELM_STAMP) ## helm $(HELM_VERSION) in .local/bin (built with Go the first time)

$(HELM_STAMP):
	@command -v go >/dev/null 2>&1 || { echo "error: building helm needs Go (>= 1.24) on PATH" >&2; exit 1; }
	mkdir -p .local/bin
	GOBIN=$(CURDIR)/.local/bin go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	rm -f .local/bin/.helm-* && touch $@

run: setup $(if $(filter 1,$(PROMETHEUS)),prometheus-tools) ## the whole stack natively with demo data (PROMETHEUS=1: and Prometheus); Ctrl-C stops it
	bash infra/stack.sh run

up: setup $(if $(filter 1,$(PROMETHEUS)),prometheus-tools) ## the same in the background
	bash infra/stack.sh up

down: ## stop everything `make up` started
	bash infra/stack.sh down

status:
	bash infra/stack.sh status

test: setup node chromium helm prometheus-tools ## the whole suite; the fixtures start (and stop) the servers they need. CI=true: a skip fails
	uv run --frozen pytest

test-unit: setup
	uv run --frozen pytest tests/unit

lint: setup ## ruff and mypy, as CI runs them
	uv run --frozen ruff check .
	uv run --frozen ruff format --check .
	uv run --frozen mypy libs services tools

fmt:
	uv run --frozen ruff check --fix .
	uv run --frozen ruff format .

bench: setup ## benchmarks; results land in bench/results/
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" -eq 0 ] && apt-get install -y -q wrk >/dev/null; } \
		|| echo "wrk not installed (apt-get install wrk): bench/api_bench.py falls back to its Python client"
	uv run --frozen python bench/run.py $(BENCH_ARGS)

bench-scale: setup ## the scaling benchmark (bench/scale.py): 1-3 normalizers and writers on 12 partitions, instances added and removed under load
	uv run --frozen python bench/run.py --scale $(SCALE_ARGS)

bench-notifications: setup ## the S3 notification source (bench/notifications.py): throughput with 1 and 2 pollers, freshness
	uv run --frozen python bench/notifications.py $(NOTIFY_ARGS)

chaos: setup ## the chaos run (docs/reliability.md): 1.1 M readings under kills and restarts on its own Kafka and PostgreSQL
	uv run --frozen python bench/chaos.py $(CHAOS_ARGS)

clean: down
	rm -rf .local
