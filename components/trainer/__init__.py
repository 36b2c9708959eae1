"""Trainer module code: input pipeline, model, distribution, training loop, export."""
