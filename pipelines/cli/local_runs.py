"""`tpctl run` and `tpctl retrain`: the pipeline on this machine, each ending with
the run's summary."""
from __future__ import annotations

import argparse

from pipelines.cli.options import load, with_config


def add_commands(sub) -> None:
  run = with_config(sub.add_parser(
      "run", help="run the whole pipeline on this host",
      description="Ingest, transform, tune, train with checkpoints, pick the best "
      "checkpoint, evaluate and push if blessed. The Beam steps (Ingest, statistics, "
      "Transform, evaluation) run on Beam's direct runner, in this process or in worker "
      "processes (--beam-mode), or on a Flink cluster (--flink); the Tuner and Trainer "
      "run TensorFlow on this host. Prints progress per component and "
      "a summary at the end. A rerun in the same run directory reuses the steps whose "
      "inputs, settings and code are unchanged (shown as 'cached'), and a Trainer that "
      "was stopped resumes from its latest checkpoint."))
  run.set_defaults(handler=_run)
  run.add_argument("--beam-mode", choices=["auto", "in_process", "multi_processing"],
                   help="how the Beam steps run: in this process (fast for small data), "
                   "in worker processes, or auto: by input size, see beam.in_process_max_mb "
                   "(default: beam.mode in the config, auto)")
  run.add_argument("--flink", nargs="?", const="127.0.0.1:8081", metavar="HOST:PORT",
                   help="run the Beam steps on the Flink cluster whose REST API is at "
                   "HOST:PORT (default: the one `tpctl flink up` starts, 127.0.0.1:8081); "
                   "same as beam.runner flink and beam.address in the config")
  run.add_argument("--beam-workers", type=int, metavar="N",
                   help="multi_processing: Beam worker processes (default: cores - 1)")
  run.add_argument("--until", metavar="STEP",
                   help="run STEP and only the steps it needs, e.g. --until Transform "
                   "for the data steps (Ingest, StatisticsGen, SchemaGen, Transform)")
  run.add_argument("--no-cache", action="store_true",
                   help="run every step, even those whose inputs, settings and code are "
                   "unchanged since an earlier run in this run directory (by default they "
                   "are reused and shown as 'cached')")
  run.add_argument("--workers", type=int, metavar="N",
                   help="train with N worker processes on this host (MultiWorkerMirrored, "
                   "or parameter-server training with trainer.strategy parameter_server); "
                   "default: trainer.workers in the config, 1")
  run.add_argument("--resume-from", metavar="CKPT",
                   help="fine-tune: start from a checkpoint of an earlier training run: "
                   "'latest', a step of the latest run, or a checkpoint path")
  run.add_argument("--learning-rate", type=float, metavar="LR",
                   help="with --resume-from: the new learning rate")
  retrain = with_config(sub.add_parser(
      "retrain", help="run the pipeline if new data has arrived since the last run",
      description="For cron, the k8s CronJob and scheduled runs. Compares the files the "
      "run would read (the newest spans in data.spans' window, or a flat directory) with "
      "those of the last finished run in this run directory. Unchanged: says so and "
      "exits 0 at once. Changed: runs the pipeline, which warm-starts from the production "
      "model (retrain.warm_start), checks new spans for drift against production's data, "
      "and pushes only a candidate that beats production (evaluator.min_improvement)."))
  retrain.set_defaults(handler=_retrain)
  retrain.add_argument("--no-cache", action="store_true", help=argparse.SUPPRESS)


def _run(args) -> int:
  from pipelines import local_runner
  config = load(args)
  _print_summary(config, local_runner.run(config, cache=not args.no_cache,
                                          until=args.until))
  return 0


def _retrain(args) -> int:
  from pipelines import local_runner, retraining
  config = load(args)
  summary = retraining.retrain(
      config, run=lambda c, say: local_runner.run(c, say, cache=not args.no_cache))
  if summary is not None:
    _print_summary(config, summary)
  return 0


def _print_summary(config, summary) -> None:
  from components.blessing import policy  # TFX: after the pre-flight
  print("\n".join(["", "== summary =="] + summary.lines(
      policy.metric_key(config), policy.threshold(config))))
