"""What most commands share: the --config flag (and --run-dir, on the commands that
read or write a run directory), and the config they load with the command's flags
applied as overrides (one place that maps a flag to its config key)."""
from __future__ import annotations

import os

from components.config import load_config
from components.errors import ConfigError


def with_config(sp, run_dir=True):
  """`run_dir`: whether the command uses a run directory on this host. The Kubeflow
  commands do not (the pods' paths are the kubeflow section's), so they refuse the
  flag rather than ignore it."""
  sp.add_argument("--config", metavar="FILE", help="pipeline config (YAML)")
  if run_dir:
    sp.add_argument("--run-dir", metavar="DIR",
                    help="overrides run_dir: pipeline root, metadata DB, logs, "
                    "checkpoints and serving directory live here")
  return sp


def load(args):
  """The config of --config, with the flags this command has applied over it."""
  overrides = {}
  if getattr(args, "run_dir", None):
    overrides["run_dir"] = os.path.abspath(args.run_dir)
  if getattr(args, "image", None):
    overrides["kubeflow.image"] = args.image
  if getattr(args, "cpu_image", None):
    overrides["kubeflow.cpu_image"] = args.cpu_image
  if getattr(args, "beam_workers", None) is not None:
    overrides["beam.workers"] = args.beam_workers
  if getattr(args, "beam_mode", None):
    overrides["beam.mode"] = args.beam_mode
  if getattr(args, "flink", None):
    overrides["beam.runner"] = "flink"
    overrides["beam.address"] = args.flink
  if getattr(args, "workers", None) is not None:
    overrides["trainer.workers"] = args.workers
  if getattr(args, "resume_from", None):
    overrides["trainer.resume_from"] = args.resume_from
  if getattr(args, "learning_rate", None) is not None:
    if not args.resume_from:
      raise ConfigError("--learning-rate goes with --resume-from (otherwise set "
                        "trainer.hyperparameters.learning_rate in the config)")
    overrides["trainer.resume_learning_rate"] = args.learning_rate
  return load_config(args.config, overrides)
