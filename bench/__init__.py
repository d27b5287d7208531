"""Benchmarks: each prints its measured figure next to a baseline measured in the same run."""
