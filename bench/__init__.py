"""Benchmarks for DCGAN Portrait Studio: `make bench` (or `python -m bench`) runs them all."""
