"""Predictions: upload -> task -> model -> result -> websocket."""
