"""Who is asking: the one definition of a client's address, for throttles, lock-outs and /metrics."""

from __future__ import annotations

from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, never X-Forwarded-For.

    The ASGI server rewrites REMOTE_ADDR from X-Forwarded-For only when the connection
    comes from a trusted proxy (``FORWARDED_ALLOW_IPS``), and the proxy overwrites the
    header a client sent; anything else could be rotated by the client at will.
    """
    return str(request.META.get("REMOTE_ADDR", ""))
