"""`tpctl compile`, `submit`, `schedule` and `unschedule`: the pipeline on Kubeflow
Pipelines, compiled here and run by a KFP backend."""
from __future__ import annotations

from components.errors import ConfigError
from pipelines.cli.options import load, with_config

_KFP_ENV = ("Endpoint: --host, else $KFP_HOST, else kfp's $KF_PIPELINES_ENDPOINT, "
            "in-cluster address or kubeconfig. Credentials: $KFP_TOKEN (bearer "
            "token), $KFP_COOKIES, $KFP_CA_CERT, else kfp's own (service account, "
            "kubeconfig). Exit codes: 2 bad input, 1 the server failed or refused.")


def add_commands(sub) -> None:
  _add_compile(sub)
  submit = _with_kfp(sub.add_parser(
      "submit", help="run the pipeline once on Kubeflow Pipelines", epilog=_KFP_ENV,
      description="Compiles the pipeline (or takes --package) and creates a run. "
      "Run parameters not given keep the compiled defaults."))
  submit.set_defaults(handler=_submit)
  submit.add_argument("--run-name", metavar="NAME",
                      help="default: '<pipeline_name> <date time>'")
  sched = _add_schedule(sub)
  unsched = _with_kfp(sub.add_parser(
      "unschedule", help="delete a recurring run from Kubeflow Pipelines",
      epilog=_KFP_ENV, description="Deletes the recurring run(s) of that name in "
      "the experiment."), runs=False)
  unsched.set_defaults(handler=_unschedule)
  for sp in (sched, unsched):
    sp.add_argument("--name", metavar="NAME", help="recurring run name (default: "
                    "the config's pipeline_name + '-retraining')")


def _add_compile(sub) -> None:
  comp = with_config(sub.add_parser(
      "compile", help="compile the pipeline for Kubeflow Pipelines v2 (YAML)",
      description="Writes the pipeline spec that `kfp.Client` uploads and runs: every "
      "step with its image and resources (GPUs on the Tuner and Trainer), the "
      "volumes, tolerations and node selectors (kubeflow section of the config), "
      "and the run parameters data_dir, train_args and push_destination."), run_dir=False)
  comp.set_defaults(handler=_compile)
  comp.add_argument("-o", "--output", metavar="FILE", default="pipeline.yaml",
                    help="output file, .yaml (default: %(default)s)")
  comp.add_argument("--image", help="overrides kubeflow.image: the image every step runs")
  comp.add_argument("--cpu-image", help="overrides kubeflow.cpu_image: the image (CPU "
                    "variant) of the steps that use no GPU")


def _add_schedule(sub):
  sched = _with_kfp(sub.add_parser(
      "schedule", help="create a recurring run on Kubeflow Pipelines", epilog=_KFP_ENV,
      description="Compiles the pipeline (or takes --package) and creates a recurring "
      "run: periodic retraining. Each run reads the newest spans of --data-dir "
      "(data.spans), checks them for drift, warm-starts from the production model in the "
      "serving directory and pushes only a model that beats it (unlike `tpctl retrain`, "
      "a run with no new span still trains, and cannot beat production). Refuses when a "
      "recurring run of that name exists: unschedule it first."))
  sched.set_defaults(handler=_schedule)
  sched.add_argument("--cron", required=True, metavar="CRON",
                     help="6 fields, seconds first: 'second minute hour day-of-month "
                     "month day-of-week', e.g. '0 0 3 * * *' (03:00 daily)")
  sched.add_argument("--max-concurrency", type=int, default=1, metavar="N",
                     help="runs of it at the same time, 1-10 (default: %(default)s)")
  sched.add_argument("--no-catchup", action="store_true",
                     help="after a pause, run once instead of once per missed time")
  return sched


def _with_kfp(sp, runs=True):
  """Where the KFP API is; with `runs`, what the pipeline runs with."""
  with_config(sp, run_dir=False)
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


def _compile(args) -> int:
  config = load(args)
  from pipelines.kubeflow.compiler import compile_pipeline
  try:
    path = compile_pipeline(config, args.output)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  cpu = f", CPU steps {config.kubeflow.cpu_image}" if config.kubeflow.cpu_image else ""
  print(f"wrote {path} (image {config.kubeflow.image}{cpu})")
  return 0


def _submit(args) -> int:
  from pipelines.kubeflow import client, run_inputs
  config = load(args)
  client.submit(config, run_inputs.target(args, config), run_inputs.run_spec(args, config),
                run_name=args.run_name)
  return 0


def _schedule(args) -> int:
  from pipelines.kubeflow import client, run_inputs
  from pipelines.kubeflow.cron import validate_cron
  cron = validate_cron(args.cron)  # before anything else: no request is made
  run_inputs.validate_max_concurrency(args.max_concurrency)
  config = load(args)
  client.schedule(config, run_inputs.target(args, config), run_inputs.run_spec(args, config),
                  name=args.name or run_inputs.default_schedule_name(config), cron=cron,
                  max_concurrency=args.max_concurrency, catchup=not args.no_catchup)
  return 0


def _unschedule(args) -> int:
  from pipelines.kubeflow import client, run_inputs
  config = load(args)
  client.unschedule(run_inputs.target(args, config),
                    args.name or run_inputs.default_schedule_name(config))
  return 0
