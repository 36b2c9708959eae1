"""What a run on Kubeflow Pipelines is given, checked before any request: where it
goes (Target), what it executes (RunSpec: a compiled package and run parameters),
and the numbers KFP would refuse. Every problem is a ConfigError (exit code 2), so
input the server would reject never reaches it."""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from components.config import PipelineConfig
from components.errors import ConfigError
from pipelines.kubeflow import parameters

ENV_HOST = "KFP_HOST"
MAX_CONCURRENCY = (1, 10)  # what KFP's API server accepts for a recurring run


@dataclasses.dataclass(frozen=True)
class Target:
  """Where runs go: the API endpoint, the profile namespace and the experiment."""
  host: str | None
  namespace: str | None
  experiment: str


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """What a run executes: a compiled package (None: compile the config) and the
  run parameters the user set (the others keep the compiled defaults)."""
  package: str | None
  parameters: dict[str, str]
  pipeline_root: str | None = None


def validate_max_concurrency(n: int) -> int:
  lo, hi = MAX_CONCURRENCY
  if not lo <= n <= hi:
    raise ConfigError(f"--max-concurrency {n}: expected {lo} to {hi} (runs of the "
                      f"recurring run at the same time; KFP allows at most {hi})")
  return n


def _pod_path(flag: str, path: str) -> str:
  """A directory as the pipeline's pods see it: absolute, or a URI."""
  if path and not (path.startswith("/") or re.match(r"^[a-z][a-z0-9+.-]*://", path)):
    raise ConfigError(f"{flag} {path!r}: give the directory as the pipeline's pods see "
                      f"it: an absolute path on a mounted volume or a URI (gs://, s3://)")
  return path


def run_parameters(config: PipelineConfig, data_dir: str | None = None,
                   train_steps: int | None = None,
                   serving_dir: str | None = None) -> dict[str, str]:
  """The pipeline parameters (see compiler.run_parameters) for the flags given;
  parameters the user did not set are left out, so the compiled defaults apply."""
  params = {}
  if data_dir is not None:
    params["data_dir"] = _pod_path("--data-dir", data_dir)  # blank: the demo data
  if train_steps is not None:
    fewest = config.trainer.num_checkpoints
    if train_steps < fewest:
      raise ConfigError(f"--train-steps {train_steps}: must be at least "
                        f"trainer.num_checkpoints ({fewest}): every virtual epoch "
                        f"ends with a checkpoint")
    params["train_args"] = parameters.train_args(train_steps)
  if serving_dir is not None:
    if not serving_dir:
      raise ConfigError("--serving-dir: empty; give the directory models are pushed to")
    params["push_destination"] = parameters.push_destination(
        _pod_path("--serving-dir", serving_dir))
  return params


def check_package(path: str, parameters: dict[str, str]) -> None:
  """A compiled pipeline that declares every parameter about to be sent."""
  p = Path(path)
  where = f"--package {path}"
  if p.suffix not in (".yaml", ".yml"):
    raise ConfigError(f"{where}: expected a .yaml file written by `tpctl compile`")
  try:
    doc = next(yaml.safe_load_all(p.read_text()), None)
  except OSError as e:
    raise ConfigError(f"{where}: cannot read: {e.strerror}") from None
  except yaml.YAMLError:
    raise ConfigError(f"{where}: invalid YAML") from None
  try:
    json_format.ParseDict(doc, pipeline_spec_pb2.PipelineSpec())
    declared = set(doc["root"].get("inputDefinitions", {}).get("parameters", {}))
  except (json_format.ParseError, TypeError, KeyError, AttributeError) as e:
    raise ConfigError(f"{where}: not a KFP v2 pipeline spec "
                      f"({str(e).splitlines()[0] if str(e) else type(e).__name__})"
                      ) from None
  for name in parameters:
    if name not in declared:
      raise ConfigError(f"{where}: the pipeline has no parameter {name!r} (it has: "
                        f"{', '.join(sorted(declared)) or 'none'}); recompile it "
                        f"with `tpctl compile`")


# --- from the command line ----------------------------------------------------------

def target(args, config: PipelineConfig) -> Target:
  return Target(host=(args.host or os.environ.get(ENV_HOST) or None),
                namespace=args.namespace or None,
                experiment=args.experiment or config.pipeline_name)


def run_spec(args, config: PipelineConfig) -> RunSpec:
  params = run_parameters(config, data_dir=args.data_dir, train_steps=args.train_steps,
                          serving_dir=args.serving_dir)
  if args.package:
    if args.image:
      raise ConfigError("--image applies when compiling; it cannot change --package "
                        f"{args.package} (recompile with `tpctl compile --image`)")
    check_package(args.package, params)
  return RunSpec(package=args.package, parameters=params,
                 pipeline_root=args.pipeline_root or None)


def default_schedule_name(config: PipelineConfig) -> str:
  return f"{config.pipeline_name}-retraining"
