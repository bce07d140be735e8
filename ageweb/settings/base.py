"""Settings shared by every environment, gathered from one module per concern.

Each value is read once from the environment. Without DATABASE_URL the site uses SQLite;
without REDIS_URL it uses an in-memory channel layer and runs inference in the web process.
With both set, the same code uses PostgreSQL, Redis and separate Celery workers on the
"inference" queue. local.py, production.py and test.py start from these and override a few.

A module that needs another's value (BASE_DIR, REDIS_URL) imports it by name, and no name
is set in two modules, so the order of the imports below changes nothing.
"""

from __future__ import annotations

from .api import *  # noqa: F403
from .connections import *  # noqa: F403
from .core import *  # noqa: F403
from .inference import *  # noqa: F403
from .limits import *  # noqa: F403
from .live import *  # noqa: F403
from .privacy import *  # noqa: F403
from .security import *  # noqa: F403
from .storage import *  # noqa: F403
from .tasks import *  # noqa: F403
