# Developer shortcuts. The README's two commands (scripts/start.sh, scripts/test.sh)
# need nothing but bash; these targets wrap them and the steps inside them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

setup: ## Install OS packages, the Python 3.10 venv and npm packages, test tools included (idempotent)
	./scripts/setup.sh --dev

start: ## Set up, train if needed, start Redis, actions, Rasa and the website
	./scripts/start.sh

test: ## Run the whole test suite (what CI runs)
	./scripts/test.sh

train: ## Train the model if config, domain or data changed
	./scripts/train.sh

fleet: ## Replicas of Rasa, actions and desk behind nginx on :8080, restarted when they die (REPLICAS=2)
	./scripts/fleet.sh --replicas $(or $(REPLICAS),2)

chaos: ## Fault injection on a 2-replica fleet: SIGKILL each process kind mid-load, count losses and duplicates (SMALL=1: CI's size)
	.venv/bin/python scripts/chaos.py $(if $(SMALL),--small,)

bench: ## Full stack against stock rasa run: turns/s, latency, SMS acknowledgement, RSS (docs/performance.md)
	.venv/bin/python benchmarks/bench_stack.py

redis: ## Start Kefu's local Redis alone, in the background (for rasa shell; scripts/redis.sh stop)
	./scripts/redis.sh

lint: ## ruff check, format check and mypy (files and strictness: [tool.mypy] in pyproject.toml)
	.venv/bin/ruff check bot actions tests scripts benchmarks && .venv/bin/ruff format --check bot actions tests scripts benchmarks && .venv/bin/mypy

unit: ## Only the fast pytest tests (no running stack)
	.venv/bin/python -m pytest tests -m "not stack"

nlu-eval: ## NLU tables per language (held-out, blind, out-of-scope), then the held-out gate (results/nlu)
	source scripts/env.sh && python scripts/nlu_report.py --model models/latest.tar.gz
	source scripts/env.sh && kefu_export_redis_fields redis://127.0.0.1:6379/0 && \
	rasa test nlu --model models/latest.tar.gz --nlu tests/nlu/heldout --out results/nlu --no-plot && \
	python scripts/check_nlu_report.py results/nlu

.PHONY: help setup start test train fleet chaos bench redis lint unit nlu-eval
