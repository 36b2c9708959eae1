"""Where on the grid the model is wrong, as a PNG: the worst point is what the
blessing threshold judges, so it is marked and its value written on the figure."""
from __future__ import annotations

import dataclasses
import io

import matplotlib
import numpy as np

matplotlib.use("Agg")  # no display in pipelines or CI
import matplotlib.pyplot as plt

from components.grid_errors.worst_case import GridErrors, grid_errors


@dataclasses.dataclass
class Grid2D:
  """values[i, j] is at (first input = axis0[i], second input = axis1[j])."""
  values: np.ndarray
  axis0: np.ndarray
  axis1: np.ndarray


def grid_2d(inputs: dict[str, np.ndarray], values: np.ndarray) -> Grid2D | None:
  """`values` over the first two inputs, as a 2-D array; the max over any further
  inputs. None unless the points are a full grid (every combination of the unique
  values of every input exactly once): a Monte Carlo sample has no 2-D array.

  Cells are placed by value, not by position, so the row order does not matter
  (the tabulated grids are C order, first input slowest, but nothing relies on it)."""
  columns = [np.asarray(v, dtype=np.float64).reshape(-1) for v in inputs.values()]
  values = np.asarray(values, dtype=np.float64).reshape(-1)
  if len(columns) < 2:
    raise ValueError("grid_2d needs at least two inputs")
  uniques, codes = zip(*(np.unique(c, return_inverse=True) for c in columns))
  shape = tuple(u.size for u in uniques)
  if values.size != int(np.prod(shape)):
    return None
  cells = np.ravel_multi_index(codes, shape)
  if np.unique(cells).size != values.size:  # a duplicate point means a missing one
    return None
  full = np.empty(shape)
  full.flat[cells] = values
  reduced = full.reshape(shape[0], shape[1], -1).max(axis=2)  # NaN, if any, wins
  return Grid2D(reduced, uniques[0], uniques[1])


def _title(title: str, errors: GridErrors, labels: np.ndarray) -> str:
  share = ""
  if np.ptp(labels) > 0:
    share = f" ({100 * errors.max_rel_error:.2g}% of range)"
  return f"{title}\nmax |error| {errors.max_abs_error:.3g}{share}"


def _mark_worst(ax, x: float, y: float, text: str) -> None:
  ax.plot([x], [y], "r*", markersize=16, markeredgecolor="k", label="worst point")
  ax.annotate(text, (x, y), textcoords="offset points", xytext=(8, 8), color="red",
              fontweight="bold")


def _plot_1d(ax, name: str, x: np.ndarray, signed: np.ndarray, worst: int,
             tolerance: float | None) -> None:
  order = np.argsort(x, kind="stable")
  ax.plot(x[order], signed[order], "-", lw=1, label="prediction - label")
  if tolerance is not None:
    ax.axhline(tolerance, color="grey", linestyle="--", label=f"±{tolerance:g} tolerance")
    ax.axhline(-tolerance, color="grey", linestyle="--")
  _mark_worst(ax, x[worst], signed[worst], f"{signed[worst]:+.3g}")
  ax.set(xlabel=name, ylabel="prediction - label")
  ax.legend(loc="best")


def _plot_2d(fig, ax, names: list[str], columns: list[np.ndarray], abs_errors: np.ndarray,
             worst: int, tolerance: float | None) -> None:
  grid = grid_2d(dict(zip(names, columns)), abs_errors)
  if grid is not None:
    mesh = ax.pcolormesh(grid.axis0, grid.axis1, grid.values.T, shading="nearest",
                         cmap="viridis")
  else:
    # Not a grid: a scatter, the largest errors drawn last so that none is hidden.
    order = np.argsort(abs_errors, kind="stable")
    mesh = ax.scatter(columns[0][order], columns[1][order], c=abs_errors[order], s=12,
                      cmap="viridis")
  bar = fig.colorbar(mesh, ax=ax, label="|error|")
  if tolerance is not None:
    bar.ax.axhline(tolerance, color="red", linestyle="--")  # above the line: too wrong
  _mark_worst(ax, columns[0][worst], columns[1][worst], f"{abs_errors[worst]:.3g}")
  ax.set(xlabel=names[0], ylabel=names[1])


def plot_errors(inputs: dict[str, np.ndarray], labels, predictions, *, title: str,
                tolerance: float | None = None) -> bytes:
  """PNG bytes, so that callers can write them anywhere gfile can (local or GCS).

  One input: the signed error along it. Two: a heat map of |error| (a scatter if
  the points are not a full grid). More: the heat map over the first two of the
  max |error| over the others."""
  if not inputs:
    raise ValueError("no inputs")
  errors = grid_errors(inputs, labels, predictions)  # also checks the lengths
  names = list(inputs)
  columns = [np.asarray(inputs[n], dtype=np.float64).reshape(-1) for n in names]
  labels = np.asarray(labels, dtype=np.float64).reshape(-1)
  signed = np.asarray(predictions, dtype=np.float64).reshape(-1) - labels
  abs_errors = np.abs(signed)
  worst = int(np.argmax(abs_errors))
  full_title = _title(title, errors, labels)
  fig, ax = plt.subplots(figsize=(8, 5.5))
  if len(names) == 1:
    _plot_1d(ax, names[0], columns[0], signed, worst, tolerance)
  else:
    _plot_2d(fig, ax, names, columns, abs_errors, worst, tolerance)
    if len(names) > 2:
      full_title += f"\nmax over {', '.join(names[2:])}"
  ax.set_title(full_title)
  fig.tight_layout()
  buf = io.BytesIO()
  # The title again as PNG text, for whoever reads the file without looking at it.
  fig.savefig(buf, format="png", dpi=100, metadata={"Title": full_title})
  plt.close(fig)
  return buf.getvalue()
