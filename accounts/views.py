"""Account pages: translate forms to the services."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ageweb.http import request_user
from ageweb.throttles import rate_limited

from .forms import AccountDeleteForm, OldPasswordChangeForm, SignUpForm
from .mail import email_in_use_queue, password_reset_queue
from .services import user_create, user_delete, user_token, user_token_regenerate


@rate_limited("signup")
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("estimator:upload")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = user_create(username=data["username"], email=data["email"], password=data["password1"])
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        https = request.is_secure()
        transaction.on_commit(partial(email_in_use_queue, user=user, domain=request.get_host(), use_https=https))
        messages.success(request, f"Welcome, {user.username}! Upload a photo to begin.")
        return redirect("estimator:upload")
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    context = {"token": user_token(user=user), "prediction_count": user.predictions.count()}
    return render(request, "accounts/profile.html", context)


@login_required
@require_POST
def token_regenerate(request: HttpRequest) -> HttpResponse:
    user_token_regenerate(user=request_user(request))
    messages.success(request, "A new API token was made; the old one no longer works.")
    return redirect("accounts:profile")


@login_required
def account_delete(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    form = AccountDeleteForm(request.POST or None, user=user, request=request)
    if request.method == "POST" and form.is_valid():
        logout(request)
        user_delete(user=user)
        messages.success(request, "Your account, photos and predictions were deleted.")
        return redirect("estimator:home")
    return render(request, "accounts/delete.html", {"form": form}, status=400 if form.errors else 200)


class LogoutView(auth_views.LogoutView):
    """Django's, saying so on the page it leads to."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.success(request, "You are logged out.")
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's, with the old password counted by the log-in lock-out."""

    form_class = OldPasswordChangeForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}


class PasswordResetView(auth_views.PasswordResetView):
    """Django's, with the mail queued: the same answer, after the same work, for any address."""

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        email = form.cleaned_data["email"]
        password_reset_queue(email=email, domain=self.request.get_host(), use_https=self.request.is_secure())
        return HttpResponseRedirect(self.get_success_url())
