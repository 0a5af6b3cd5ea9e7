# `make demo` and `make test` work on a fresh clone with only python3.11 present.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Fewer TF start-up logs; oneDNN stays on (it is what makes bf16 fast on AMX CPUs).
export TF_CPP_MIN_LOG_LEVEL ?= 2

# The demo: synthetic EyePACS-layout retina set -> CBR-Small from random init -> test split.
DEMO := demo_out
DEMO_DATA := $(DEMO)/data/eyepacs
DEMO_RUN := $(DEMO)/runs/cbr_small_random

.PHONY: demo test lint format install clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(PY) -m pytest -n 2 --dist loadfile --timeout 1200 -q tests

demo: $(DEMO_DATA)/trainLabels.csv
	$(PY) -m transfusion_tf.train --config=transfusion_tf/configs/retina.py:demo \
	    --config.data.root=$(DEMO_DATA) --workdir=$(DEMO_RUN)
	$(PY) -m transfusion_tf.evaluate --workdir=$(DEMO_RUN) --split=test

# The labels file is written last, so its presence means the set is complete.
$(DEMO_DATA)/trainLabels.csv: | $(STAMP)
	$(PY) -m pipelines.generate --dataset=eyepacs --root=$(DEMO_DATA) \
	    --num_patients=1800 --image_size=128 --seed=0 --workers=2

clean:
	rm -rf $(VENV) demo_out
