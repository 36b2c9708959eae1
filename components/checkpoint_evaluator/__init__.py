"""Checkpoint evaluator: scores every checkpoint on eval data and exports the best."""
