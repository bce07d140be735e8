"""The ageweb Django project: settings, URL routing, ASGI/WSGI entry points and Celery wiring."""

from .celery import app as celery_app

__all__ = ["celery_app"]
