# Two commands for a newcomer: `make report` (evidence report on the default model, smollm2)
# and `make test` (the suite's own tests). Each installs what it needs first.
PYTHON ?= python3
PYTEST_ARGS ?=

.PHONY: install report test

install:
	PYTHON=$(PYTHON) bash scripts/install.sh

report: install
	$(PYTHON) -m pytest hypotheses/ $(PYTEST_ARGS)

test: install
	$(PYTHON) -m pytest tests/ $(PYTEST_ARGS)
