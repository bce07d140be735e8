from django.urls import path

from .live.consumer import LiveConsumer
from .predictions.consumer import PredictionConsumer

websocket_urlpatterns = [
    path("ws/predictions/<uuid:prediction_id>/", PredictionConsumer.as_asgi()),
    path("ws/live/", LiveConsumer.as_asgi()),
]
