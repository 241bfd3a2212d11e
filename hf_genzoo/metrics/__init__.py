"""Metrics that compare models on the same data."""

from .regression import R2Score, r2_score

__all__ = ["R2Score", "r2_score"]
