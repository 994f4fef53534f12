"""repro's benchmarks: wall-time ratios against baselines measured in the same invocation."""
