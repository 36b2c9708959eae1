"""Tip temperature of a heated rod: the transient heat equation with no closed form.

An aluminium rod (6061-like, black anodised), initially at ambient temperature; at
t = 0 its base is held at `base_temp`, its far end is insulated. The surface loses
heat by convection and radiation, and the conductivity rises with temperature:

    rho c dT/dt = d/dx(k(T) dT/dx) - (4/d) [h (T - Ta) + eps sigma (T^4 - Ta^4)]
    k(T) = k0 (1 + beta (T - Ta))

The radiation and k(T) make it nonlinear. The output is the tip temperature after
T_END seconds: well above ambient but short of steady state (tip 30.6..36.0 C over
the default grid; steady state would be 36.0..43.9 C).
"""
from __future__ import annotations

import math

import numpy as np

from components.simulators.base import Simulator, SimulatorError
from components.simulators.grid import Axis

LENGTH = 0.2  # m
DIAMETER = 0.006  # m
CONDUCTIVITY = 167.0  # W/(m K), k0 at ambient
BETA = 8e-4  # 1/K, conductivity change per kelvin
DENSITY = 2700.0  # kg/m^3
HEAT_CAPACITY = 896.0  # J/(kg K)
H = 10.0  # W/(m^2 K), natural convection in still air
EMISSIVITY = 0.9
AMBIENT = 20.0  # C, the initial temperature too
T_END = 180.0  # s
NODES = 60  # dx = 3.3 mm: 5e-4 K off the exact solution of the linear case at T_END
SIGMA = 5.670374419e-8  # W/(m^2 K^4), Stefan-Boltzmann
KELVIN = 273.15
AXES = (Axis("base_temp", 60.0, 80.0, 0.01),)


def solve(base_temp: float) -> float:
  """Tip temperature (C) after T_END seconds with the base held at `base_temp` (C)."""
  return _tip_temperature(base_temp)


def _tip_temperature(base_temp: float, *, h: float = H, emissivity: float = EMISSIVITY,
                     beta: float = BETA, t_end: float = T_END, nodes: int = NODES) -> float:
  if not base_temp > -KELVIN:
    raise SimulatorError(f"heated_rod: base_temp must be above absolute zero, got {base_temp}")
  # Imported here: scipy.integrate takes ~1 s to import, and listing the simulators
  # (--help) should not pay for it.
  from scipy.integrate import ode

  rhs, jac = _equations(base_temp, h, emissivity, beta, nodes)
  # VODE's BDF with the banded Jacobian runs in compiled code: ~10 ms a solve, where
  # solve_ivp's BDF spends ~100 ms in per-step Python overhead on the same system.
  # At 1e-9 the output's step-size noise is below 1e-7 K, against 2.7e-3 K between
  # neighbouring grid points; at 1e-8 it was 5e-7 K, above the curve's bend.
  solver = ode(rhs, jac).set_integrator("vode", method="bdf", lband=1, uband=1,
                                        rtol=1e-9, atol=1e-9, nsteps=100_000)
  solver.set_initial_value(np.full(nodes, AMBIENT), 0.0)
  temps = solver.integrate(t_end)
  return float(temps[-1]) if solver.successful() else math.nan


def _equations(base_temp, h, emissivity, beta, nodes):
  """Method of lines: the right-hand side and its banded Jacobian.

  Nodes x_i = i L / nodes; node 0 is the base (fixed), nodes 1..nodes are the
  unknowns, and the insulated end mirrors node nodes-1 across the last one.
  The flux between nodes is the difference of phi(T) = integral of k, which for a
  linear k(T) is exactly k at the mean temperature times the difference of T.
  """
  dx = LENGTH / nodes
  rho_c = DENSITY * HEAT_CAPACITY
  per_area = 4.0 / DIAMETER  # surface per volume of a cylinder
  conduct = CONDUCTIVITY / (dx * dx * rho_c)
  convect = per_area * h / rho_c
  radiate = per_area * emissivity * SIGMA / rho_c
  ambient4 = (AMBIENT + KELVIN) ** 4
  # phi / k0 at the base, then the unknowns, then the mirror node.
  phi = np.empty(nodes + 2)
  excess = base_temp - AMBIENT
  phi[0] = excess * (1.0 + 0.5 * beta * excess)

  def rhs(t, temps):
    u = temps - AMBIENT
    inner = phi[1:-1]
    np.multiply(u, 1.0 + 0.5 * beta * u, out=inner)
    phi[-1] = phi[-3]
    out = phi[:-2] + phi[2:]
    out -= 2.0 * inner
    out *= conduct
    out -= convect * u
    fourth = temps + KELVIN
    fourth *= fourth
    fourth *= fourth
    fourth -= ambient4
    fourth *= radiate
    out -= fourth
    return out

  def jac(t, temps):
    # VODE's band layout: band[1 + i - j, j] = d rhs_i / d T_j.
    k = conduct * (1.0 + beta * (temps - AMBIENT))
    band = np.zeros((3, nodes))
    band[0, 1:] = k[1:]
    band[1] = -2.0 * k - convect - 4.0 * radiate * (temps + KELVIN) ** 3
    band[2, :-1] = k[:-1]
    band[2, -2] *= 2.0  # the mirror node: the last unknown sees its neighbour twice
    return band

  return rhs, jac


SIMULATOR = Simulator(
    name="heated_rod",
    output="tip_temp",
    default_axes=AXES,
    solve=solve,
    description=f"tip temperature (C) of a rod after {T_END:g} s with its base held at "
                "base_temp (C); convection, radiation, k(T)",
)
