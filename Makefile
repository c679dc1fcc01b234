# Two commands set everything up on a fresh machine:
#   make run   - venv, install, migrate, demo data, serve API + scheduler on :8000
#   make test  - venv, install, lint, whole test suite (SQLite and PostgreSQL)
# durable-rules does not import on Python 3.13: we need 3.11 or 3.12.
PYTHON ?= $(shell for p in python3.11 python3.12 python3; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not ((3,11) <= sys.version_info[:2] <= (3,12)))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
DEMO_PEOPLE ?= 400
DEMO_SEED ?= 7

.PHONY: run test install lint bench clean fuzz chromium

$(BIN)/activate:
	@test -n "$(PYTHON)" || { echo "need Python 3.11 or 3.12 (durable-rules does not import on 3.13)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/iom audit keygen --if-missing
	$(BIN)/iom db upgrade
	@mkdir -p var
	@$(BIN)/iom demo load --people $(DEMO_PEOPLE) --seed $(DEMO_SEED) > var/demo-load.txt \
	  && echo "demo borough loaded (imports and API tokens: var/demo-load.txt)"
	$(BIN)/iom serve

lint: install
	$(BIN)/ruff check .

# The browser tests (tests/browser) need the OS's Chromium: installed when missing.
chromium:
	@scripts/ensure_chromium.sh

# One pytest worker per core; a test module stays on one worker (its module-scoped
# servers and the worker's own PostgreSQL database, iom_test_<pid>, are not shared).
test: install lint chromium
	$(BIN)/pytest -q -n auto --dist loadfile

# Longer fuzzing of every API operation (schemathesis) and the 30 s load test, both backends.
FUZZ_EXAMPLES ?= 100
LOAD_SECONDS ?= 30
fuzz: install
	IOM_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) IOM_LOAD_SECONDS=$(LOAD_SECONDS) \
	  $(BIN)/pytest -q -rxXs tests/test_fuzz.py tests/test_load.py

bench: install
	$(BIN)/python -m bench.rules_bench
	$(BIN)/python -m bench.mapping_bench --people 1000000 --workers 2
	$(BIN)/python -m bench.import_bench --rows 1000000 --backend both
	$(BIN)/python -m bench.tick_bench --cases 100000 --due 10000 --backend sqlite
	$(BIN)/python -m bench.tick_bench --cases 100000 --due 10000 --backend postgresql
	$(BIN)/python -m bench.reports_bench --people 100000 --events 2000000 --backend postgresql
	$(BIN)/python -m bench.api_bench --people 100000 --rates 50 100 200 400
	$(BIN)/python -m bench.pages_bench --people 3000
	$(BIN)/python -m bench.sharing_bench --reads 300 --backend both

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
