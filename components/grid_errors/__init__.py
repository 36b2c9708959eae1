"""Worst-case error over a simulator's complete input grid ("useful overfitting").

worst_case.py (numeric error, not exceptions: those live in errors.py modules) is
NumPy only; tfma_metrics.py (TFMA metrics for the Evaluator) and plot.py
(matplotlib) are imported on their own, so that neither drags the other in.
"""
