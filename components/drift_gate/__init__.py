"""Drift gate: checks each new span of CSV data against the production model's training data."""
