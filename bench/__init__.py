"""Benchmarks run by ``make bench`` against the scripted servers (not part of the tests)."""
