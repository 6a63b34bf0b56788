# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
TOOLS  ?= .tools
UV     := $(TOOLS)/bin/uv
PY     := $(VENV)/bin/python
FLASK  := $(VENV)/bin/flask
PORT   ?= 5000
export FLASK_APP := wsgi
# uv installs into $(VENV), with the interpreter named here and never one it downloads.
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test test-suite test-browser test-cluster cluster demo bench lint translations messages venv clean assets lock lock-check python

# One line naming what is missing, instead of a traceback later.
python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found: install Python 3.11 (Debian: apt-get install python3.11 python3.11-venv) or set PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'), the lock is for Python 3.11: set PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { echo "error: $(PYTHON) has no venv/ensurepip module (Debian: apt-get install python3.11-venv)"; exit 1; }

# uv itself, pinned by hash (requirements/uv.txt): the only install that is not from uv.lock.
$(UV): requirements/uv.txt | python
	rm -rf $(TOOLS)
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --no-deps --require-hashes -r requirements/uv.txt

# The lock must describe pyproject.toml; it is never re-resolved by an install. Offline: it compares the
# requirements uv.lock records with pyproject.toml's, and needs no index to do so.
lock-check: $(UV)
	@$(UV) lock --check --offline --quiet 2>/dev/null || { echo "error: uv.lock does not match pyproject.toml: run 'make lock' and commit uv.lock"; exit 1; }

# Re-resolve on purpose: every dependency to its newest release within pyproject.toml's ranges
# (LOCK_ARGS="--upgrade-package NAME" moves one only). How an upgrade is checked: docs/decisions.md.
lock: $(UV)
	$(UV) lock --upgrade $(LOCK_ARGS)

# The environment is exactly uv.lock (runtime and test extras), installed again when either changes.
$(VENV)/.installed: pyproject.toml uv.lock $(UV)
	@$(MAKE) --no-print-directory lock-check
	$(UV) sync --frozen --extra test
	touch $@

venv: $(VENV)/.installed

# Compiled catalogues are build products, never committed.
translations: venv
	$(VENV)/bin/pybabel compile --use-fuzzy -d app/translations -f --statistics 2>&1 | grep -v '^$$' || true
	@test -f app/translations/zh_Hans_CN/LC_MESSAGES/messages.mo || (echo "translations failed to compile" && exit 1)

# Re-extract the messages after changing templates or code, then translate what is new.
messages: venv
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o app/translations/messages.pot --no-location --sort-output --ignore-dirs=".venv node_modules tests benchmarks" .
	$(VENV)/bin/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching

# The demo compresses the legal periods so `make demo` can watch a deadline pass: 30 s instead of
# 20 days to the deadline, 15 s instead of 15 days of amendment notice, and a publicity day of 5 s
# (the candidates' three days of publicity last 15 s). Override them (in seconds) or set them to the
# law's values: MIN_BIDDING_PERIOD=1728000 MIN_AMENDMENT_NOTICE=1296000 PUBLICITY_DAY=86400.
DEMO_RULES ?= MIN_BIDDING_PERIOD=30 MIN_AMENDMENT_NOTICE=15 PUBLICITY_DAY=5
# `make demo` publishes with the deadline 45 s away; a busy machine may need longer to seal and submit
# every bid before it: DEMO_BIDDING_SECONDS=120 make demo.

# Front-end modules come from the npm registry at build time (package-lock.json pins them), never a CDN.
# @hpke/core's ES modules import "@hpke/common" by bare name, which a browser cannot resolve without an
# import map (an inline script, which our CSP refuses): rewrite it to a relative path.
# socket.io-client's ESM bundle is self-contained (the opening room page, static/js/opening.js).
# Chart.js's UMD bundle draws the cash-release dashboard's charts (static/js/cash_release.js).
assets: static/vendor/.installed

static/vendor/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	rm -rf static/vendor && mkdir -p static/vendor/hpke
	cp -R node_modules/@hpke/core/esm static/vendor/hpke/core
	cp -R node_modules/@hpke/common/esm static/vendor/hpke/common
	cp node_modules/@hpke/core/LICENSE static/vendor/hpke/LICENSE
	mkdir -p static/vendor/socket.io
	cp node_modules/socket.io-client/dist/socket.io.esm.min.js node_modules/socket.io-client/dist/socket.io.esm.min.js.map \
	  node_modules/socket.io-client/LICENSE static/vendor/socket.io/
	mkdir -p static/vendor/chartjs
	cp node_modules/chart.js/dist/chart.umd.js node_modules/chart.js/LICENSE.md static/vendor/chartjs/
	find static/vendor -name '*.d.ts' -delete
	cd static/vendor/hpke/core && for f in $$(find . -name '*.js'); do \
	  up=$$(dirname $$f | sed -e 's#^\.##' -e 's#/[^/]*#../#g'); \
	  sed -i "s#\"@hpke/common\"#\"$${up}../common/mod.js\"#g" $$f; done
	! grep -rqE '^(import|export|\})[^*]*from "[^./]' static/vendor
	touch $@

run: translations assets
	$(FLASK) db upgrade
	$(FLASK) keys ensure
	$(FLASK) demo seed
	@echo "Serving on http://127.0.0.1:$(PORT)  (PORT=... to change; demo rules: $(DEMO_RULES))"
	$(DEMO_RULES) PORT=$(PORT) $(PY) wsgi.py

# The suite on every core (pytest-xdist), then the real-browser tests alone: Chromium is heavy enough
# that two at once only slow each other down. PYTEST_ARGS selects (a path, -k, -m) in both runs;
# a run that selects nothing (pytest's exit 5) is not a failure.
TEST_WORKERS ?= auto
test: test-suite test-browser

test-suite: lock-check translations assets
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not e2e and not cluster" $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-browser: lock-check translations assets
	$(PY) -m pytest -m "e2e and not cluster" $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The production topology's tests (tests/cluster/): one cluster (`deploy.cluster up --detach`) for the
# session, its processes killed and restarted. Needs Debian's postgresql, redis-server and nginx.
test-cluster: lock-check translations assets
	$(PY) -m pytest -m cluster $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The production topology on this machine, in the foreground (docs/deployment.md): PostgreSQL, Redis,
# nginx on PORT, WORKERS web processes (gunicorn, WORKER_CLASS gevent or gthread), JOB_WORKERS job
# workers and the scheduler under supervisord, with demo data. Ctrl-C stops every process.
WORKERS ?= 2
JOB_WORKERS ?= 2
WORKER_CLASS ?= gevent
CLUSTER_DIR ?= instance/cluster
cluster: translations assets
	$(PY) -m deploy.cluster up --dir $(CLUSTER_DIR) --port $(PORT) --workers $(WORKERS) \
	  --job-workers $(JOB_WORKERS) --worker-class $(WORKER_CLASS)

# Against `make cluster`, the logins are in the cluster's own instance folder:
# PORT=<the cluster's PORT> DEMO_INSTANCE=instance/cluster/instance make demo
DEMO_INSTANCE ?=
demo: venv
	$(PY) -m app.demo --base-url http://127.0.0.1:$(PORT) $(if $(DEMO_INSTANCE),--instance $(DEMO_INSTANCE))

bench: venv
	$(PY) -m benchmarks $(BENCH_ARGS)

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache
