"""Settings split by environment: base, local (``make run``), production and test."""
