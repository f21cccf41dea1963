# The two commands a newcomer needs: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run desk test lint typecheck unit bench vectors format clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=77" wheel
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/confide serve --host 127.0.0.1

# Confide Desk for a newcomer: a local relay, a therapist and a client (throwaway profiles, deleted on
# Ctrl-C), each with a Desk; prints both single-use login links and opens the browser on them. Your own
# profile: confide desk (see README).
desk: $(STAMP)
	$(BIN)/confide desk --demo $(DESK_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# mypy cannot follow setuptools' editable import hook: give it the same package tree through symlinks.
	@mkdir -p build/typecheck/confide
	@for p in protocol keys client server; do ln -sfn ../../../$$p build/typecheck/confide/$$p; done
	$(BIN)/mypy -p confide.protocol -p confide.keys -p confide.client -p confide.server
	$(BIN)/mypy tests bench

# The branch-coverage report is printed, not enforced: the number is there to be seen, not gamed.
unit: $(STAMP)
	@# One worker per core (pytest-xdist), each test file on one worker: every test makes its own relay, ports
	@# and profiles, so files run side by side; on CI's 2 cores this halves the wait.
	$(BIN)/python -m pytest -q -n auto --dist loadfile --cov --cov-branch --cov-report=term:skip-covered --ignore=tests/reliability
	@# The stress suites (load, crashes, a hostile relay, full disks) run without coverage tracing, which
	@# would double their time; what they exercise the suites above cover already.
	$(BIN)/python -m pytest -q tests/reliability

test: lint unit

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

vectors: $(STAMP)
	$(BIN)/python tests/vectors/generate.py

bench: $(STAMP)
	$(BIN)/python bench/crypto.py
	$(BIN)/python bench/relay.py
	$(BIN)/python bench/attachment.py

clean:
	rm -rf $(VENV) build *.egg-info
