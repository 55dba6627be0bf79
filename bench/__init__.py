"""Benchmarks that print JSON; see bench/README.md."""
