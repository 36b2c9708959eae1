"""Blessing: a candidate must clear the absolute bound and beat the production model."""
