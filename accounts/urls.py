from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("profile/", views.profile, name="profile"),
    path("token/regenerate/", views.token_regenerate, name="token-regenerate"),
    path("delete/", views.account_delete, name="delete"),
]
