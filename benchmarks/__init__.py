"""Benchmarks (not tests), each run as a module from the repository root: see benchmarks/README.md."""
