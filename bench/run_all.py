"""Runs every benchmark in bench/ and updates BENCHMARKS.md (`make bench`)."""
from bench import checkpoint_costs, kubeflow_steps, pipeline_vs_taxi

if __name__ == "__main__":
  pipeline_vs_taxi.main([])
  checkpoint_costs.main([])
  kubeflow_steps.main([])
