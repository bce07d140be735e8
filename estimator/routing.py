from django.urls import path

from .consumers import LiveConsumer, PredictionConsumer

websocket_urlpatterns = [
    path("ws/predictions/<uuid:prediction_id>/", PredictionConsumer.as_asgi()),
    path("ws/live/", LiveConsumer.as_asgi()),
]
