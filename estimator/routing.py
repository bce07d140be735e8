from django.urls import path

from .consumers import PredictionConsumer

websocket_urlpatterns = [
    path("ws/predictions/<uuid:prediction_id>/", PredictionConsumer.as_asgi()),
]
