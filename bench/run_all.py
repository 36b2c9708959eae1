"""Runs every benchmark in bench/ and updates BENCHMARKS.md (`make bench`)."""
from bench import (checkpoint_costs, fast_failures, kubeflow_steps, pipeline_vs_taxi,
                   test_suite)

if __name__ == "__main__":
  fast_failures.main([])
  pipeline_vs_taxi.main([])
  checkpoint_costs.main([])
  kubeflow_steps.main([])
  test_suite.main([])
