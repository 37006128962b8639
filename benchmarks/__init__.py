"""Benchmarks: the same pipelines for pipe, GNU make, DVC and Snakemake, and a runner that times them.

`python -m benchmarks.run --quick` is the one command; see docs/benchmarks.md.
"""
