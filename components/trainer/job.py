"""Training outside the Trainer's own process: one replica of a distributed run
(a local worker process or a TFJob pod), or one Katib trial.

    python -m components.trainer.job --config FILE --examples DIR \\
        --transform-graph DIR [--hp learning_rate=0.01 --hp units=64 --hp num_layers=2]

It runs the Trainer step's own loop (same checkpoints, same resume) on the
artifacts of a pipeline run: the Ingest step's examples and the Transform step's
graph. TF_CONFIG (set by the local launcher, or by the Training Operator in a
TFJob) says which replica this process is:

- a worker of MultiWorkerMirrored training: trains; only the chief writes;
- with strategy parameter_server, a `ps` or `worker`: serves variables or steps
  until the coordinator (task `chief`) ends, and the coordinator trains.

The Trainer step passes the config and hyperparameters as JSON, the checkpoint
directory it resolved, and where the chief writes the training record. The job
ends by printing the final eval metrics as `eval_<name>=<value>` lines, the
format Katib's StdOut metrics collector reads.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

from components import progress
from components.config import ConfigError, PipelineConfig, Strategy, load_config
from components.trainer.inputs import TrainInputs


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


def command(inputs: TrainInputs, examples: str, transform_graph: str, record: str,
            python: str = "python") -> list[str]:
  """The command every replica of a distributed Trainer step runs: `inputs` (in
  their chosen checkpoint directory) on these artifacts; the chief writes the
  training record at `record`."""
  cmd = [python, "-m", "components.trainer.job", "--config-json", inputs.config.to_json(),
         "--examples", examples, "--transform-graph", transform_graph,
         "--hp-json", inputs.hp.model_dump_json(), "--checkpoint-dir", inputs.checkpoint_dir,
         "--log-dir", inputs.log_dir, "--record", record]
  return cmd + (["--warm-start", inputs.warm_start] if inputs.warm_start else [])


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m components.trainer.job",
                              description=__doc__.split("\n\n")[0])
  source = p.add_mutually_exclusive_group(required=True)
  source.add_argument("--config", help="pipeline config (YAML)")
  source.add_argument("--config-json", help="pipeline config as JSON (from the Trainer step)")
  p.add_argument("--examples", required=True,
                 help="the Ingest step's examples artifact (with Split-train, Split-eval)")
  p.add_argument("--transform-graph", required=True,
                 help="the Transform step's transform_graph artifact")
  p.add_argument("--hp", type=_hp, action="append", default=[], metavar="NAME=VALUE",
                 help="tuner values: learning_rate, units, num_layers (units and "
                 "num_layers go together)")
  p.add_argument("--hp-json", help="model hyperparameters as JSON (from the Trainer step)")
  p.add_argument("--checkpoint-dir",
                 help="train in this directory (default: the stable directory for these "
                 "inputs under the config's checkpoint root)")
  p.add_argument("--warm-start", help="a checkpoint to fine-tune from when the directory "
                 "is empty (the Trainer step resolves trainer.resume_from to it)")
  p.add_argument("--log-dir", help="TensorBoard logs (default: a temporary directory)")
  p.add_argument("--record", help="the chief writes the training record (JSON) here")
  return p


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  try:
    config = (PipelineConfig.from_json(args.config_json) if args.config_json
              else load_config(args.config))
  except (ConfigError, ValueError) as e:
    print(f"job: error: {str(e).splitlines()[0]}", file=sys.stderr)
    return 2

  from components.trainer import strategy as strategy_lib
  if (config.trainer.strategy == Strategy.PARAMETER_SERVER
      and strategy_lib.task_type() in ("ps", "worker")):
    strategy_lib.serve_forever()  # until the coordinator's launcher stops it
  if strategy_lib.task_type():
    strategy_lib.choose(config.trainer.strategy)  # before any other TensorFlow op
  try:
    _check_artifacts(args.examples, args.transform_graph)
  except ConfigError as e:
    print(f"job: error: {e}", file=sys.stderr)
    return 2

  import tensorflow_transform as tft

  from components import hyperparameters
  from components.config import HyperParameters
  from components.trainer import checkpoint_dirs, data, loop, train_record
  base = config.trainer.hyperparameters
  hp = (HyperParameters.model_validate_json(args.hp_json) if args.hp_json
        else hyperparameters.from_values(dict(args.hp), base))
  inputs = TrainInputs(config, hp, tft.TFTransformOutput(args.transform_graph),
                       data.split_pattern(args.examples, "train"),
                       data.split_pattern(args.examples, "eval"), args.checkpoint_dir or "",
                       args.log_dir or tempfile.mkdtemp(prefix="job-logs-"),
                       progress=progress.speaker("trainer"), warm_start=args.warm_start)
  # A replica trains itself: it never launches replicas of its own.
  if not inputs.checkpoint_dir:
    inputs = checkpoint_dirs.choose(inputs, config.checkpoint_root)
    inputs.progress(f"checkpoints: {inputs.checkpoint_dir}")
  record = loop.train(inputs)
  if args.record and record.is_chief:
    train_record.write(record, args.record)
  for name, value in record.history[-1]["eval"].items():
    print(f"eval_{name}={value:.6f}", flush=True)
  if config.trainer.strategy == Strategy.PARAMETER_SERVER:
    # The coordinator's work is written and printed. TensorFlow's ClusterCoordinator
    # keeps threads that now and then abort the interpreter's teardown ("terminate
    # called after throwing an instance of ... FATAL: exception not rethrown", seen
    # on a rerun with nothing left to train), which would fail a finished job: leave
    # without that teardown.
    sys.stderr.flush()
    os._exit(0)
  return 0


if __name__ == "__main__":
  sys.exit(main())
