from django.db import connection
from django.http import HttpRequest, HttpResponse


def healthz(request: HttpRequest) -> HttpResponse:
    """For load balancers and container health checks: the process runs and reaches its database."""
    connection.ensure_connection()
    return HttpResponse("ok", content_type="text/plain")
