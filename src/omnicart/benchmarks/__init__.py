"""Benchmarks behind `omnicart bench ...`; each prints one JSON line per result."""
