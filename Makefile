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
LINTED := ml tests/ml ageweb accounts estimator tools harness tests/harness tests/layout tests/web tests/integration tests/containers tests/fakes.py conftest.py manage.py

.PHONY: setup setup-train setup-test run test worker worker-inference worker-live livebench web migrate lint typecheck loadtest beat soak scaletest images container-test

# One virtual environment, installed in layers: what the site and the workers need to run
# (requirements/base.txt), then training and research (train.txt), then tests and linters
# (test.txt). `make run` installs the first only. Each re-installs only when its file changes.
# The tests also need axe-core, the accessibility checker the browser tests inject into each
# page (npm; Node is needed for the tests only, never by the site); they read it from $(AXE).
AXE_VERSION := 4.10.3
AXE_DIR := .cache/axe-$(AXE_VERSION)
AXE := $(AXE_DIR)/node_modules/axe-core/axe.min.js

setup: $(VENV)/.installed-run
setup-train: $(VENV)/.installed-train
setup-test: $(VENV)/.installed-test $(AXE)

$(VENV)/.installed-run: requirements/base.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements/base.txt
	touch $@

$(VENV)/.installed-train: $(VENV)/.installed-run requirements/train.txt
	$(PY) -m pip install -r requirements/train.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-train requirements/test.txt
	$(PY) -m pip install -r requirements/test.txt
	touch $@

$(AXE):
	npm install --prefix $(AXE_DIR) --no-save --no-package-lock --no-audit --no-fund axe-core@$(AXE_VERSION)
	test -s $@

migrate: setup
	$(PY) manage.py migrate --noinput

# The whole site in one process: SQLite, in-memory channel layer, inference on a thread.
# With DATABASE_URL and REDIS_URL set, the same command uses PostgreSQL and Redis and
# queues inference for `make worker`.
run: migrate
	$(PY) manage.py runserver $(HOST):$(PORT)

# The Celery workers (need REDIS_URL; DATABASE_URL as the web's): one for uploads' "inference"
# queue (it also runs the periodic jobs beat sends to the "default" queue) and one for live
# webcam frames' "live" queue, so that frames never wait behind photos.
worker: setup
	$(MAKE) -j2 worker-inference worker-live

worker-inference: setup
	$(VENV)/bin/celery -A ageweb worker -Q inference,default --concurrency $(WORKER_CONCURRENCY) \
		--prefetch-multiplier 1 --loglevel INFO -n inference@%h

worker-live: setup
	$(VENV)/bin/celery -A ageweb worker -Q live --concurrency $(WORKER_CONCURRENCY) \
		--prefetch-multiplier 1 --loglevel INFO -n live@%h

# Live webcam benchmark: websocket clients streaming real faces, embedded and through the
# production path (uvicorn + Redis + a Celery "live" worker); prints results/s, latency, jitter.
livebench: setup-test
	$(PY) -m tools.livebench $(if $(wildcard $(UTKFACE)),--data $(UTKFACE))

# Periodic jobs (Celery beat): photo retention and the reaper (needs REDIS_URL).
beat: setup
	$(VENV)/bin/celery -A ageweb beat --loglevel INFO --schedule $(BEAT_SCHEDULE)

# The production ASGI server (HTTP and websockets); daphne works too:
# .venv/bin/daphne -b $(HOST) -p $(PORT) ageweb.asgi:application
web: migrate
	$(VENV)/bin/uvicorn ageweb.asgi:application --host $(HOST) --port $(PORT) --workers $(WEB_WORKERS)

