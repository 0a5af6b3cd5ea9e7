# `make demo` and `make test` work on a fresh clone with only python3.11 present.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The editable install is built by the venv's own setuptools (no build environment to
# download). The packages are compiled once at install: where PYTHONDONTWRITEBYTECODE is
# set, every process (~20 in a demo, hundreds in the tests) would compile them again.
PACKAGES := errors transfusion_tf pipelines slim_weights analysis
# Fewer TF start-up logs; oneDNN stays on (it is what makes bf16 fast on AMX CPUs).
export TF_CPP_MIN_LOG_LEVEL ?= 2

# The demo is the mini-study (transfusion_tf/studies/configs/demo.py): synthetic retina and
# source data, CBR-Tiny and CBR-Small from random / transfer / Mean Var, 2 seeds, analyses,
# report. Two runs at a time with one TF thread each keep both cores busy through start-ups.
DEMO := demo_out

.PHONY: demo test test-fast lint format install clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m compileall -q -j 0 $(PACKAGES) > /dev/null
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(PY) -m pytest -n 2 --dist loadfile --timeout 1200 -q tests

# The inner loop: everything but the `slow` tests (no training, no subprocess).
test-fast: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile --timeout 600 -q -m "not slow" tests

demo: $(STAMP)
	$(PY) -m transfusion_tf.study --study=demo --workdir=$(DEMO) --jobs=2 --threads_per_job=1

clean:
	rm -rf $(VENV) demo_out
