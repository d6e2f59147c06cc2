"""Benchmarks of the job engine: throughput, scanner cost, dispatch latency, crash recovery."""
