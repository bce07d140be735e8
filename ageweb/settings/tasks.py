"""Background work on Celery: broker, queues, time limits, retries, the reaper and the beat schedule."""

from __future__ import annotations

from typing import Any

from .connections import REDIS_PREFIX, REDIS_URL
from .env import env_int

# A queue for uploads (inference), one for live frames (live) and one for periodic jobs
# (default), so that worker pools can be scaled on other machines.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True  # results live in the database, not in a result backend
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ROUTES = {
    "estimator.tasks.predict_age": {"queue": "inference"},
    "estimator.tasks.live_frame": {"queue": "live"},  # never behind uploads (make worker-live)
    "estimator.tasks.shadow_estimate": {"queue": "inference"},  # a shadow model version, after the answer
}
CELERY_TASK_DEFAULT_QUEUE = "default"  # periodic jobs; inference workers read it too (-Q inference,default)
CELERY_TASK_ACKS_LATE = True  # a task is acknowledged only once it has run ...
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # ... and requeued if its process died
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("AGEWEB_TASK_SOFT_TIME_LIMIT", 60, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("AGEWEB_TASK_HARD_TIME_LIMIT", CELERY_TASK_SOFT_TIME_LIMIT + 30, minimum=1)
# A pool child loads the models right after fork, which takes longer than Celery's
# default 4 s start-up allowance.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 120.0
CELERY_WORKER_MAX_TASKS_PER_CHILD = env_int("AGEWEB_WORKER_MAX_TASKS_PER_CHILD", 0) or None
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "global_keyprefix": REDIS_PREFIX}

# A task that finds the database unreachable is retried this many times (pauses of 1, 2,
# 4 ... 30 s, about 5 minutes in all) before it leaves the row to the reaper.
AGEWEB_DATABASE_RETRIES = env_int("AGEWEB_DATABASE_RETRIES", 15)
# A photo whose worker died this many times is marked failed instead of retried again.
AGEWEB_MAX_ATTEMPTS = env_int("AGEWEB_MAX_ATTEMPTS", 3, minimum=1)

# The reaper: a prediction queued this long without a worker taking it is queued again
# (Redis may have lost its message); one running past the hard time limit plus a margin
# died with its worker, and is queued again or failed once it used its attempts.
AGEWEB_REQUEUE_AFTER = env_int("AGEWEB_REQUEUE_AFTER", 300, minimum=1)
AGEWEB_RUNNING_STALE_AFTER = env_int("AGEWEB_RUNNING_STALE_AFTER", CELERY_TASK_TIME_LIMIT + 30, minimum=1)
AGEWEB_REAPER_INTERVAL = env_int("AGEWEB_REAPER_INTERVAL", 60, minimum=1)
# Deletions the storage refused (it was unreachable, say) are tried again this often.
AGEWEB_DELETION_RETRY_INTERVAL = env_int("AGEWEB_DELETION_RETRY_INTERVAL", 300, minimum=1)

# Periodic jobs, sent by `celery -A ageweb beat` (make beat; the beat service in compose)
# to the "default" queue, which the inference workers also read.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "reap-stale-predictions": {
        "task": "estimator.tasks.reap_stale_predictions",
        "schedule": float(AGEWEB_REAPER_INTERVAL),
        "options": {"expires": float(AGEWEB_REAPER_INTERVAL)},  # a late run is dropped, the next one comes
    },
    "delete-expired-photos": {
        "task": "estimator.tasks.delete_expired_photos",
        "schedule": 3600.0,  # hourly: a photo lives at most an hour past its retention period
    },
    "delete-expired-login-records": {
        "task": "accounts.tasks.delete_expired_login_records",
        "schedule": 300.0,  # a failed log-in's record lives at most 5 minutes past the lock-out
        "options": {"expires": 300.0},
    },
    "delete-pending-files": {
        "task": "estimator.tasks.delete_pending_files",
        "schedule": float(AGEWEB_DELETION_RETRY_INTERVAL),
        "options": {"expires": float(AGEWEB_DELETION_RETRY_INTERVAL)},
    },
    "reconcile-storage": {
        "task": "estimator.tasks.reconcile_storage",
        "schedule": 24 * 3600.0,  # daily: objects no row points to, past AGEWEB_ORPHAN_GRACE_HOURS
    },
}
