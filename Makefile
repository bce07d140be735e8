# ageweb. On a fresh machine: `make run` (the site, no services needed) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Inference worker processes: one per core, as each runs the models on one core.
WORKER_CONCURRENCY ?= $(shell nproc)
WEB_WORKERS ?= 2
BEAT_SCHEDULE ?= .cache/celerybeat-schedule
# The entry points (asgi, wsgi, celery) default to production settings; make runs the local ones.
DJANGO_SETTINGS_MODULE ?= ageweb.settings.local
export DJANGO_SETTINGS_MODULE
LINTED := ml tests/ml ageweb accounts estimator tools tests/web tests/integration tests/fakes.py tests/photos.py conftest.py manage.py

.PHONY: setup models run test worker worker-inference worker-live livebench web migrate lint typecheck loadtest beat soak

setup: $(VENV)/.installed

# Re-installs only when a requirements file changes.
$(VENV)/.installed: requirements/base.txt requirements/dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements/dev.txt
	touch $@

# The shipped models converted for LiteRT, the serving runtime (cached in .cache/litert/;
# seconds when nothing changed, about a minute and a half for all four on a fresh checkout).
models: setup
	$(PY) -m ml.inference --prepare

migrate: setup
	$(PY) manage.py migrate --noinput

# The whole site in one process: SQLite, in-memory channel layer, inference on a thread.
# With DATABASE_URL and REDIS_URL set, the same command uses PostgreSQL and Redis and
# queues inference for `make worker`.
run: migrate models
	$(PY) manage.py runserver $(HOST):$(PORT)

# The Celery workers (need REDIS_URL; DATABASE_URL as the web's): one for uploads' "inference"
# queue (it also runs the periodic jobs beat sends to the "default" queue) and one for live
# webcam frames' "live" queue, so that frames never wait behind photos.
worker: setup models
	$(MAKE) -j2 worker-inference worker-live

worker-inference: setup models
	$(VENV)/bin/celery -A ageweb worker -Q inference,default --concurrency $(WORKER_CONCURRENCY) \
		--prefetch-multiplier 1 --loglevel INFO -n inference@%h

worker-live: setup models
	$(VENV)/bin/celery -A ageweb worker -Q live --concurrency $(WORKER_CONCURRENCY) \
		--prefetch-multiplier 1 --loglevel INFO -n live@%h

# Live webcam benchmark: websocket clients streaming real faces, embedded and through the
# production path (uvicorn + Redis + a Celery "live" worker); prints results/s, latency, jitter.
livebench: setup models
	$(PY) -m tools.livebench

# Periodic jobs (Celery beat): photo retention and the reaper (needs REDIS_URL).
beat: setup
	$(VENV)/bin/celery -A ageweb beat --loglevel INFO --schedule $(BEAT_SCHEDULE)

# The production ASGI server (HTTP and websockets); daphne works too:
# .venv/bin/daphne -b $(HOST) -p $(PORT) ageweb.asgi:application
web: migrate models
	$(VENV)/bin/uvicorn ageweb.asgi:application --host $(HOST) --port $(PORT) --workers $(WEB_WORKERS)

# The tests' own settings (pyproject.toml), not the exported local ones.
test: setup models
	DJANGO_SETTINGS_MODULE=ageweb.settings.test $(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

typecheck: setup
	$(VENV)/bin/mypy estimator accounts ml

# Upload-to-result latency and 20 concurrent clients against uvicorn + Redis + PostgreSQL
# + one worker with the real models (see README).
loadtest: setup models
	$(PY) tools/loadtest.py

# The production-shaped stack as local processes (nginx, gunicorn, worker, beat, private
# PostgreSQL and Redis) under 50 clients and 1,000 uploads while a worker process is killed
# and the worker, Redis and PostgreSQL restart; prints lost, stuck, 5xx and latency (README).
soak: setup models
	$(PY) tools/soak.py

# --- ml/: data, training, evaluation, benchmarks (see ml/MODEL_CARD.md) ---
UTKFACE ?= ../shared/data/UTKFace.tar.gz
RIVAL := .venv-rival

.PHONY: rival train evaluate bench experiments report finetune

# The rival baseline in its own venv (it pins pillow<13): used by ml.bench, ml.evaluate --rival-save.
rival: $(RIVAL)/.installed
$(RIVAL)/.installed: requirements/rival.txt
	test -x $(RIVAL)/bin/python || $(PYTHON) -m venv $(RIVAL)
	$(RIVAL)/bin/python -m pip install -r requirements/rival.txt
	touch $@

# Train the shipped 101-class model from scratch: face cache, stages 1-2 (head, then blocks 3+),
# stage 3 (every block, a second cosine cycle), export to ml/models/age101.
train: setup
	$(PY) -m ml.train --config ml/configs/age101.yaml --data $(UTKFACE) --run-dir runs/age101 --export runs/age101/export
	$(PY) -m ml.train --config ml/configs/age101-stage3.yaml --run-dir runs/age101-stage3 --export ml/models/age101

# Fine-tune the shipped model on UTKFace plus an export of the site's reviewed feedback
# (FEEDBACK=OUT_DIR from `manage.py export_dataset OUT_DIR`); writes runs/finetune, never ml/models.
FEEDBACK ?=
finetune: setup
	test -n "$(FEEDBACK)" || (echo "usage: make finetune FEEDBACK=OUT_DIR" && false)
	$(PY) -m ml.train --config ml/configs/age101-finetune.yaml --data $(UTKFACE) --feedback $(FEEDBACK) \
		--run-dir runs/finetune --export runs/finetune/export

# The shipped models on the fixed test split, through the whole pipeline; saves predictions for the report.
evaluate: setup rival
	$(PY) -m ml.evaluate --data $(UTKFACE) --split test --clean --json \
		--save docs/results/preds/age101.npz --rival-save docs/results/preds/rival.npz

bench: setup rival
	$(PY) -m ml.bench

# The ensemble members and the Table 3 / Table 4 runs (hours on this CPU; finished runs are skipped).
experiments: setup
	$(PY) -m ml.experiments --data $(UTKFACE)

report: setup
	$(PY) -m ml.report
