"""The live webcam: the ``/ws/live/`` consumer, its frames (checks, estimation on a worker,
tracked answers) and the per-user stream slots."""
