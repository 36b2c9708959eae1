"""tpctl: run the training-patterns pipeline.

  tpctl run [--config FILE]      run the whole pipeline locally (Beam DirectRunner)
  tpctl retrain [--config FILE]  run it only if new data (a new span) has arrived
  tpctl models [--config FILE]   list the pushed model versions (the registry)
  tpctl rollback VERSION         make an earlier version current again
  tpctl demo-retrain             retraining cycles on monthly spans of the demo data
  tpctl demo-memorize            memorise a simulator's grid, against the usual way
  tpctl compare-transfer         transfer-learning modes against training from scratch
  tpctl check [--config FILE]    only the pre-flight: config, data files, splits
  tpctl config [--config FILE]   print the effective configuration as YAML
  tpctl compile [-o FILE]        write the Kubeflow Pipelines v2 spec (YAML)
  tpctl submit [--host URL]      run the pipeline once on Kubeflow Pipelines
  tpctl schedule --cron CRON     create a recurring run (6-field cron, seconds first)
  tpctl unschedule [--name N]    delete that recurring run
  tpctl gpu-check                could TensorFlow use a GPU here? (CUDA libraries)
  tpctl flink up|down|status     a Flink cluster on this host for the Beam steps
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

# Keep TensorFlow's C++ start-up chatter (also in Beam workers) off the console.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from components.config import ConfigError, load_config  # noqa: E402
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
      "a summary at the end. A rerun in the same run directory reuses the steps whose "
      "inputs, settings and code are unchanged (shown as 'cached')."))
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
  retrain.add_argument("--no-cache", action="store_true", help=argparse.SUPPRESS)
  with_config(sub.add_parser(
      "models", help="list the model versions in the serving directory (the registry)",
      description="Newest first; * marks the current version (the one TF Serving "
      "serves: the highest number). Shows each version's metrics, data spans, "
      "checkpoint step, and whether it re-publishes an earlier version."))
  rollback = with_config(sub.add_parser(
      "rollback", help="make an earlier model version current again",
      description="Publishes a copy of VERSION as the new highest version, atomically "
      "(TF Serving serves the highest number, so this is the rollback it honours). The "
      "registry keeps retrain.keep_versions versions."))
  rollback.add_argument("version", type=int, metavar="VERSION")
  demo = with_config(sub.add_parser(
      "demo-retrain", help="demo: retraining cycles on monthly spans of the embedded data",
      description="Splits the embedded taxi data into monthly spans (2013-01 ... "
      "2016-12), reveals them a few months per cycle, and runs `retrain` each cycle: a "
      "rolling window of the newest spans, a warm start from the production model, and a "
      "push only when the candidate beats production. Ends with a table of the cycles."))
  demo.add_argument("--cycles", type=int, default=4, metavar="N",
                    help="retraining cycles (default: %(default)s)")
  demo.add_argument("--months-per-cycle", type=int, default=6, metavar="M",
                    help="new monthly spans per cycle (default: %(default)s)")
  with_config(sub.add_parser(
      "demo-memorize", help="demo: memorise a simulator's whole grid, against the usual way",
      description="Useful overfitting. Runs the pipeline twice on the same simulator grid "
      "(default: pipelines/configs/memorize_projectile.yaml, 29,141 points, about 15 "
      "minutes on 2 cores; memorize_heated_rod.yaml is quicker): memorising (every point "
      "trains and evaluates, no regularisation, no early stopping, blessed on the worst "
      "error) and the usual way (80/20 split, L2, early stopping). Scores both exported "
      "models on every grid point and prints a table; the error maps are PNGs."))
  transfer = with_config(sub.add_parser(
      "compare-transfer", help="compare transfer-learning modes on the same images",
      description="Runs the pipeline once on an image task (default: pipelines/configs/"
      "transfer_digits.yaml, 20 digits per class on ImageNet MobileNet v1), then trains "
      "each mode on its examples through the same training loop: scratch (the same "
      "network, random weights), feature_extraction (frozen base, cached bottleneck "
      "features), fine_tune (the head, then the top layers) and progressive (more layers "
      "per stage, each judged on eval data). Each run keeps its best checkpoint on the eval "
      "split; the table is test-split accuracy (median over seeds) and training time. A "
      "test split is added (6/2/2 buckets) if the config has none."))
  transfer.add_argument("--modes", default=",".join(("scratch", "feature_extraction",
                                                    "fine_tune", "progressive")),
                        help="comma-separated modes (default: %(default)s)")
  transfer.add_argument("--seeds", default="0", help="comma-separated trainer seeds; the "
                        "table shows the median (default: %(default)s)")
  with_config(sub.add_parser(
      "check", help="check the config and data without running anything",
      description="The pre-flight that `tpctl run` starts with, alone: reads the config "
      "and every data row the way Ingest will, and prints the files (rows, encoding), "
      "the columns used, and each split's size and class balance. Bad input is one "
      "line and exit code 2. Writes nothing and imports no TensorFlow."))
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
  comp.add_argument("--cpu-image", help="overrides kubeflow.cpu_image: the image (CPU "
                    "variant) of the steps that use no GPU")

  kfp_env = ("Endpoint: --host, else $KFP_HOST, else kfp's $KF_PIPELINES_ENDPOINT, "
             "in-cluster address or kubeconfig. Credentials: $KFP_TOKEN (bearer "
             "token), $KFP_COOKIES, $KFP_CA_CERT, else kfp's own (service account, "
             "kubeconfig). Exit codes: 2 bad input, 1 the server failed or refused.")

  def with_kfp(sp, runs=True):
    """Where the KFP API is; with `runs`, what the pipeline runs with."""
    with_config(sp)
    sp.add_argument("--host", metavar="URL", help="KFP API endpoint, e.g. "
                    "http://localhost:8888 (default: $KFP_HOST)")
    sp.add_argument("--namespace", metavar="NS",
                    help="Kubeflow profile namespace (multi-user deployments)")
    sp.add_argument("--experiment", metavar="NAME", help="experiment (default: the "
                    "config's pipeline_name; created when missing)")
    if runs:
      sp.add_argument("--package", metavar="FILE", help="a pipeline compiled by "
                      "`tpctl compile` (default: compile the config now)")
      sp.add_argument("--image", help="when compiling: overrides kubeflow.image")
      sp.add_argument("--cpu-image", help="when compiling: overrides kubeflow.cpu_image")
      sp.add_argument("--pipeline-root", metavar="URI", help="where the run's "
                      "artifacts go (default: the KFP deployment's)")
      sp.add_argument("--data-dir", metavar="DIR", help="CSV directory as the pods "
                      "see it (absolute path or URI; blank: the embedded demo data)")
      sp.add_argument("--train-steps", type=int, metavar="N",
                      help="training step budget (trainer.train_steps)")
      sp.add_argument("--serving-dir", metavar="DIR", help="where a blessed model is "
                      "pushed, as the pods see it")
    return sp

  submit = with_kfp(sub.add_parser(
      "submit", help="run the pipeline once on Kubeflow Pipelines", epilog=kfp_env,
      description="Compiles the pipeline (or takes --package) and creates a run. "
      "Run parameters not given keep the compiled defaults."))
  submit.add_argument("--run-name", metavar="NAME",
                      help="default: '<pipeline_name> <date time>'")
  sched = with_kfp(sub.add_parser(
      "schedule", help="create a recurring run on Kubeflow Pipelines", epilog=kfp_env,
      description="Compiles the pipeline (or takes --package) and creates a recurring "
      "run: periodic retraining. Each run reads the newest spans of --data-dir "
      "(data.spans), checks them for drift, warm-starts from the production model in the "
      "serving directory and pushes only a model that beats it (unlike `tpctl retrain`, "
      "a run with no new span still trains, and cannot beat production). Refuses when a "
      "recurring run of that name exists: unschedule it first."))
  sched.add_argument("--cron", required=True, metavar="CRON",
                     help="6 fields, seconds first: 'second minute hour day-of-month "
                     "month day-of-week', e.g. '0 0 3 * * *' (03:00 daily)")
  sched.add_argument("--max-concurrency", type=int, default=1, metavar="N",
                     help="runs of it at the same time, 1-10 (default: %(default)s)")
  sched.add_argument("--no-catchup", action="store_true",
                     help="after a pause, run once instead of once per missed time")
  unsched = with_kfp(sub.add_parser(
      "unschedule", help="delete a recurring run from Kubeflow Pipelines",
      epilog=kfp_env, description="Deletes the recurring run(s) of that name in "
      "the experiment."), runs=False)
  for sp in (sched, unsched):
    sp.add_argument("--name", metavar="NAME", help="recurring run name (default: "
                    "the config's pipeline_name + '-retraining')")
  gpu = sub.add_parser(
      "gpu-check", help="could TensorFlow use a GPU here? (checks every CUDA library)",
      description="Opens each CUDA library the way TensorFlow does on a GPU node "
      "(TensorFlow's own loader, then ctypes and ldd on every nvidia-* wheel library), "
      "so that an image is proven GPU-ready on a machine without a GPU. Prints the CUDA "
      "and cuDNN versions TensorFlow was built with, where each library was found, "
      "and whether the NVIDIA driver is present. Exit codes: 0 every library loads "
      "(the driver may be missing), 1 some library would not load on a GPU node.")
  gpu.add_argument("--json", action="store_true", help="one JSON object instead of text")
  flink = sub.add_parser(
      "flink", help="start, stop or check a Flink cluster on this host for the Beam steps",
      description="A standalone Flink session cluster on 127.0.0.1: a JobManager (REST "
      "API and web UI at http://127.0.0.1:8081), TaskManagers, a Beam job server "
      "(127.0.0.1:8099) and a Beam Python worker pool (127.0.0.1:50000), from what "
      "`make flink` installed under .cache/flink. `up` starts what is not running and "
      "waits until every TaskManager has registered; `down` stops every process it "
      "started, workers included; `status` checks each process and port. Then "
      "`tpctl run --flink` runs Ingest, StatisticsGen, Transform and the Evaluator "
      "on it. Exit codes: 0 done (status: ready), 1 status: not ready, 2 not "
      "installed or failed to start.")
  flink.add_argument("action", choices=["up", "down", "status"])
  flink.add_argument("--taskmanagers", type=int, default=2, metavar="N",
                     help="TaskManagers to start (default 2, two slots each)")
  flink.add_argument("--json", action="store_true", help="status as one JSON object")
  return p


def _load(args):
  overrides = {}
  if args.run_dir:
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


def _cmd_config(args) -> int:
  import yaml
  config = _load(args)
  # A file that reads back as this same config (`tpctl config > my.yaml`): run_dir as
  # the absolute path it is (a relative one would be read relative to the file), and
  # without step_view, which the pipeline sets on a step's view, never a file.
  effective = config.model_dump(mode="json", exclude={"step_view"})
  effective["run_dir"] = str(config.run_path)
  print(yaml.safe_dump(effective, sort_keys=False), end="")
  return 0


def _cmd_check(args) -> int:
  from pipelines import preflight
  print("\n".join(preflight.main_check(_load(args), args.config)))
  print("ok: a run would start with this data")
  return 0


def _cmd_run(args) -> int:
  from pipelines import local_runner
  config = _load(args)
  _print_summary(config, local_runner.run(config, cache=not args.no_cache,
                                          until=args.until))
  return 0


def _print_summary(config, summary) -> None:
  from pipelines.pipeline import blessing_metric_key  # TFX: after the pre-flight
  print("\n".join(["", "== summary =="] + summary.lines(
      blessing_metric_key(config), config.blessing_threshold())))


def _cmd_retrain(args) -> int:
  from pipelines import local_runner, retraining
  config = _load(args)
  summary = retraining.retrain(
      config, run=lambda c, say: local_runner.run(c, say, cache=not args.no_cache))
  if summary is not None:
    _print_summary(config, summary)
  return 0


def _cmd_models(args) -> int:
  from components.registry import store
  config = _load(args)
  lines = store.Registry(config.serving_path).table()
  print("\n".join(lines) if lines else f"no models in {config.serving_path}")
  return 0


def _cmd_rollback(args) -> int:
  from components.registry import store
  config = _load(args)
  entry = store.Registry(config.serving_path).rollback(
      args.version, keep=config.retrain.keep_versions)
  print(f"version {entry.version} is now current: a copy of version {args.version} "
        f"(checkpoint {entry.checkpoint_path})")
  return 0


def _cmd_demo_retrain(args) -> int:
  from pipelines import demo_retrain
  demo_retrain.main(args.config, args.run_dir, args.cycles, args.months_per_cycle)
  return 0


def _cmd_demo_memorize(args) -> int:
  from pipelines import memorize_comparison
  memorize_comparison.main(args.config, args.run_dir)
  return 0


def _cmd_compare_transfer(args) -> int:
  from pipelines import transfer_comparison
  modes = [m.strip() for m in args.modes.split(",") if m.strip()]
  unknown = sorted(set(modes) - set(transfer_comparison.MODES))
  if unknown:
    raise ConfigError(f"--modes: {unknown[0]!r} is not one of "
                      f"{', '.join(transfer_comparison.MODES)}")
  try:
    seeds = [int(s) for s in args.seeds.split(",")]
  except ValueError:
    raise ConfigError(f"--seeds: {args.seeds!r} is not a comma-separated list of "
                      f"integers") from None
  transfer_comparison.main(args.config, args.run_dir, modes, seeds)
  return 0


def _cmd_compile(args) -> int:
  config = _load(args)
  from pipelines.kubeflow.compiler import compile_pipeline
  try:
    path = compile_pipeline(config, args.output)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  cpu = f", CPU steps {config.kubeflow.cpu_image}" if config.kubeflow.cpu_image else ""
  print(f"wrote {path} (image {config.kubeflow.image}{cpu})")
  return 0


def _cmd_submit(args) -> int:
  from pipelines.kubeflow import client
  config = _load(args)
  client.submit(config, client.target(args, config), client.run_spec(args, config),
                run_name=args.run_name)
  return 0


def _cmd_schedule(args) -> int:
  from pipelines.kubeflow import client
  from pipelines.kubeflow.cron import validate_cron
  cron = validate_cron(args.cron)  # before anything else: no request is made
  client.validate_max_concurrency(args.max_concurrency)
  config = _load(args)
  client.schedule(config, client.target(args, config), client.run_spec(args, config),
                  name=args.name or client.default_schedule_name(config), cron=cron,
                  max_concurrency=args.max_concurrency, catchup=not args.no_catchup)
  return 0


def _cmd_gpu_check(args) -> int:
  from pipelines import gpu_check
  return gpu_check.main(["--json"] if args.json else [])


def _cmd_flink(args) -> int:
  import json
  from pipelines.flink import cluster
  c = cluster.default_cluster()
  c.taskmanagers = args.taskmanagers
  if args.action == "down":
    c.down()
    return 0
  status = c.up() if args.action == "up" else c.status()
  if args.json:
    print(json.dumps(status, sort_keys=True))
  else:
    print(f"flink: {'ready' if status['ready'] else 'NOT ready'}: {status['summary']}")
    if status["ready"]:
      print(f"  REST and web UI http://{status['address']}, job server "
            f"{status['job_server']}, worker pool {status['worker_pool']}")
  return 0 if status["ready"] else 1


def _cmd_unschedule(args) -> int:
  from pipelines.kubeflow import client
  config = _load(args)
  client.unschedule(client.target(args, config),
                    args.name or client.default_schedule_name(config))
  return 0


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  # Progress lines must reach `| tee`, nohup and CI logs while a step runs, not
  # when a block-sized buffer fills.
  sys.stdout.reconfigure(line_buffering=True)
  from components.errors import DataError
  from components.registry.store import RegistryError
  try:
    return {"run": _cmd_run, "retrain": _cmd_retrain, "models": _cmd_models,
            "rollback": _cmd_rollback, "demo-retrain": _cmd_demo_retrain,
            "demo-memorize": _cmd_demo_memorize,
            "compare-transfer": _cmd_compare_transfer, "check": _cmd_check, "config": _cmd_config,
            "compile": _cmd_compile, "submit": _cmd_submit, "schedule": _cmd_schedule,
            "unschedule": _cmd_unschedule, "gpu-check": _cmd_gpu_check,
            "flink": _cmd_flink}[args.command](args)
  except (ConfigError, DataError, RegistryError) as e:
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
