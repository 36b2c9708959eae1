"""Runs every benchmark in bench/ and updates BENCHMARKS.md (`make bench`)."""
from bench import (beam_by_size, checkpoint_costs, checkpoints_resume, distribution,
                   fast_failures, kubeflow_steps, local_loop, memorize, retraining, test_suite,
                   transfer)

if __name__ == "__main__":
  fast_failures.main([])
  local_loop.main([])
  beam_by_size.main([])
  checkpoint_costs.main([])
  checkpoints_resume.main([])
  distribution.main([])
  retraining.main([])
  memorize.main([])
  transfer.main([])
  kubeflow_steps.main([])
  test_suite.main([])
