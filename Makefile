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

# The README's property sweep, smaller by default (about a minute on 2
# cores); the README's run is `make sweep CASES=10000`.
CASES ?= 500
WORKERS ?= 2
sweep: $(STAMP)
	$(VENV)/bin/python -m manual_backprop.testing.sweep --cases $(CASES) \
		--dtype float32 --dtype float64 --workers $(WORKERS)

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy manual_backprop tf_reference benchmarks
