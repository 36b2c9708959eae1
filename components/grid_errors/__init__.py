"""Worst-case error over a simulator's complete input grid ("useful overfitting").

errors.py is NumPy only; tfma_metrics.py (TFMA metrics for the Evaluator) and
plot.py (matplotlib) are imported on their own, so that neither drags the other in.
"""
