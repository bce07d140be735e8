from django.urls import path

from .feedback.apis import FeedbackApi
from .predictions.apis import PredictionDetailApi, PredictionImageApi, PredictionListCreateApi, PredictionThumbnailApi

urlpatterns = [
    path("", PredictionListCreateApi.as_view(), name="prediction-list"),
    path("<uuid:prediction_id>/", PredictionDetailApi.as_view(), name="prediction-detail"),
    path("<uuid:prediction_id>/image/", PredictionImageApi.as_view(), name="prediction-image"),
    path("<uuid:prediction_id>/faces/<int:index>/feedback/", FeedbackApi.as_view(), name="face-feedback"),
    path("<uuid:prediction_id>/thumbnail/", PredictionThumbnailApi.as_view(), name="prediction-thumbnail"),
]
