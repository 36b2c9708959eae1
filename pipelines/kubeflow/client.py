"""Runs the compiled pipeline on a Kubeflow Pipelines v2 backend with `kfp.Client`:
`tpctl submit` (one run), `tpctl schedule` and `tpctl unschedule` (a recurring run).

Where the API is: --host, else $KFP_HOST, else kfp's own $KF_PIPELINES_ENDPOINT;
without any of them kfp uses the in-cluster service address (inside a pod) or the
kubeconfig's API server proxy (from a workstation).

Credentials come from the environment, never from a file of ours or the command line:
  KFP_TOKEN    sent as `Authorization: Bearer <token>` (e.g. a service-account token
               or an OIDC id token)
  KFP_COOKIES  sent as the Cookie header (e.g. `authservice_session=...` behind
               Kubeflow's Dex/oauth2-proxy)
  KFP_CA_CERT  CA bundle that signs the endpoint's TLS certificate
Without them kfp uses its own: the pod's service-account token in-cluster, the
kubeconfig's credentials, ~/.config/kfp/context.json, or $KF_PIPELINES_IAP_OAUTH2_*.
Nothing here prints or logs a token or a cookie.

Every request runs through kfp 2.16's generated REST client (/apis/v2beta1/...). A
failed call is one line naming the host and what failed (KfpError, exit code 1;
kfp_api.py); input that the server would reject (a cron KFP cannot parse, a
concurrency it does not allow) is refused before any request (ConfigError, exit
code 2; run_inputs.py). This module holds the three operations.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from components.config import PipelineConfig
from components.errors import ConfigError
from pipelines.kubeflow import cron as cron_check
from pipelines.kubeflow.kfp_api import (
    KFP_ENDPOINT_ENV, calling, connect, ensure_experiment, find_experiment,
    find_recurring_runs, in_experiment)
from pipelines.kubeflow.run_inputs import RunSpec, Target, validate_max_concurrency

KFP_UI_ENV = "KF_PIPELINES_UI_ENDPOINT"  # kfp.Client's; read to print the same link


@contextlib.contextmanager
def _package(config: PipelineConfig, spec: RunSpec) -> Iterator[str]:
  if spec.package:
    yield spec.package
    return
  from pipelines.kubeflow.compiler import compile_pipeline
  print(f"compiling the pipeline (image {config.kubeflow.image}) ...", flush=True)
  with tempfile.TemporaryDirectory(prefix="tpctl-") as tmp:
    try:
      path = compile_pipeline(config, Path(tmp) / "pipeline.yaml")
    except ValueError as e:
      raise ConfigError(str(e)) from None
    yield str(path)


def _ui_link(host: str | None, route: str) -> str | None:
  """The UI page kfp prints for a run (it uses $KF_PIPELINES_UI_ENDPOINT or the host)."""
  ui = os.environ.get(KFP_UI_ENV) or host
  if not ui:
    return None
  if not ui.startswith(("http://", "https://")):
    ui = "http://" + ui
  return f"{ui.rstrip('/')}/#/{route}"


def _describe_parameters(params: dict[str, str]) -> str:
  if not params:
    return "parameters: the compiled defaults"
  return "parameters: " + "  ".join(f"{k}={v}" for k, v in sorted(params.items()))


def submit(config: PipelineConfig, t: Target, spec: RunSpec,
           run_name: str | None = None) -> str:
  """Creates one run; returns its id."""
  client, where = connect(t)
  experiment = find_experiment(client, where, t)
  with _package(config, spec) as package:
    experiment = ensure_experiment(client, where, t, experiment)
    name = run_name or (f"{config.pipeline_name} "
                        f"{datetime.datetime.now():%Y-%m-%d %H-%M-%S}")
    with calling(where, "creating the run"):
      run = client.run_pipeline(
          experiment_id=experiment.experiment_id, job_name=name,
          pipeline_package_path=package, params=spec.parameters,
          pipeline_root=spec.pipeline_root)
  print(f"submitted run {name!r}: id {run.run_id} in {in_experiment(t)}")
  print(_describe_parameters(spec.parameters))
  link = _ui_link(t.host or os.environ.get(KFP_ENDPOINT_ENV), f"runs/details/{run.run_id}")
  if link:
    print(f"run details: {link}")
  return run.run_id


def schedule(config: PipelineConfig, t: Target, spec: RunSpec, *, name: str, cron: str,
             max_concurrency: int = 1, catchup: bool = True) -> str:
  """Creates the recurring run `name`, refusing when one of that name exists."""
  cron = cron_check.validate_cron(cron)
  validate_max_concurrency(max_concurrency)
  client, where = connect(t)
  experiment = find_experiment(client, where, t)
  if experiment is not None:
    existing = find_recurring_runs(client, where, experiment.experiment_id, name)
    if existing:
      ids = ", ".join(r.recurring_run_id for r in existing)
      raise ConfigError(
          f"recurring run {name!r} already exists in {in_experiment(t)} (id {ids}); remove it "
          f"first with `tpctl unschedule --name {name}`, or give another --name")
  with _package(config, spec) as package:
    experiment = ensure_experiment(client, where, t, experiment)
    with calling(where, f"creating recurring run {name!r}"):
      job = client.create_recurring_run(
          experiment_id=experiment.experiment_id, job_name=name,
          description=f"{config.pipeline_name}: retraining on cron '{cron}' (tpctl)",
          cron_expression=cron, max_concurrency=max_concurrency,
          no_catchup=not catchup, params=spec.parameters,
          pipeline_package_path=package, pipeline_root=spec.pipeline_root,
          enabled=True)
  print(f"scheduled recurring run {name!r}: id {job.recurring_run_id} in {in_experiment(t)}")
  print(f"cron '{cron}' ({cron_check.CRON_LAYOUT}; the KFP scheduler's time zone), "
        f"max concurrency {max_concurrency}, catch-up {'on' if catchup else 'off'}")
  print(_describe_parameters(spec.parameters))
  link = _ui_link(t.host or os.environ.get(KFP_ENDPOINT_ENV),
                  f"recurringrun/details/{job.recurring_run_id}")
  if link:
    print(f"recurring run details: {link}")
  return job.recurring_run_id


def unschedule(t: Target, name: str) -> list[str]:
  """Deletes every recurring run named `name` in the experiment; returns their ids."""
  client, where = connect(t)
  experiment = find_experiment(client, where, t)
  runs = (find_recurring_runs(client, where, experiment.experiment_id, name)
          if experiment is not None else [])
  if not runs:
    missing = "" if experiment is not None else " (the experiment does not exist)"
    raise ConfigError(f"no recurring run named {name!r} in {in_experiment(t)}{missing}; "
                      f"nothing to remove")
  for run in runs:
    with calling(where, f"deleting recurring run {name!r} (id {run.recurring_run_id})"):
      client.delete_recurring_run(run.recurring_run_id)
    print(f"deleted recurring run {name!r}: id {run.recurring_run_id} in {in_experiment(t)}")
  return [r.recurring_run_id for r in runs]
