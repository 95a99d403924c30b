# The two commands the README promises: `make run` and `make test`. Each sets up a fresh clone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch on this kind of machine; override for a CUDA build, e.g. TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
DEV_ENV := DJANGO_DEBUG=$${DJANGO_DEBUG:-1}
# Where `make run` serves (ADDRPORT=0.0.0.0:8080 make run); printed links follow it.
ADDRPORT ?= 127.0.0.1:8000
# daphne refuses websocket messages over 1 MiB by default, before the playground can say
# why; let them reach it (it answers anything over its own 1 MiB limit with a message).
WS_LIMITS := --websocket-max-message-size 2097152 --websocket-max-frame-size 2097152

.PHONY: run demo test lint install install-dev migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e '.[dev,local,serve]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEV_ENV) $(BIN)/python manage.py load_catalog
	$(DEV_ENV) PLAYGROUND_BASE_URL=$${PLAYGROUND_BASE_URL:-http://$(ADDRPORT)} $(BIN)/python manage.py ensure_admin

# The server in the foreground and the background workers beside it (manage.py db_worker:
# one for suite runs, which hold it while they run, one for the arena's short leaderboard
# recomputes); Ctrl+C, or the server exiting, stops them all (a worker saves what it was doing).
WORKER := $(BIN)/python manage.py db_worker --no-reload
WITH_WORKER = trap 'kill $$worker $$arena 2>/dev/null; wait $$worker $$arena 2>/dev/null' EXIT INT TERM; \
	$(DEV_ENV) $(WORKER) --queue-name default & worker=$$!; \
	$(DEV_ENV) $(WORKER) --queue-name arena & arena=$$!;

run: migrate
	@$(WITH_WORKER) $(DEV_ENV) $(BIN)/python manage.py runserver $(WS_LIMITS) $(ADDRPORT)

demo: migrate
	@$(WITH_WORKER) $(DEV_ENV) $(BIN)/python manage.py demo

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(DEV_ENV) $(BIN)/mypy .

test: lint
	$(DEV_ENV) $(BIN)/python manage.py makemigrations --check --dry-run
	$(DEV_ENV) $(BIN)/pytest $(PYTEST_ARGS)

# Several daphne processes on one port (deploy/supervisord.conf): PROCESSES=4 make serve.
# They share PostgreSQL and Redis, so DATABASE_URL and REDIS_URL are required.
PROCESSES ?= $(shell nproc 2>/dev/null || echo 2)
.PHONY: serve
serve: install
	@case "$${DATABASE_URL:-}" in postgres://*|postgresql://*|pgsql://*) ;; *) \
	  echo "make serve: set DATABASE_URL to a PostgreSQL URL and REDIS_URL to a Redis URL," >&2; \
	  echo "  e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/playground REDIS_URL=redis://127.0.0.1:6379/0 make serve" >&2; \
	  echo "  (several processes share them: SQLite and the in-memory channel layer cannot be shared; one process: make run)" >&2; \
	  exit 2;; esac
	@[ -n "$${REDIS_URL:-}" ] || { echo "make serve: set REDIS_URL (e.g. redis://127.0.0.1:6379/0): the processes' shared channel layer" >&2; exit 2; }
	@[ -x $(BIN)/supervisord ] || $(BIN)/pip install --quiet -e '.[serve]'
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEV_ENV) $(BIN)/python manage.py load_catalog
	$(DEV_ENV) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(DEV_ENV) PLAYGROUND_BASE_URL=$${PLAYGROUND_BASE_URL:-http://$(ADDRPORT)} $(BIN)/python manage.py ensure_admin
	$(DEV_ENV) PLAYGROUND_PROCESSES=$(PROCESSES) PLAYGROUND_BIND=$${PLAYGROUND_BIND:-$(word 1,$(subst :, ,$(ADDRPORT)))} \
	  PLAYGROUND_PORT=$${PLAYGROUND_PORT:-$(word 2,$(subst :, ,$(ADDRPORT)))} PLAYGROUND_DAPHNE=$(CURDIR)/$(BIN)/daphne \
	  exec deploy/serve.sh

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
