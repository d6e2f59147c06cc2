"""Benchmarks of the HTTP API against the real `vodforge api` process."""
