# facegps — the two set-up commands are `make demo` and `make test`.
# Both create .venv and install the pinned dependencies (requirements.lock) when missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out/demo
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test venv clean-venv export readme

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"facegps needs Python 3.11 (mediapipe 0.10.21), found {sys.version.split()[0]}; set PYTHON=/path/to/python3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.lock
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

## the main job on the built-in smile sample video
demo: $(STAMP)
	$(BIN)/facegps demo -o $(OUT)

## all tests: notebooks (nbdev_test), then pytest (integration, CLI, bad input, notebooks in sync and clean)
test: $(STAMP)
	$(BIN)/nbdev-test --n-workers 2 --timing
	$(BIN)/python -m pytest -q tests

## regenerate facegps/ from nbs/ and clean the notebooks (run before committing)
export: $(STAMP)
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean
	$(BIN)/python tools/make_readme.py

clean-venv:
	rm -rf $(VENV)

## regenerate README.md from nbs/index.ipynb
readme:
	$(PYTHON) tools/make_readme.py
