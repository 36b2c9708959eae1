"""tpctl's command line: the top-level parser, with each group of commands added
by the module that runs them (so a command's flags sit next to what it does). The
groups are added in the order `tpctl --help` lists the commands."""
from __future__ import annotations

import argparse

from pipelines.cli import demos, inspection, local_runs, models, on_kubeflow, this_host

EPILOG = """\
Configuration: a YAML file whose keys mirror `tpctl config` output; unknown keys
are errors. Without --config the embedded Chicago taxi data is used (label:
big_tipper, tip > 20% of the fare). Relative paths in a config file are relative
to that file. Exit codes: 0 success (even when the model was not blessed and
therefore not pushed), 2 bad input or config, 1 any other failure.
"""


def build() -> argparse.ArgumentParser:
  """Every command sets `handler`: the function that runs it, returning the exit code."""
  p = argparse.ArgumentParser(
      prog="tpctl", description="Train, evaluate and push a model with the "
      "training-patterns TFX pipeline.", epilog=EPILOG,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
  for group in (local_runs, models, demos, inspection, on_kubeflow, this_host):
    group.add_commands(sub)
  return p
