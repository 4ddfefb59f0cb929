# Two commands do everything on a fresh Debian/Ubuntu machine:
#   make run   - install what is needed, then play a short exercise (render it when no device)
#   make test  - install what is needed, then run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test
# Exact versions, with hashes, of everything installed into the venv (runtime, test and neural
# extras, build tools). Refreshed on purpose with `make upgrade-deps`, which then runs the tests.
LOCK   := requirements.lock
UV     := uv==0.13.9
LOCK_VENV := .venv-lock

.PHONY: run test setup system-deps bench clean upgrade-deps audio

system-deps:
	@bash tools/system-deps.sh

$(STAMP): pyproject.toml $(LOCK) tools/system-deps.sh
	@bash tools/system-deps.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	@bash tools/run-demo.sh $(BIN)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	@bash tools/system-deps.sh --bench
	$(BIN)/python -m bench

# Haven's bell assets in audio/ (checked in), made by the synthesis code in player/audio/synth.py,
# which stays the single source of how they sound (tests/test_sounds_assets.py checks that the
# files are what it makes today). Run after changing a bell, and commit the files.
audio: $(STAMP)
	$(BIN)/python -m player.audio.sounds audio

# Re-resolve every dependency to its newest allowed version, write the lock file, reinstall
# from it and run the whole test suite: commit requirements.lock only when this passes.
upgrade-deps:
	@test -x $(LOCK_VENV)/bin/uv || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/python -m pip install -q '$(UV)'; }
	$(LOCK_VENV)/bin/uv pip compile pyproject.toml tools/lock-build.in --extra test --extra neural \
		--universal --python-version 3.10 --generate-hashes --upgrade -o $(LOCK)
	$(MAKE) test

clean:
	rm -rf $(VENV) $(LOCK_VENV) build dist *.egg-info .pytest_cache
