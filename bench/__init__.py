"""Benchmarks that run the real server and workers; see the README for the commands."""
