from django.urls import path

from . import views

app_name = "versions"

urlpatterns = [
    path("review/models/<str:version>/promote/", views.promote, name="promote"),
    path("review/models/rollback/", views.rollback, name="rollback"),
]
