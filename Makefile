# OneThread — developer entry points.  `make run` to try it, `make test` to check it.
#
# Everything runs from a virtualenv in $(VENV), created on first use.  The project is (re)installed
# into it whenever pyproject.toml changes (the stamp files below record the last install).

VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin

STAMP     := $(VENV)/.onethread-installed
STAMP_DEV := $(VENV)/.onethread-installed-dev

# Only the folders that exist (git keeps no empty folder, so a fresh clone may lack some).
LINT_PATHS := $(wildcard app integrations tests bench)
TYPE_PATHS := $(wildcard app integrations)

# `make bench` talks to the same services as the tests; override in the environment.
ONETHREAD_BENCH_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
ONETHREAD_BENCH_REDIS_URL    ?= redis://127.0.0.1:6379/0
export ONETHREAD_BENCH_POSTGRES_URL ONETHREAD_BENCH_REDIS_URL

.DEFAULT_GOAL := help
.PHONY: help run install install-dev test lint typecheck pytest fmt messages bench bench-ingest bench-webhooks bench-email bench-console bench-widget bench-bot bench-reports bench-delivery clean distclean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --- the virtualenv -------------------------------------------------------------------------------

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e .
	@touch $@

$(STAMP_DEV): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[dev]'
	@touch $@ $(STAMP)

install: $(STAMP) ## create .venv and install the project

install-dev: $(STAMP_DEV) ## install the project with the dev tools (pytest, ruff, mypy)

# --- run ------------------------------------------------------------------------------------------

run: $(STAMP) ## demo data + server on http://127.0.0.1:8000 (SQLite in ./var, in-process realtime)
	$(BIN)/onethread demo
	exec $(BIN)/onethread serve

# --- checks ---------------------------------------------------------------------------------------

# Every check runs even when an earlier one fails, so one run shows everything that is wrong;
# the target fails if any of them failed.
test: $(STAMP_DEV) ## ruff, ruff format --check, mypy, then the whole pytest suite
	@failed=""; \
	$(MAKE) --no-print-directory lint      || failed="$$failed lint"; \
	$(MAKE) --no-print-directory typecheck || failed="$$failed typecheck"; \
	$(MAKE) --no-print-directory pytest    || failed="$$failed pytest"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed" >&2; exit 1; fi; \
	echo "make test: lint, typecheck and pytest all green"

lint: $(STAMP_DEV) ## ruff check + ruff format --check
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(STAMP_DEV) ## mypy (strict) over app and integrations
	$(BIN)/mypy $(TYPE_PATHS)

# pytest exits 5 when it collected no test: that is a failure here, never a pass.
pytest: $(STAMP_DEV) ## the test suite alone (needs PostgreSQL and Redis, see README)
	@$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make pytest: pytest collected no tests; that counts as a failure" >&2; exit 1; fi; \
	exit $$rc

fmt: $(STAMP_DEV) ## rewrite the code: ruff format + ruff check --fix
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

# --- translations ---------------------------------------------------------------------------------

LANGS := nl

messages: $(STAMP_DEV) ## extract the console's strings and update each language's catalog (app/locales)
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output -o app/locales/messages.pot app integrations templates
	@for lang in $(LANGS); do \
	  if [ -f app/locales/$$lang/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i app/locales/messages.pot -d app/locales -l $$lang; \
	  else \
	    $(BIN)/pybabel init -i app/locales/messages.pot -d app/locales -l $$lang; \
	  fi; \
	done

# --- bench ----------------------------------------------------------------------------------------

bench: $(STAMP_DEV) ## the whole suite on PostgreSQL + Redis, one table, ~12 min (ONETHREAD_BENCH_*_URL, BENCH_ARGS)
	$(PY) bench/suite.py $(BENCH_ARGS)

bench-ingest: $(STAMP_DEV) ## API (or --channel widget) ingest against a floor, PostgreSQL + Redis (BENCH_ARGS)
	$(PY) bench/ingest.py $(BENCH_ARGS)

bench-webhooks: $(STAMP_DEV) ## Telegram + Messenger webhooks against a floor, PostgreSQL + Redis (BENCH_ARGS)
	$(PY) bench/webhooks.py $(BENCH_ARGS)

bench-email: $(STAMP_DEV) ## email ingest (raw-MIME webhook + SMTP server) against a floor, PostgreSQL + Redis (BENCH_ARGS)
	$(PY) bench/email_ingest.py $(BENCH_ARGS)

bench-console: $(STAMP_DEV) ## thread page + inbox server time, 10,000 messages/threads (BENCH_ARGS)
	$(PY) bench/console.py $(BENCH_ARGS)

bench-widget: $(STAMP_DEV) ## 5,000 widget sockets on one server: RSS per socket, reply fan-out latency (BENCH_ARGS)
	$(PY) bench/widget.py $(BENCH_ARGS)

bench-bot: $(STAMP_DEV) ## FAQ bot decision time, p50/p99 with 1,000 rules, against a floor (BENCH_ARGS)
	$(PY) bench/bot.py $(BENCH_ARGS)

bench-reports: $(STAMP_DEV) ## report queries over a year of data (1,000,000 messages) on PostgreSQL (BENCH_ARGS)
	$(PY) bench/reports.py $(BENCH_ARGS)

bench-delivery: $(STAMP_DEV) ## outbound messages/s of one worker to the fake Telegram Bot API (BENCH_ARGS)
	$(PY) bench/delivery.py $(BENCH_ARGS)

# --- cleaning -------------------------------------------------------------------------------------

clean: ## remove caches and build leftovers (keeps .venv and ./var)
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache bench/results
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean ## also remove .venv and ./var (the demo database, its secret key and credentials)
	rm -rf $(VENV) var
