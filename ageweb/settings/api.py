"""The REST API (Django REST framework) and its OpenAPI schema (drf-spectacular)."""

from __future__ import annotations

from .env import env_str

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ExpiringTokenAuthentication",  # DRF's, with AGEWEB_TOKEN_TTL_DAYS
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ageweb.api_errors.exception_handler",
    # The request rates; the other per-user limits are in limits.py.
    "DEFAULT_THROTTLE_RATES": {
        "uploads": env_str("AGEWEB_UPLOAD_RATE", "120/minute"),  # per user, pages and API alike
        "token": env_str("AGEWEB_TOKEN_RATE", "20/minute"),  # per address
        "signup": env_str("AGEWEB_SIGNUP_RATE", "10/hour"),  # per address
        "password_reset": env_str("AGEWEB_PASSWORD_RESET_RATE", "5/hour"),  # per address
        "downloads": env_str("AGEWEB_DOWNLOAD_RATE", "5/hour"),  # per user: "Download everything" on My data
    },
    # The client address is REMOTE_ADDR, which the ASGI server takes from X-Forwarded-For
    # only when the proxy (and nothing else) sent it: never read the header here.
    "NUM_PROXIES": 0,
}
SPECTACULAR_SETTINGS = {
    "SWAGGER_UI_DIST": "SIDECAR",  # served from static/, no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "TITLE": "ageweb API",
    # Markdown, shown at the top of the docs page: a way back to the site and a quick start.
    "DESCRIPTION": """Estimate the age of every face in a photo. Upload a photo, then read the
prediction until its status is `done` or `failed`.

[← Back to ageweb](/) · [Your API token](/accounts/profile/) · [The same docs as one page](/api/v1/redoc/)

**Quick start** (your token is on your profile, or ask for it with your username and password):

```sh
TOKEN=$(curl -s -X POST -H 'Content-Type: application/json' \\
  -d '{"username": "alice", "password": "..."}' https://SITE/api/v1/auth/token/ | jq -r .token)
curl -H "Authorization: Token $TOKEN" -F image=@photo.jpg https://SITE/api/v1/predictions/   # 202, with its id
curl -H "Authorization: Token $TOKEN" https://SITE/api/v1/predictions/ID/                    # until done or failed
```
""",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "FeedbackStateEnum": "estimator.models.Feedback.State",
        "ModelVersionStateEnum": "estimator.models.ModelVersion.State",
        "ReviewVerdictEnum": ["accepted", "rejected"],
    },
}
