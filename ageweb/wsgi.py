"""WSGI entry point (gunicorn): pages and API only; result pages then fall back to polling.

Without DJANGO_SETTINGS_MODULE it runs the production settings, never the local debug ones.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ageweb.settings.production")
application = get_wsgi_application()
