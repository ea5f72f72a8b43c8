# make run  – the whole service on embedded defaults (SQLite + private Redis), with demo data
# make test – the test suite (embedded defaults, or DATABASE_URL / REDIS_URL when set)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test reliability multihost lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime
	$(BIN)/python -m ballot_service.embedded

test: $(VENV)/.dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

reliability: $(VENV)/.dev
	$(BIN)/python -m pytest -m reliability -s tests/reliability

# By hand, as root, not in CI: deploy/ on network namespaces, faults under load (tests/multihost).
multihost: $(VENV)/.dev
	trap '$(BIN)/python -m tests.multihost.topology cleanup' EXIT INT TERM; \
	SANLIANG_MULTIHOST=1 $(BIN)/python -m pytest -m reliability -s -p no:cacheprovider tests/multihost $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .

bench: $(VENV)/.dev
	$(BIN)/python bench/office_page.py

clean:
	rm -rf $(VENV) instance .pytest_cache
