"""The console samples the docs include, produced by running the real CLI, so that
no page shows output the product no longer prints (a hand-copied sample once
showed 8 steps where a run had 11, and a dataset from another config).

Each sample is docs/samples/NAME.txt: the command line after `$ `, then what it
printed (stdout, then stderr). A page includes one inside a fenced block with
pymdownx.snippets:

    ```text
    --8<-- "docs/samples/check.txt"
    ```

`python -m pipelines.docs.samples` rewrites every cheap sample (`--all` adds the
ones that run a pipeline; or name them); `--check` rewrites nothing and exits 1
naming each stored sample that differs from what the command prints now
(tests/test_docs_samples.py runs it on the cheap ones).

A pipeline run's sample is taken in a fresh working directory, runs/docs-samples/
(so that no step comes from an earlier run's cache), and the paths it prints are
shown relative to it, as a user who ran it from the repository root sees them
less the absolute prefix. Its timings and metrics differ from run to run,
so the test does not re-run it: it checks the sample's progress lines against
the steps the pipeline has now (`[n/N] Step`, N the number of steps)."""
from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[2]
SAMPLES_DIR = REPO / "docs" / "samples"
RUNS_DIR = REPO / "runs" / "docs-samples"
# argparse wraps help to the terminal's width: a fixed one keeps samples stable.
_COLUMNS = "80"
# A local run's progress line as a step starts, ends or is reused.
STEP_LINE = re.compile(r"^\[(\d+)/(\d+)\] (\S+) (?:\.\.\.|done in |cached )", re.MULTILINE)


class Sample(NamedTuple):
  name: str
  args: tuple[str, ...]  # tpctl's arguments, run from the repository root
  cheap: bool = True  # seconds, no pipeline run: re-run by the test


SAMPLES = (
    Sample("tpctl-help", ("--help",)),
    Sample("run-help", ("run", "--help")),
    Sample("retrain-help", ("retrain", "--help")),
    Sample("check", ("check",)),
    Sample("check-memorize-projectile",
           ("check", "--config", "pipelines/configs/memorize_projectile.yaml")),
    Sample("check-transfer-digits", ("check", "--config", "pipelines/configs/transfer_digits.yaml")),
    # `make demo`: the default config, its 4-trial search included (minutes).
    Sample("run", ("run",), cheap=False),
)


def command(sample: Sample) -> str:
  return "$ " + shlex.join(("tpctl", *sample.args))


def render(sample: Sample) -> str:
  """What the sample's file holds: its command line, then what tpctl printed."""
  env = {**os.environ, "COLUMNS": _COLUMNS, "PYTHONPATH": str(REPO)}
  env.pop("TRAINING_PATTERNS_CONFIG", None)
  cwd = REPO
  if not sample.cheap:
    shutil.rmtree(RUNS_DIR, ignore_errors=True)  # every step runs, none is cached
    RUNS_DIR.mkdir(parents=True)
    cwd = RUNS_DIR
  proc = subprocess.run([sys.executable, "-m", "pipelines.cli", *sample.args], cwd=cwd,
                        env=env, capture_output=True, text=True, timeout=1800, check=False)
  if proc.returncode != 0:
    raise RuntimeError(f"{command(sample)} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
  out = f"{command(sample)}\n{proc.stdout}{proc.stderr}".rstrip("\n") + "\n"
  return out.replace(f"{RUNS_DIR}/", "").replace(f"{REPO}/", "")


def path(sample: Sample) -> Path:
  return SAMPLES_DIR / f"{sample.name}.txt"


def stale(samples) -> list[str]:
  """The names of the samples whose stored file differs from a fresh run."""
  return [s.name for s in samples if not path(s).exists() or path(s).read_text() != render(s)]


def write(samples) -> None:
  SAMPLES_DIR.mkdir(parents=True, exist_ok=True)
  for sample in samples:
    path(sample).write_text(render(sample))
    print(f"wrote docs/samples/{sample.name}.txt")


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m pipelines.docs.samples", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("names", nargs="*", metavar="NAME", help="samples to run (default: the cheap ones)")
  p.add_argument("--all", action="store_true", help="every sample, pipeline runs included")
  p.add_argument("--check", action="store_true", help="compare, write nothing")
  args = p.parse_args(argv)
  by_name = {s.name: s for s in SAMPLES}
  unknown = [n for n in args.names if n not in by_name]
  if unknown:
    p.error(f"no such sample: {', '.join(unknown)} (known: {', '.join(by_name)})")
  chosen = ([by_name[n] for n in args.names] if args.names
            else [s for s in SAMPLES if args.all or s.cheap])
  if args.check:
    names = stale(chosen)
    for name in names:
      print(f"stale: docs/samples/{name}.txt (rerun python -m pipelines.docs.samples {name})")
    return 1 if names else 0
  write(chosen)
  return 0


if __name__ == "__main__":
  sys.exit(main())
