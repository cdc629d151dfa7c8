# Meterflow developer commands. A new user needs two: `make run` and `make test`.
SHELL := /bin/bash

.PHONY: setup run up down status test test-unit lint fmt bench chaos clean

setup: ## install uv (if missing), the Python environment and the Kafka jars
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	uv sync --frozen
	bash infra/kafka/kafka.sh fetch

run: setup ## start the whole stack natively with demo data; Ctrl-C stops it
	bash infra/stack.sh run

up: setup ## the same in the background
	bash infra/stack.sh up

down: ## stop everything `make up` started
	bash infra/stack.sh down

status:
	bash infra/stack.sh status

test: setup ## the whole suite; the fixtures start (and stop) the servers they need
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
	uv run --frozen python bench/run.py

chaos: setup ## the chaos run (docs/reliability.md): 1.1 M readings under kills and restarts on its own Kafka and PostgreSQL
	uv run --frozen python bench/chaos.py $(CHAOS_ARGS)

clean: down
	rm -rf .local
