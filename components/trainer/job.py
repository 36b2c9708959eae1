"""Training outside the pipeline: one worker of a TFJob, or one Katib trial.

    python -m components.trainer.job --config FILE --examples DIR \\
        --transform-graph DIR [--hp learning_rate=0.01 --hp units=64 --hp num_layers=2]

It runs the Trainer step's own loop (same checkpoints, same resume) on the
artifacts of an earlier pipeline run: the Ingest step's examples and the
Transform step's graph. Under a TFJob, TF_CONFIG names the workers and the
strategy becomes MultiWorkerMirrored; only the chief writes checkpoints. It ends
by printing the final eval metrics as `eval_<name>=<value>` lines, the format
Katib's StdOut metrics collector reads.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

from components.config import ConfigError, load_config


def _hp(text: str) -> tuple[str, str]:
  name, sep, value = text.partition("=")
  if not sep or not name:
    raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
  return name, value


def _check_artifacts(examples: str, transform_graph: str) -> None:
  """Wrong paths are the likely mistake in a TFJob/Katib template: say which."""
  import tensorflow as tf
  for split in ("train", "eval"):
    if not tf.io.gfile.glob(os.path.join(examples, f"Split-{split}", "*")):
      raise ConfigError(f"--examples {examples}: no Split-{split}/ files; expected the "
                        f"Ingest step's examples artifact")
  if not tf.io.gfile.isdir(os.path.join(transform_graph, "transform_fn")):
    raise ConfigError(f"--transform-graph {transform_graph}: no transform_fn/; expected "
                      f"the Transform step's transform_graph artifact")


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m components.trainer.job",
                              description=__doc__.split("\n\n")[0])
  p.add_argument("--config", required=True, help="pipeline config (YAML)")
  p.add_argument("--examples", required=True,
                 help="the Ingest step's examples artifact (with Split-train, Split-eval)")
  p.add_argument("--transform-graph", required=True,
                 help="the Transform step's transform_graph artifact")
  p.add_argument("--hp", type=_hp, action="append", default=[], metavar="NAME=VALUE",
                 help="tuner values: learning_rate, units, num_layers (units and "
                 "num_layers go together)")
  args = p.parse_args(argv)
  try:
    config = load_config(args.config)
    _check_artifacts(args.examples, args.transform_graph)
  except ConfigError as e:
    print(f"job: error: {e}", file=sys.stderr)
    return 2

  import tensorflow_transform as tft

  from components import hyperparameters
  from components.trainer import data, module
  hp = hyperparameters.from_values(dict(args.hp), config.trainer.hyperparameters)
  say = lambda msg: print(f"[trainer] {msg}", flush=True)  # noqa: E731
  record = module.train(config, hp, tft.TFTransformOutput(args.transform_graph),
                        data.split_pattern(args.examples, "train"),
                        data.split_pattern(args.examples, "eval"),
                        config.checkpoint_root, tempfile.mkdtemp(prefix="job-logs-"), say)
  for name, value in record.history[-1]["eval"].items():
    print(f"eval_{name}={value:.6f}", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
