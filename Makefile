# Two commands for a newcomer: `make report` (evidence report on the default model, smollm2)
# and `make test` (the suite's own tests). Each first creates a local virtual environment
# `.venv` (if missing), installs what it needs into it, and runs pytest from it: nothing is
# installed into the system Python (PEP 668 systems refuse that anyway).
PYTHON ?= python3
VENV_PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: install report test

$(VENV_PY):
	$(PYTHON) -m venv .venv

install: $(VENV_PY)
	PYTHON=$(VENV_PY) bash scripts/install.sh

# --exit-zero-on-verdicts: exit 0 when the report was written and every claim got a verdict
# (refuted and confounded are results); non-zero on a crash, an error or a usage error.
report: install
	$(VENV_PY) -m pytest hypotheses/ --exit-zero-on-verdicts $(PYTEST_ARGS)

test: install
	$(VENV_PY) -m pytest tests/ $(PYTEST_ARGS)
