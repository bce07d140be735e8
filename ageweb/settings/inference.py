"""Which estimator reads the ages, and whether it runs in a worker or in the web process."""

from __future__ import annotations

from .connections import REDIS_URL
from .env import env_bool, env_str

# A dotted path to a zero-argument factory returning an object with
# ``estimate(image_bytes) -> ml.inference.Estimate``.
AGEWEB_ESTIMATOR = env_str("AGEWEB_ESTIMATOR", "ml.inference.Estimator")
# Without Redis there is no worker: run inference on a thread of the web process.
AGEWEB_RUN_TASKS_IN_PROCESS = env_bool("AGEWEB_RUN_TASKS_IN_PROCESS", not REDIS_URL)
