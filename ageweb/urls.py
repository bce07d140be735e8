from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from accounts import views as account_views
from accounts.apis import TokenObtainApi
from ageweb.api_errors import api_not_found
from ageweb.throttles import rate_limited
from ageweb.views import favicon, healthz, metrics, readyz

api_patterns: list[URLPattern | URLResolver] = [
    path("predictions/", include("estimator.api_urls")),
    path("review/", include("estimator.feedback.api_urls")),
    path("models/", include("estimator.versions.api_urls")),
    path("auth/token/", TokenObtainApi.as_view(), name="token-obtain"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    re_path(r"^", api_not_found),  # JSON, even where DEBUG would show Django's 404 page
]

urlpatterns = [
    path("", include("estimator.urls")),
    path("", include("estimator.feedback.urls")),
    path("", include("estimator.versions.urls")),
    path("accounts/", include("accounts.urls")),
    # Before Django's own: the same views, the reset mail queued and rated per address (log
    # in is django-axes'), and the old password counted by django-axes as a log in.
    path(
        "accounts/password_reset/",
        rate_limited("password_reset")(account_views.PasswordResetView.as_view()),
        name="password_reset",
    ),
    path("accounts/password_change/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/logout/", account_views.LogoutView.as_view(), name="logout"),
    # Django's views for log in/out, password change and reset ("login", "password_reset", ...).
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include((api_patterns, "api"))),
    path("admin/", admin.site.urls),
    re_path(r"^healthz/?$", healthz, name="healthz"),
    re_path(r"^readyz/?$", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("favicon.ico", favicon),
]

handler404 = "ageweb.api_errors.not_found"
handler500 = "ageweb.api_errors.server_error"
