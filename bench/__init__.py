"""Benchmarks: they print figures; nothing here gates CI on wall time."""
