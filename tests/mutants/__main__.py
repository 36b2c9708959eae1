"""`make mutants`: break each promise on purpose and check that a test notices.

Every mutation in mutations.toml is a small patch that makes the product do the
wrong thing in a place users rely on (ship the last checkpoint instead of the
best, resume without the optimizer, push an unblessed model...). For each one,
this applies the patch to a scratch copy of the working tree, runs the tests that
guard that promise, and records which test failed ("killed" it). It exits 1 if
any mutation survives, or if a patch no longer applies (the code moved on and the
mutation must be rewritten). The guard tests first run once on the unmutated
copy: a mutation only counts as killed by tests that pass without it.

  python -m tests.mutants [--only NAME ...] [--no-baseline]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)


@dataclasses.dataclass
class Mutation:
  name: str
  promise: str
  patch: str
  tests: list[str]


@dataclasses.dataclass
class Outcome:
  mutation: Mutation
  verdict: str  # killed | SURVIVED | STALE (patch does not apply) | ERROR
  killer: str
  seconds: float


def load(path: Path = HERE / "mutations.toml") -> list[Mutation]:
  with open(path, "rb") as f:
    return [Mutation(**m) for m in tomllib.load(f)["mutation"]]


def _scratch_copy(dest: Path) -> None:
  """The working tree's files that git tracks or would track (uncommitted edits
  included), without .venv, run outputs or anything ignored."""
  files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                          "--exclude-standard"], cwd=REPO, capture_output=True,
                         check=True).stdout.decode().split("\0")
  for name in filter(None, files):
    src = REPO / name
    if src.is_file():
      (dest / name).parent.mkdir(parents=True, exist_ok=True)
      shutil.copy2(src, dest / name)


def _pytest(tree: Path, tests: list[str], log: Path) -> tuple[int, str]:
  env = {**os.environ, "PYTHONPATH": str(tree), "TF_CPP_MIN_LOG_LEVEL": "2"}
  with open(log, "w") as out:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           *tests], cwd=tree, env=env, stdout=out,
                          stderr=subprocess.STDOUT)
  return proc.returncode, log.read_text()


def run_one(m: Mutation, work: Path) -> Outcome:
  tree = work / m.name
  _scratch_copy(tree)
  began = time.monotonic()
  applied = subprocess.run(["git", "apply", "--verbose", str(HERE / m.patch)], cwd=tree,
                           capture_output=True, text=True)
  if applied.returncode != 0:
    return Outcome(m, "STALE", applied.stderr.strip().splitlines()[-1], 0.0)
  code, output = _pytest(tree, m.tests, work / f"{m.name}.log")
  took = time.monotonic() - began
  shutil.rmtree(tree, ignore_errors=True)
  if code == 1:
    failed = _FAILED.findall(output)
    return Outcome(m, "killed", failed[0] if failed else "(a test failed)", took)
  if code == 0:
    return Outcome(m, "SURVIVED", "", took)
  return Outcome(m, "ERROR", f"pytest exit {code}; see {work / (m.name + '.log')}", took)


def table(outcomes: list[Outcome]) -> str:
  rows = ["| mutation | promise broken | verdict | killed by | s |", "|---|---|---|---|---|"]
  rows += [f"| `{o.mutation.name}` | {o.mutation.promise} | {o.verdict} | "
           f"{'`' + o.killer + '`' if o.killer else ''} | {o.seconds:.0f} |" for o in outcomes]
  return "\n".join(rows)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", nargs="*", metavar="NAME", help="run these mutations only")
  parser.add_argument("--no-baseline", action="store_true",
                      help="skip running the guard tests on the unmutated tree")
  parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
  args = parser.parse_args(argv)
  mutations = [m for m in load() if not args.only or m.name in args.only]
  if args.only and len(mutations) != len(args.only):
    known = ", ".join(m.name for m in load())
    parser.error(f"unknown mutation in {args.only}; known: {known}")
  work = Path(tempfile.mkdtemp(prefix="mutants-"))
  print(f"{len(mutations)} mutation(s); logs in {work}", flush=True)
  try:
    if not args.no_baseline:
      tests = sorted({t for m in mutations for t in m.tests})
      _scratch_copy(work / "baseline")
      code, output = _pytest(work / "baseline", tests, work / "baseline.log")
      if code != 0:
        print(f"baseline: the guard tests fail without any mutation (exit {code}):\n"
              + "\n".join(_FAILED.findall(output)), file=sys.stderr)
        return 1
      print(f"baseline: {len(tests)} guard test selection(s) pass unmutated", flush=True)
      shutil.rmtree(work / "baseline", ignore_errors=True)
    outcomes = []
    for i, m in enumerate(mutations, start=1):
      print(f"[{i}/{len(mutations)}] {m.name} ...", flush=True)
      outcomes.append(run_one(m, work))
      o = outcomes[-1]
      print(f"[{i}/{len(mutations)}] {m.name}: {o.verdict} {o.killer} ({o.seconds:.0f}s)",
            flush=True)
  finally:
    if not args.keep:
      shutil.rmtree(work, ignore_errors=True)
  print("\n" + table(outcomes))
  bad = [o for o in outcomes if o.verdict != "killed"]
  if not args.only:
    from bench import report
    report.write_section(
        "mutants", "Mutations of the promises, and the tests that kill them",
        "make mutants",
        f"{len(outcomes) - len(bad)} of {len(outcomes)} mutations killed.\n\n" + table(outcomes))
  if bad:
    print(f"\n{len(bad)} mutation(s) not killed: "
          + ", ".join(f"{o.mutation.name} ({o.verdict})" for o in bad), file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
