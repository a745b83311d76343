# The two commands of the README: `make run` serves the API on the embedded SQLite
# default; `make test` sets up everything the tests use and runs them (set
# TEST_DATABASE_URL to run them on PostgreSQL).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
CLIENTS := clients/node_modules/.installed

.PHONY: run test lint clean browser bench bench-quick wrk iipimage ffmpeg

# What serving needs (make run), and that plus the test tools (make test).
$(RUN_STAMP): setup.cfg pyproject.toml
	@echo "Installing the server's Python packages into $(VENV) (once; about a minute on a new machine)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/pip install --quiet --disable-pip-version-check -e .
	@touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	@echo "Installing the test tools into $(VENV) (pytest, ruff, schemathesis, Selenium)"
	@$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	@# iiif-prezi3 (the Presentation 3 model the manifest tests check with) pins Pillow<=12.0.0,
	@# which would take the server's Pillow back a major version; it uses Pillow only to measure
	@# image files, which the tests never ask of it, so it comes without its dependencies
	@# (pydantic and requests, which it does need, are in the test extras).
	@$(BIN)/pip install --quiet --disable-pip-version-check --no-deps 'iiif-prezi3>=3.1,<4'
	@touch $(STAMP)

# The real Hydra clients the tests run (Alcaeus, api-doc-parser, hydra-validator).
$(CLIENTS): clients/package.json clients/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd clients && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm is not installed: the client tests will be skipped"; fi

# Headless Chromium for the console test, from Debian's packages.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium is not installed: the console test will be skipped"; fi; \
	fi

# wrk, the load generator of the HTTP benchmark, from Debian's packages.
wrk:
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

# IIPImage behind lighttpd, what bench/delivery.py compares IIIF delivery with (Debian's).
iipimage:
	@if [ ! -x /usr/lib/iipimage-server/iipsrv.fcgi ] || ! command -v lighttpd >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iipimage-server lighttpd >/dev/null; \
	  else echo "IIPImage is not installed: bench/delivery.py compares with the bare app only"; fi; \
	fi

# The ffmpeg command line, what bench/av.py compares the transcodes with (Debian's; the server
# itself uses the FFmpeg libraries of PyAV's wheel).
ffmpeg:
	@command -v ffmpeg >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; } || \
	  echo "ffmpeg is not installed: bench/av.py times the transcodes without comparing"

bench: $(STAMP) wrk iipimage ffmpeg
	$(BIN)/python -m bench.http
	$(BIN)/python -m bench.delivery
	$(BIN)/python -m bench.first_tile
	$(BIN)/python -m bench.manifests
	$(BIN)/python -m bench.ingest --database postgresql+psycopg://postgres@127.0.0.1:5432/postgres
	$(BIN)/python -m bench.av

bench-quick: $(STAMP) wrk iipimage ffmpeg
	$(BIN)/python -m bench.http --quick --database sqlite
	$(BIN)/python -m bench.delivery --quick
	$(BIN)/python -m bench.manifests --quick
	$(BIN)/python -m bench.av --quick

# gunicorn, as the Procfile runs it: the first server a user runs is the one they deploy.
run: $(RUN_STAMP)
	@echo "Serving on http://$${HOST:-127.0.0.1}:$${PORT:-5000}/ with gunicorn, as the Procfile does (SQLite in instance/; Ctrl+C stops)"
	$(BIN)/gunicorn --bind $${HOST:-127.0.0.1}:$${PORT:-5000} --workers $${WEB_CONCURRENCY:-4} \
	  --worker-class gthread --threads $${WEB_THREADS:-8} --access-logfile - wsgi:app

test: $(STAMP) $(CLIENTS) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n auto $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) instance *.egg-info clients/node_modules
