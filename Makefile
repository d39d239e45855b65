# Two commands for a fresh machine: `make run` (a shipped scenario on the embedded defaults)
# and `make test` (linters, type checker, tests). Each installs what it needs into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUITE ?= wooden
ARGS ?=

.PHONY: run test test-slow lint install clean

$(BIN)/steve: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/steve

run: install
	$(BIN)/steve run $(SUITE) $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

# the slow tests (CI runs them after `make test`)
test-slow: install
	$(BIN)/pytest -q -m slow

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
