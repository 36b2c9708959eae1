"""tpctl: run the training-patterns pipeline.

  tpctl run [--config FILE]      run the whole pipeline locally (Beam DirectRunner)
  tpctl config [--config FILE]   print the effective configuration as YAML
  tpctl compile [-o FILE]        write the Kubeflow Pipelines v2 spec (YAML)
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

# Keep TensorFlow's C++ start-up chatter (also in Beam workers) off the console.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pipelines.config import ConfigError, load_config  # noqa: E402
from pipelines.errors import PipelineFailed  # noqa: E402

EPILOG = """\
Configuration: a YAML file whose keys mirror `tpctl config` output; unknown keys
are errors. Without --config the embedded Chicago taxi data is used (label:
big_tipper, tip > 20% of the fare). Relative paths in a config file are relative
to that file. Exit codes: 0 success (even when the model was not blessed and
therefore not pushed), 2 bad input or config, 1 any other failure.
"""


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(
      prog="tpctl", description="Train, evaluate and push a model with the "
      "training-patterns TFX pipeline.", epilog=EPILOG,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

  def with_config(sp):
    sp.add_argument("--config", metavar="FILE", help="pipeline config (YAML)")
    sp.add_argument("--run-dir", metavar="DIR",
                    help="overrides run_dir: pipeline root, metadata DB, logs, "
                    "checkpoints and serving directory live here")
    return sp

  run = with_config(sub.add_parser(
      "run", help="run the whole pipeline locally on the Beam DirectRunner",
      description="Ingest, transform, tune, train with checkpoints, pick the best "
      "checkpoint, evaluate and push if blessed. Prints progress per component and "
      "a summary at the end."))
  run.add_argument("--beam-workers", type=int, metavar="N",
                   help="Beam DirectRunner worker processes (default: cores - 1)")
  run.add_argument("--resume-from", metavar="CKPT",
                   help="fine-tune: start from a checkpoint of an earlier training run: "
                   "'latest', a step of the latest run, or a checkpoint path")
  run.add_argument("--learning-rate", type=float, metavar="LR",
                   help="with --resume-from: the new learning rate")
  with_config(sub.add_parser("config", help="print the effective configuration as YAML"))
  comp = with_config(sub.add_parser(
      "compile", help="compile the pipeline for Kubeflow Pipelines v2 (YAML)",
      description="Writes the pipeline spec that `kfp.Client` uploads and runs: every "
      "step with its image and resources (GPUs on the Tuner and Trainer), the "
      "volumes, tolerations and node selectors (kubeflow section of the config), "
      "and the run parameters data_dir, train_args and push_destination."))
  comp.add_argument("-o", "--output", metavar="FILE", default="pipeline.yaml",
                    help="output file, .yaml (default: %(default)s)")
  comp.add_argument("--image", help="overrides kubeflow.image: the image every step runs")
  return p


def _load(args):
  overrides = {}
  if args.run_dir:
    overrides["run_dir"] = os.path.abspath(args.run_dir)
  if getattr(args, "image", None):
    overrides["kubeflow.image"] = args.image
  if getattr(args, "beam_workers", None) is not None:
    overrides["beam_workers"] = args.beam_workers
  if getattr(args, "resume_from", None):
    overrides["trainer.resume_from"] = args.resume_from
  if getattr(args, "learning_rate", None) is not None:
    if not args.resume_from:
      raise ConfigError("--learning-rate goes with --resume-from (otherwise set "
                        "trainer.hyperparameters.learning_rate in the config)")
    overrides["trainer.resume_learning_rate"] = args.learning_rate
  return load_config(args.config, overrides)


def _cmd_config(args) -> int:
  import yaml
  print(yaml.safe_dump(_load(args).model_dump(mode="json"), sort_keys=False), end="")
  return 0


def _cmd_run(args) -> int:
  from pipelines import local_runner
  from pipelines.pipeline import blessing_metric_key
  config = _load(args)
  summary = local_runner.run(config)
  print("\n".join(["", "== summary =="] + summary.lines(
      blessing_metric_key(config), config.blessing_threshold())))
  return 0


def _cmd_compile(args) -> int:
  config = _load(args)
  from pipelines.kubeflow.compiler import compile_pipeline
  try:
    path = compile_pipeline(config, args.output)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  print(f"wrote {path} (image {config.kubeflow.image})")
  return 0


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  from components.csv_ingest.errors import DataError
  try:
    return {"run": _cmd_run, "config": _cmd_config,
            "compile": _cmd_compile}[args.command](args)
  except (ConfigError, DataError) as e:
    print(f"tpctl: error: {e}", file=sys.stderr)
    return 2
  except PipelineFailed as e:
    print(f"tpctl: error: {e}", file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    print("tpctl: interrupted", file=sys.stderr)
    return 130
  except Exception as e:  # outside any component: still one line, then details
    last = traceback.extract_tb(e.__traceback__)[-1]
    print(f"tpctl: error: {type(e).__name__}: {(str(e).splitlines() or [''])[0]} "
          f"(at {os.path.basename(last.filename)}:{last.lineno})", file=sys.stderr)
    return 1


if __name__ == "__main__":
  sys.exit(main())
