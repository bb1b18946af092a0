# The two commands a fresh machine needs:  make demo  and  make test.
PYTHON ?= python3
TOOLS := .venv-tools
TOX := $(TOOLS)/bin/tox

.PHONY: demo test lint typing docs check clean

demo: .venv/.installed  ## run the demo on the embedded SQLite store (options: DEMO_ARGS="...")
	.venv/bin/provlog demo $(DEMO_ARGS)

test: $(TOX)  ## run the test suite (PostgreSQL/MariaDB too when their URLs are set)
	$(TOX) run -e py311

lint: $(TOX)  ## ruff format --check and ruff check
	$(TOX) run -e lint

typing: $(TOX)  ## mypy --strict on the packages
	$(TOX) run -e typing

docs: $(TOX)  ## regenerate docs/reference/ from the code, then build the site (strict)
	$(TOX) run -e docs

check: test lint typing

.venv/.installed: pyproject.toml
	$(PYTHON) -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -e '.[all]'
	touch $@

$(TOX):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q --upgrade pip
	$(TOOLS)/bin/pip install -q 'tox>=4.11'

clean:
	rm -rf .tox $(TOOLS) build dist *.egg-info
