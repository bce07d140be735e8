"""Predictions of uploaded photos: create and queue (services), run on a worker (tasks), read
(selectors), show (views, apis, the result page's websocket consumer), and photo retention."""
