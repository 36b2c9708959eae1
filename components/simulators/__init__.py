"""Deterministic simulators with no closed form, and the grids that tabulate them.

The "useful overfitting" pattern: tabulate a simulator over its complete,
discretized input space and let a model memorize the table. No TensorFlow here,
and scipy is imported only when a simulator first solves, so this imports fast.
"""
from __future__ import annotations

from components.simulators.base import Simulator, SimulatorError
from components.simulators.grid import Axis, grid_points, grid_size, sample_points
from components.simulators.lookup import BUILT_IN, get

__all__ = ["Axis", "BUILT_IN", "Simulator", "SimulatorError", "get", "grid_points",
           "grid_size", "sample_points"]
