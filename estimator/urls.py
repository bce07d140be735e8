from django.urls import path

from .predictions import views

app_name = "estimator"

urlpatterns = [
    path("", views.home, name="home"),
    path("upload/", views.upload, name="upload"),
    path("live/", views.live, name="live"),
    path("predictions/", views.history, name="history"),
    path("p/<uuid:prediction_id>/", views.result, name="result"),
    path("p/<uuid:prediction_id>/delete/", views.delete, name="delete"),
]
