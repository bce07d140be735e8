"""Settings by environment (base, local for ``make run``, production, test); base gathers one module per concern."""
