"""Simulators for the "useful overfitting" pattern: the grid is the complete input
space in a known order, the physics is right where it has a closed form, and a bad
name or a bad result fails with one line naming it."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from components import simulators
from components.simulators import (BUILT_IN, Axis, SimulatorError, get, grid_points, grid_size,
                                   heated_rod, projectile, sample_points)

REPO = Path(__file__).resolve().parent.parent
NOT_CALLABLE = 42


def _square_sum(x, y):
  """x^2 + y^2, a user simulator."""
  return x * x + y * y


def _blows_up(x):
  return math.inf if x == 3.0 else x


def _text(x):
  return "warm"


# --- grid ---

def test_sixty_to_eighty_in_hundredths_is_2001_clean_values():
  axis = Axis("base_temp", 60.0, 80.0, 0.01)
  values = axis.values()
  assert axis.size() == 2001 and len(values) == 2001 and values.dtype == np.float64
  assert values[0] == 60.0 and values[-1] == 80.0
  assert str(values[1]) == "60.01" and str(values[1234]) == "72.34"  # no 60.010000000000005
  assert np.allclose(np.diff(values), 0.01, atol=1e-12)


def test_projectile_default_grid_is_29141_points():
  angle, speed = projectile.AXES
  assert (angle.size(), speed.size()) == (161, 181)
  assert grid_size(get("projectile").default_axes) == 29_141
  assert grid_size(heated_rod.AXES) == 2001


def test_chunks_concatenate_to_the_whole_grid_first_axis_slowest():
  axes = [Axis("a", 0.0, 2.0, 1.0), Axis("b", 10.0, 13.0, 1.0), Axis("c", 0.5, 1.0, 0.5)]
  whole = grid_points(axes)
  mesh = np.meshgrid(*(a.values() for a in axes), indexing="ij")
  for axis, expected in zip(axes, mesh):
    np.testing.assert_array_equal(whole[axis.name], expected.ravel())
  assert whole["a"][:8].tolist() == [0.0] * 8  # a changes slowest
  assert whole["c"][:4].tolist() == [0.5, 1.0, 0.5, 1.0]  # c fastest
  # Chunks of 5 (the last one short, its stop past the end) give the same points.
  chunks = [grid_points(axes, i, i + 5) for i in range(0, grid_size(axes), 5)]
  assert [len(c["a"]) for c in chunks][-1] == 4
  for axis in axes:
    np.testing.assert_array_equal(np.concatenate([c[axis.name] for c in chunks]), whole[axis.name])


def test_a_chunk_of_a_huge_grid_is_computed_from_its_index():
  axes = [Axis("p", 0.0, 9999.0, 1.0), Axis("q", 0.0, 9999.0, 1.0), Axis("r", 0.0, 999.0, 1.0)]
  assert grid_size(axes) == 10**11  # far too big to materialise
  chunk = grid_points(axes, 12_345_678_912, 12_345_678_915)
  assert {k: v.tolist() for k, v in chunk.items()} == {
      "p": [1234.0] * 3, "q": [5678.0] * 3, "r": [912.0, 913.0, 914.0]}


@pytest.mark.parametrize("axis, words", [
    (Axis("speed", 0.0, 1.0, 0.3), "does not divide"),
    (Axis("speed", 0.0, 1.0, -0.5), "positive"),
    (Axis("speed", 0.0, 1.0, 0.0), "positive"),
    (Axis("speed", 5.0, 1.0, 0.5), "below start"),
    (Axis("speed", 0.0, math.nan, 0.5), "finite"),
])
def test_a_bad_axis_is_refused_naming_the_axis(axis, words):
  with pytest.raises(ValueError, match=f"axis 'speed'.*{words}"):
    axis.size()
  with pytest.raises(ValueError, match="'speed'"):
    grid_points([Axis("angle", 0.0, 1.0, 0.5), axis])


def test_repeated_axis_names_and_bad_ranges_are_refused():
  with pytest.raises(ValueError, match="'x' appears more than once"):
    grid_size([Axis("x", 0, 1, 1), Axis("x", 0, 2, 1)])
  axes = [Axis("x", 0.0, 9.0, 1.0)]
  with pytest.raises(ValueError, match="range"):
    grid_points(axes, -1, 3)
  with pytest.raises(ValueError, match="range"):
    grid_points(axes, 5, 3)
  assert len(grid_points(axes, 10, 20)["x"]) == 0  # past the end: empty, like a slice


def test_samples_stay_in_the_box_and_a_seed_repeats_them():
  axes = [Axis("angle", 5.0, 85.0, 0.5), Axis("speed", 10.0, 100.0, 0.5)]
  points = sample_points(axes, 2000, seed=7)
  for axis in axes:
    values = points[axis.name]
    assert len(values) == 2000 and values.dtype == np.float64
    assert values.min() >= axis.start and values.max() <= axis.stop
    assert values.max() - values.min() > 0.95 * (axis.stop - axis.start)  # spread over the box
    assert len(np.unique(np.round(values, 6))) > 1900  # continuous, not snapped to the grid
  again, other = sample_points(axes, 2000, seed=7), sample_points(axes, 2000, seed=8)
  np.testing.assert_array_equal(points["speed"], again["speed"])
  assert not np.array_equal(points["speed"], other["speed"])


# --- projectile ---

@pytest.mark.parametrize("angle, speed", [(5.0, 10.0), (30.0, 20.0), (45.0, 50.0), (72.5, 90.5)])
def test_without_drag_the_range_is_the_vacuum_range(angle, speed):
  vacuum = speed**2 * math.sin(math.radians(2 * angle)) / projectile.G
  assert projectile.solve(angle, speed, drag=0.0) == pytest.approx(vacuum, rel=1e-6)


def test_drag_shortens_the_range_and_lowers_the_best_angle():
  for angle, speed in [(20.0, 30.0), (45.0, 60.0), (80.0, 100.0)]:
    assert projectile.solve(angle, speed) < 0.99 * projectile.solve(angle, speed, drag=0.0)
  angles = np.arange(30.0, 50.5, 0.5)

  def best_angle(**drag):
    return angles[np.argmax([projectile.solve(a, 100.0, **drag) for a in angles])]
  assert best_angle(drag=0.0) == 45.0
  assert best_angle() < 42.0


def test_default_drag_gives_the_measured_446_m_at_the_best_point():
  best = projectile.solve(38.5, 100.0)
  assert best == pytest.approx(446, abs=1)
  assert projectile.solve(38.0, 100.0) < best and projectile.solve(39.0, 100.0) < best
  assert projectile.solve(38.5, 99.5) < best


def test_solve_points_equals_solve_at_each_point():
  sim = get("projectile")
  axes = [Axis("angle", 20.0, 60.0, 20.0), Axis("speed", 30.0, 50.0, 10.0)]
  points = grid_points(axes)
  expected = [projectile.solve(a, s) for a, s in zip(points["angle"], points["speed"])]
  np.testing.assert_array_equal(sim.solve_points(points), expected)
  # The optional third axis is the drag coefficient.
  points = grid_points(axes + [Axis("drag", 0.0, 0.004, 0.002)])
  got = sim.solve_points(points)
  assert got.dtype == np.float64 and len(got) == 27
  assert got[1] == projectile.solve(20.0, 30.0) and got[0] > got[1] > got[2]


def test_an_impossible_launch_is_refused_naming_the_value():
  with pytest.raises(SimulatorError, match="projectile: angle .* got 95"):
    projectile.solve(95.0, 10.0)
  with pytest.raises(SimulatorError, match="projectile: speed .* got -1"):
    projectile.solve(45.0, -1.0)


# --- heated rod ---

def _linear_rod_tip(base_temp, t, terms=200):
  """u_t = a u_xx, u(0,t) = Tb, u_x(L,t) = 0, u(x,0) = Ta, at x = L:
  u = Tb - (Tb - Ta) sum_n 4/((2n+1) pi) sin(l_n x) exp(-a l_n^2 t), l_n = (2n+1) pi/(2L),
  and sin(l_n L) = (-1)^n."""
  a = heated_rod.CONDUCTIVITY / (heated_rod.DENSITY * heated_rod.HEAT_CAPACITY)
  total = 0.0
  for n in range(terms):
    lam = (2 * n + 1) * math.pi / (2 * heated_rod.LENGTH)
    total += 4 * (-1)**n / ((2 * n + 1) * math.pi) * math.exp(-a * lam * lam * t)
  return heated_rod.AMBIENT + (base_temp - heated_rod.AMBIENT) * (1 - total)


@pytest.mark.parametrize("t_end", [100.0, heated_rod.T_END, 600.0])
def test_without_losses_or_k_of_t_the_rod_matches_the_fourier_series(t_end):
  linear = dict(h=0.0, emissivity=0.0, beta=0.0, t_end=t_end)
  exact = _linear_rod_tip(70.0, t_end)
  assert exact - heated_rod.AMBIENT > 5.0  # the tip has moved: the comparison means something
  assert heated_rod._tip_temperature(70.0, nodes=200, **linear) == pytest.approx(exact, abs=1e-3)
  # The default grid is close too (its error shrinks as the gradients flatten).
  assert heated_rod._tip_temperature(70.0, **linear) == pytest.approx(exact, abs=3e-3)


def test_losses_cool_the_tip_and_conductivity_rising_with_t_warms_it():
  full = heated_rod.solve(70.0)
  assert full < heated_rod._tip_temperature(70.0, emissivity=0.0)
  assert full < heated_rod._tip_temperature(70.0, h=0.0)
  assert heated_rod._tip_temperature(70.0, beta=0.0) < full
  lossless = heated_rod._tip_temperature(70.0, h=0.0, emissivity=0.0)
  assert full < lossless - 1.0


def test_the_tip_rises_smoothly_with_base_temp_but_not_on_a_line():
  base = np.linspace(60.0, 80.0, 9)
  tip = get("heated_rod").solve_points({"base_temp": base})
  assert np.all(np.diff(tip) > 0)
  assert 30.0 < tip[0] and tip[-1] < 50.0  # risen, not at the 60..80 of the base
  # Pinned: a table a model has memorized must not change under it unnoticed.
  assert (tip[0], tip[-1]) == (pytest.approx(30.6412, abs=1e-4), pytest.approx(36.0285, abs=1e-4))
  # Steady state is warmer: T_END is inside the transient.
  assert heated_rod._tip_temperature(80.0, t_end=10 * heated_rod.T_END) > tip[-1] + 5.0
  # Radiation and k(T) bend the curve: the middle is off the chord by millikelvins
  # (the solver's tolerance is ~1e-6 K).
  assert abs(tip[4] - (tip[0] + tip[-1]) / 2) > 1e-3


def test_the_rod_jacobian_is_the_derivative_of_its_equations():
  # A wrong Jacobian does not change the answer, only slows the solver or stalls it.
  rhs, jac = heated_rod._equations(75.0, heated_rod.H, heated_rod.EMISSIVITY, heated_rod.BETA, 8)
  temps = np.linspace(70.0, 40.0, 8)
  band, eps = jac(0.0, temps), 1e-5
  full = np.zeros((8, 8))
  for j in range(8):
    up, down = temps.copy(), temps.copy()
    up[j] += eps
    down[j] -= eps
    full[:, j] = (rhs(0.0, up) - rhs(0.0, down)) / (2 * eps)
  for i in range(8):
    for j in range(8):
      expected = band[1 + i - j, j] if abs(i - j) <= 1 else 0.0
      assert full[i, j] == pytest.approx(expected, rel=1e-6, abs=1e-12), (i, j)


# --- get() ---

def test_the_built_ins():
  assert set(BUILT_IN) == {"projectile", "heated_rod"}
  sim = get("projectile")
  assert sim is BUILT_IN["projectile"] and sim.output == "range_m"
  assert [a.name for a in sim.default_axes] == ["angle", "speed"]
  rod = get("heated_rod")
  assert rod.output == "tip_temp" and rod.default_axes == heated_rod.AXES and rod.description
  assert get("heated_rod", output="tip_c").output == "tip_c"  # a built-in's column renamed
  assert BUILT_IN["heated_rod"].output == "tip_temp"


def test_a_user_function_by_module_and_name():
  sim = get("tests.test_simulators:_square_sum", output="r2")
  assert (sim.name, sim.output, sim.default_axes) == ("tests.test_simulators:_square_sum", "r2", ())
  assert sim.description == "x^2 + y^2, a user simulator."
  got = sim.solve_points({"x": np.array([1.0, 2.0, 0.5]), "y": [3.0, 4.0, 0.0]})
  assert got.dtype == np.float64 and got.tolist() == [10.0, 20.0, 0.25]
  axes = [Axis("x", 0.0, 2.0, 1.0), Axis("y", 0.0, 1.0, 1.0)]
  assert sim.solve_points(grid_points(axes)).tolist() == [0.0, 1.0, 1.0, 2.0, 4.0, 5.0]


@pytest.mark.parametrize("name, output, words", [
    ("cannon", None, "'cannon'.*heated_rod, projectile"),
    ("no_such_package.physics:range_of", "y", "cannot import module 'no_such_package.physics'"),
    ("tests.test_simulators:_no_such_function", "y", "has no '_no_such_function'"),
    ("tests.test_simulators:NOT_CALLABLE", "y", "'NOT_CALLABLE' is not callable"),
    ("tests.test_simulators:_square_sum", None, "_square_sum'.*needs an output column name"),
    ("tests.test_simulators:", "y", "'tests.test_simulators:' is not of the form"),
])
def test_bad_names_fail_with_one_line_naming_the_value(name, output, words):
  with pytest.raises(SimulatorError, match=words) as caught:
    get(name, output=output)
  assert isinstance(caught.value, ValueError) and "\n" not in str(caught.value)


def test_a_non_finite_result_names_the_simulator_and_the_point():
  sim = get("tests.test_simulators:_blows_up", output="y")
  with pytest.raises(SimulatorError, match=r"^tests.test_simulators:_blows_up: "
                                           r"no finite result at x=3\.0$"):
    sim.solve_points({"x": [1.0, 2.0, 3.0, 4.0]})
  broken = simulators.Simulator("projectile", "range_m", (), lambda angle, speed: math.nan, "")
  with pytest.raises(SimulatorError, match=r"projectile: no finite result at angle=5\.0, speed=10\.0"):
    broken.solve_points({"angle": [5.0], "speed": [10.0]})
  text = get("tests.test_simulators:_text", output="y")
  with pytest.raises(SimulatorError, match="'warm' at x=1.0 is not a number"):
    text.solve_points({"x": [1.0]})


def test_point_columns_of_different_lengths_are_refused():
  sim = get("tests.test_simulators:_square_sum", output="r2")
  with pytest.raises(SimulatorError, match="differ in length"):
    sim.solve_points({"x": [1.0, 2.0], "y": [1.0]})


def test_importing_the_package_loads_neither_tensorflow_nor_scipy():
  code = ("import sys, components.simulators; "
          "print(sorted(m for m in ('tensorflow', 'scipy') if m in sys.modules))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=REPO)
  assert out.stdout.strip() == "[]"
