"""Hyperparameter search around the Trainer's own training loop."""
