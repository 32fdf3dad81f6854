# The README's two commands, `make verify` and `make test`, each set up the
# virtual environment first (once; again when pyproject.toml changes).
VENV ?= .venv
STAMP := $(VENV)/.installed

.PHONY: verify test bench sweep lint

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[tf,test,bench,dev]'
	touch $(STAMP)

verify: $(STAMP)
	$(VENV)/bin/manual-backprop verify

test: $(STAMP)
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(VENV)/bin/manual-backprop bench

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy manual_backprop tf_reference benchmarks
