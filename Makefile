# Two commands do everything on a fresh Debian/Ubuntu machine:
#   make run   - install what is needed, then play a short exercise (render it when no device)
#   make test  - install what is needed, then run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test

.PHONY: run test setup system-deps bench clean

system-deps:
	@bash tools/system-deps.sh

$(STAMP): pyproject.toml tools/system-deps.sh
	@bash tools/system-deps.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,neural]'
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	@bash tools/run-demo.sh $(BIN)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