# The tests' own settings (pyproject.toml), not the exported local ones.
# The suite runs on SQLite; the tests marked postgresql (concurrency, row locks) run once more
# on this machine's PostgreSQL (TEST_DATABASE_URL).
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/ageweb
test: setup-test
	DJANGO_SETTINGS_MODULE=ageweb.settings.test $(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=ageweb.settings.test $(PY) -m pytest
	DJANGO_SETTINGS_MODULE=ageweb.settings.test DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest -m postgresql tests/web

lint: setup-test
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

typecheck: setup-test
	$(VENV)/bin/mypy estimator accounts ml ageweb

# Upload-to-result latency and 20 concurrent clients against uvicorn + Redis + PostgreSQL
# + one worker with the real models (see README).
loadtest: setup-test
	$(PY) tools/loadtest.py

# Past one machine: the load test's load against 1 and 2 web servers behind nginx and 1 and 2
# inference workers, photos in a private SeaweedFS S3 server, each process in a folder of its
# own; prints throughput, p95 and the worker's photos per CPU-second (docs/scaling.md).
scaletest: setup-test
	$(PY) tools/scaletest.py

# The production-shaped stack as local processes (nginx, gunicorn, worker, beat, private
# PostgreSQL and Redis) under 50 clients and 1,000 uploads while a worker process is killed
# and the worker, Redis and PostgreSQL restart; prints lost, stuck, 5xx and latency (README).
soak: setup-test
	$(PY) tools/soak.py

# The images docker/compose.yml names (ageweb:latest, ageweb-proxy:latest), with podman or
# docker; the debian:bookworm-slim base is made from Debian's packages where it cannot be
# pulled (docker/make-base.sh). The GPU worker's image: TENSORFLOW="tensorflow[and-cuda]==2.21.0
# keras==3.15.1" TAG=gpu TARGETS=app docker/build-images.sh
images:
	docker/build-images.sh

# The images run as compose runs them (docker/compose.yml with docker/compose.test.yml): web,
# both workers, beat and nginx in containers, PostgreSQL, Redis and the S3 store as private
# processes here; builds the images first (cached), removes every container at the end.
container-test: setup-test
	DJANGO_SETTINGS_MODULE=ageweb.settings.test $(PY) -m pytest tests/containers -q

# --- ml/: data, training, evaluation, benchmarks (see ml/MODEL_CARD.md) ---
# The UTKFace archive (aligned and cropped faces); put it here or pass UTKFACE=PATH.
UTKFACE ?= data/UTKFace.tar.gz
RIVAL := .venv-rival

.PHONY: rival train evaluate bench consistency scenes experiments report finetune

# The rival baseline in its own venv (it pins pillow<13): used by ml.studies.bench, ml.studies.evaluate --rival-save.
rival: $(RIVAL)/.installed
$(RIVAL)/.installed: requirements/rival.txt
	test -x $(RIVAL)/bin/python || $(PYTHON) -m venv $(RIVAL)
	$(RIVAL)/bin/python -m pip install -r requirements/rival.txt
	touch $@

# Train the shipped 101-class model from scratch: face cache, stages 1-2 (head, then blocks 3+),
# stage 3 (every block, a second cosine cycle), stage 10 (YuNet's crops, new surroundings),
# export to ml/models/age101; stage 13 (the points' crops, a phone camera's blur, noise and
# JPEG) fine-tunes that export in place.
train: setup-train
	$(PY) -m ml.training.train --config ml/training/configs/age101.yaml --data $(UTKFACE) --run-dir runs/age101 --export runs/age101/export
	$(PY) -m ml.training.train --config ml/training/configs/age101-stage3.yaml --run-dir runs/age101-stage3 --export runs/age101-stage3/export
	$(PY) -m ml.training.train --config ml/training/configs/age101-stage10.yaml --data $(UTKFACE) --run-dir runs/age101-stage10 --export ml/models/age101
	$(PY) -m ml.training.train --config ml/training/configs/age101-stage13.yaml --data $(UTKFACE) --run-dir runs/age101-stage13 --export ml/models/age101

# Fine-tune the shipped model on UTKFace plus an export of the site's reviewed feedback
# (FEEDBACK=OUT_DIR from `manage.py export_dataset OUT_DIR`); writes runs/finetune, never ml/models.
FEEDBACK ?=
finetune: setup-train
	test -n "$(FEEDBACK)" || (echo "usage: make finetune FEEDBACK=OUT_DIR" && false)
	$(PY) -m ml.training.train --config ml/training/configs/age101-finetune.yaml --data $(UTKFACE) --feedback $(FEEDBACK) \
		--run-dir runs/finetune --export runs/finetune/export

# The shipped models on the fixed test split, through the whole pipeline; saves predictions for the report.
evaluate: setup-train rival
	$(PY) -m ml.evaluate --data $(UTKFACE) --split test --clean --json \
		--save docs/results/preds/age101.npz --rival-save docs/results/preds/rival.npz

bench: setup-train rival
	$(PY) -m ml.studies.bench

# The same face, the same age: 200 test faces, each in a photo and nine variants of it, ours beside the rival's.
consistency: setup-train rival
	$(PY) -m ml.studies.consistency --data $(UTKFACE) --split test --faces 200 --rival --save docs/results/consistency.json

# Test faces in 1,000 photo-like scenes, through the uploads' whole pipeline, each beside its chip alone:
# portrait compositing and a phone camera's light, blur, noise and JPEG (ml/studies/scenes.py).
scenes: setup-train
	$(PY) -m ml.studies.scenes --data $(UTKFACE) --split test --photos 1000 --seed 0 --save docs/results/scenes.json

# The ensemble members and the Table 3 / Table 4 runs (hours on this CPU; finished runs are skipped).
experiments: setup-train
	$(PY) -m ml.studies.experiments --data $(UTKFACE)

report: setup-train
	$(PY) -m ml.studies.report
