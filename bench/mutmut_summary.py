"""mutmut over the fast pure-Python modules (pyproject.toml [tool.mutmut]: the
config, the CSV reader, row parser and splits) against their unit tests; writes
the killed and surviving counts, and the survivors, to BENCHMARKS.md. The
TensorFlow-heavy promises (checkpoints, selection, export, blessing) are covered by
the named mutations of `make mutants` instead: mutmut would import TensorFlow once
per mutant.

  python -m bench.mutmut_summary        (make mutmut)
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from bench import report

REPO = Path(__file__).resolve().parent.parent
MUTMUT = Path(sys.executable).parent / "mutmut"


def _listed(paths: list[str]) -> str:
  return ", ".join(f"`{p.removesuffix('*')}`" for p in paths)


def main(argv=None) -> None:
  # What is mutated and which tests judge it: read from pyproject.toml, so the
  # section names what mutmut really ran.
  settings = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]
  shutil.rmtree(REPO / "mutants", ignore_errors=True)  # a fresh run, not a resumed one
  began = time.monotonic()
  run = subprocess.run([str(MUTMUT), "run"], cwd=REPO, capture_output=True, text=True)
  took = time.monotonic() - began
  if run.returncode != 0:
    sys.exit(f"mutmut run failed (exit {run.returncode}):\n{(run.stdout + run.stderr)[-3000:]}")
  subprocess.run([str(MUTMUT), "export-cicd-stats"], cwd=REPO, check=True, capture_output=True)
  stats = json.loads((REPO / "mutants" / "mutmut-cicd-stats.json").read_text())
  survivors = subprocess.run([str(MUTMUT), "results"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split("\n")
  survivors = sorted(line.split(":")[0].strip() for line in survivors
                     if line.strip().endswith(": survived"))
  listed = "\n".join(f"- `{name}`" for name in survivors) or "(none)"
  body = (f"**{stats['survived']} of {stats['total']} mutants survived** "
          f"({stats['killed']} killed, {stats['no_tests']} not reached by any test, "
          f"{stats['timeout']} timed out) in {took / 60:.1f} minutes.\n\n"
          f"Modules: {_listed(settings['only_mutate'])}; tests: "
          f"{_listed(settings['pytest_add_cli_args_test_selection'])}. "
          "`mutmut show NAME` shows one.\n\nSurvivors:\n\n" + listed)
  report.write_section("mutmut", "mutmut over the pure-Python modules", "make mutmut", body,
                       figures={"survived": str(stats["survived"]),
                                "total": str(stats["total"])})
  print(body)


if __name__ == "__main__":
  main()
