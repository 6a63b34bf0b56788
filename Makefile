# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
FLASK  := $(VENV)/bin/flask
PORT   ?= 5000
export FLASK_APP := wsgi

.PHONY: run test demo bench lint translations messages venv clean

# The environment is rebuilt when the declared dependencies change.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
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

run: translations
	$(FLASK) db upgrade
	$(FLASK) keys ensure
	$(FLASK) demo seed
	@echo "Serving on http://127.0.0.1:$(PORT)  (PORT=... to change)"
	PORT=$(PORT) $(PY) wsgi.py

test: translations
	$(PY) -m pytest $(PYTEST_ARGS)

demo: venv
	$(PY) -m app.demo --base-url http://127.0.0.1:$(PORT)

bench: venv
	$(PY) -m benchmarks $(BENCH_ARGS)

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
