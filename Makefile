# ScanApp. Quick start: `make run` (serve the demo) and `make test` (run every test).
VENV      := .venv
PY        := $(VENV)/bin/python
PIP       := $(VENV)/bin/pip
FLASK     := $(VENV)/bin/flask --app scanapp
PORT      ?= 8000
RUNTIME_DEBS := libzbar0 fonts-wqy-microhei
TEST_DEBS    := chromium

.PHONY: install install-dev system-deps test-system-deps translations run test lint bench bench-decode bench-labels bench-count bench-load bench-load-sweep bench-scale clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt $(VENV)/.installed
	$(PIP) install -q -r requirements-dev.txt
	touch $@

system-deps:
	@scripts/ensure-system-packages.sh $(RUNTIME_DEBS)

test-system-deps: system-deps
	@scripts/ensure-system-packages.sh $(TEST_DEBS)

translations: $(VENV)/.installed
	$(VENV)/bin/pybabel compile -d scanapp/translations

## install: create .venv and install everything (safe to run again)
install: $(VENV)/.installed system-deps translations

install-dev: install $(VENV)/.installed-dev test-system-deps

## run: create and seed the SQLite database on first run, then serve on http://127.0.0.1:$(PORT)
run: install
	@$(FLASK) init-db
	@$(FLASK) seed-demo --passwords-file instance/demo-passwords.txt
	@echo "demo users (also in instance/demo-passwords.txt):"; sed 's/^/  /' instance/demo-passwords.txt
	@echo "ScanApp on http://127.0.0.1:$(PORT)"
	PORT=$(PORT) $(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

## test: install what the tests need and run the whole suite (again on PostgreSQL when TEST_DATABASE_URL is set)
test: install-dev
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .

bench-decode: install-dev
	$(PY) bench/decode_bench.py

bench-labels: install-dev
	$(PY) bench/labels_bench.py

## bench-count: a 5,000-line stocktake on PostgreSQL (DATABASE_URL, default a scratch database on 127.0.0.1)
bench-count: install-dev
	$(PY) bench/count_bench.py

## bench-load: scan posts through gunicorn, 16 clients, PostgreSQL and SQLite, with pgbench for reference (~6 min)
bench-load: install-dev
	$(PY) bench/load_bench.py

## bench-load-sweep: compare gunicorn worker/thread configurations (BENCH_CONFIGS, BENCH_SECONDS)
bench-load-sweep: install-dev
	BENCH_SECONDS=$${BENCH_SECONDS:-20} $(PY) bench/load_bench.py --sweep

## bench-scale: 100,000 items, 5,000 locations, 1,000,000 moves on PostgreSQL (kept between runs)
bench-scale: install-dev
	$(PY) bench/scale_bench.py

bench: bench-decode bench-labels bench-count bench-load bench-scale

clean:
	rm -rf $(VENV) instance/scanapp.sqlite3*
