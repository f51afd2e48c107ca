"""Speed and memory comparisons against peers; `python -m benchmarks.run [--quick]`."""
