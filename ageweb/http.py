"""Request helpers shared by pages, APIs and consumers: who is asking, and "yours or a 404"."""

from __future__ import annotations

from typing import Any, TypeVar

from django.http import Http404

from accounts.models import User

T = TypeVar("T")


def request_user(request: Any) -> User:
    """The logged-in user of a page or API request (after ``login_required`` or
    ``IsAuthenticated`` has run; anything else is a programming error)."""
    user = request.user
    if not isinstance(user, User):
        raise TypeError("request_user() needs an authenticated request")
    return user


def found_or_404(found: T | None, message: str) -> T:
    """``found``, or the 404 page (the API's error handler turns it into its JSON 404).
    Selectors return ``None`` for "missing" and "not yours" alike, so both look the same."""
    if found is None:
        raise Http404(message)
    return found
