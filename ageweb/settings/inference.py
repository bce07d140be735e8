"""Which estimator reads the ages, which model versions it serves, and where it runs."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .connections import REDIS_URL
from .core import BASE_DIR
from .env import env_bool, env_int, env_str

# A dotted path to a factory (a class will do) called once per model version with
# ``model_dir=`` the version's folder, returning an object with
# ``estimate(image_bytes) -> ml.inference.Estimate`` (and ``estimate_frame``, ``estimate_faces``).
AGEWEB_ESTIMATOR = env_str("AGEWEB_ESTIMATOR", "ml.inference.Estimator")
# Without Redis there is no worker: run inference on a thread of the web process.
AGEWEB_RUN_TASKS_IN_PROCESS = env_bool("AGEWEB_RUN_TASKS_IN_PROCESS", not REDIS_URL)

# Model versions (README: "Model versions"). The shipped model, registered as the first
# version on first use; where each host keeps the versions it fetched from the storage; and
# how many seconds a process may go on serving a version after a promotion or a rollback.
AGEWEB_SHIPPED_MODEL = Path(env_str("AGEWEB_SHIPPED_MODEL", str(BASE_DIR / "ml" / "models" / "age101")))
AGEWEB_MODEL_CACHE = Path(env_str("AGEWEB_MODEL_CACHE", str(Path(tempfile.gettempdir()) / "ageweb-models")))
AGEWEB_MODEL_VERSION_TTL = env_int("AGEWEB_MODEL_VERSION_TTL", 5)
