"""The live webcam (/ws/live/): limits per user and connection, and the websocket message size."""

from __future__ import annotations

from .env import env_int

# README: "Live webcam".
AGEWEB_LIVE_MAX_CONNECTIONS = env_int("AGEWEB_LIVE_MAX_CONNECTIONS", 2, minimum=1)
AGEWEB_LIVE_MAX_FPS = env_int("AGEWEB_LIVE_MAX_FPS", 30, minimum=1)
AGEWEB_LIVE_IDLE_SECONDS = env_int("AGEWEB_LIVE_IDLE_SECONDS", 30, minimum=1)
# A frame the worker has not answered in this time is given up (the server is busy).
AGEWEB_LIVE_FRAME_TIMEOUT = env_int("AGEWEB_LIVE_FRAME_TIMEOUT", 5, minimum=1)
AGEWEB_LIVE_MAX_FRAME_BYTES = 2 * 1024 * 1024
AGEWEB_LIVE_MAX_FRAME_SIDES = (1920, 1080)
# `manage.py runserver` (Daphne) would drop a websocket message over 1 MiB without a word;
# let frames up to the limit and a little over it through, so that they get a clear error.
DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = DAPHNE_WEBSOCKET_MAX_FRAME_SIZE = 4 * 1024 * 1024
