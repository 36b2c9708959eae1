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
failed call is one line naming the host and what failed (KfpError, exit code 1);
input that the server would reject (a cron KFP cannot parse, a concurrency it does
not allow) is refused before any request (ConfigError, exit code 2).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import io
import json
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import kfp
import kfp_server_api
import urllib3
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from components.config import ConfigError, PipelineConfig
from pipelines.errors import PipelineFailed
from pipelines.kubeflow import cron as cron_check
from pipelines.kubeflow import parameters

ENV_HOST = "KFP_HOST"
ENV_TOKEN = "KFP_TOKEN"
ENV_COOKIES = "KFP_COOKIES"
ENV_CA_CERT = "KFP_CA_CERT"
# kfp.Client reads these itself; only consulted here to name the host in messages.
KFP_ENDPOINT_ENV = "KF_PIPELINES_ENDPOINT"
KFP_UI_ENV = "KF_PIPELINES_UI_ENDPOINT"

MAX_CONCURRENCY = (1, 10)  # what KFP's API server accepts for a recurring run
PAGE_SIZE = 100  # list requests

class KfpError(PipelineFailed):
  """A request to the KFP API failed; the message names the host and the step."""


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


# --- input checks (no network) ----------------------------------------------------

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


# --- talking to KFP ------------------------------------------------------------------

class _Client(kfp.Client):
  """kfp.Client, except that the health check its constructor makes (when no
  namespace is set) is one attempt: kfp retries five times, 5 s apart, printing a
  traceback each time, before reporting e.g. a rejected token."""

  def get_kfp_healthz(self, sleep_duration: int = 5):
    return self.healthzs.healthz_service_get_healthz()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
  """kfp.Client warns on construction and prints links; tpctl prints its own lines.
  urllib3 would log every connection retry."""
  log = logging.getLogger("urllib3")
  level = log.level
  log.setLevel(logging.ERROR)
  try:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
      warnings.simplefilter("ignore", FutureWarning)
      warnings.simplefilter("ignore", DeprecationWarning)
      yield
  finally:
    log.setLevel(level)


@contextlib.contextmanager
def _calling(where: str, what: str) -> Iterator[None]:
  """Any failure of the request(s) inside becomes one line: host, step, cause."""
  try:
    with _quiet():
      yield
  except kfp_server_api.ApiException as e:
    raise KfpError(f"{where}: {what}: {_http_error(e)}") from None
  except urllib3.exceptions.HTTPError as e:
    raise KfpError(f"{where}: {what}: {_connection_error(e)}") from None
  except ConfigError:
    raise
  except (ValueError, OSError) as e:
    raise KfpError(f"{where}: {what}: {_first_line(e)}") from None


def _first_line(e: BaseException, limit: int = 200) -> str:
  text = (str(e).strip().splitlines() or [type(e).__name__])[0]
  return text if len(text) <= limit else text[:limit] + "..."


def _http_error(e) -> str:
  if not e.status:  # TLS failures and the like: no HTTP response at all
    return _first_line(Exception(str(e.reason).replace("\n", ": ")))
  message = ""
  try:
    body = json.loads(e.body)
    message = body.get("message") or body.get("error") or ""
  except (TypeError, ValueError, AttributeError):
    message = e.body.decode(errors="replace") if isinstance(e.body, bytes) else ""
  text = f"HTTP {e.status} {e.reason or ''}".rstrip()
  if message.strip():
    text += f": {_first_line(Exception(message))}"
  if e.status in (401, 403):
    text += f" (credentials: ${ENV_TOKEN}, ${ENV_COOKIES} or kubeconfig)"
  return text


def _connection_error(e) -> str:
  reason = str(getattr(e, "reason", None) or e)
  found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", reason)
  if found:
    return f"cannot connect ({found.group(1).strip()})"
  return f"cannot connect ({_first_line(Exception(reason))})"


def _in_cluster() -> bool:
  return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _has_kubeconfig() -> bool:
  paths = os.environ.get("KUBECONFIG", "").split(os.pathsep) or []
  paths.append(os.path.expanduser("~/.kube/config"))
  return any(p and os.path.isfile(p) for p in paths)


def connect(t: Target) -> tuple[kfp.Client, str]:
  """A kfp.Client for the target, and the host's name for messages."""
  host = t.host or os.environ.get(KFP_ENDPOINT_ENV) or None
  if not host and not _in_cluster() and not _has_kubeconfig():
    raise ConfigError(f"no Kubeflow Pipelines endpoint: give --host URL or set "
                      f"${ENV_HOST} (e.g. http://localhost:8888 after `kubectl "
                      f"port-forward -n kubeflow svc/ml-pipeline 8888`)")
  ca_cert = os.environ.get(ENV_CA_CERT) or None
  if ca_cert and not os.path.isfile(ca_cert):
    raise ConfigError(f"${ENV_CA_CERT} {ca_cert}: no such file")
  where = host.rstrip("/") if host else "KFP API (in-cluster or kubeconfig)"
  with _calling(where, "connecting"):
    client = _Client(host=host, namespace=t.namespace or "kubeflow",
                     existing_token=os.environ.get(ENV_TOKEN) or None,
                     cookies=os.environ.get(ENV_COOKIES) or None, ssl_ca_cert=ca_cert)
  if not host:  # found by kfp: name what it found
    where = getattr(getattr(client, "_existing_config", None), "host", None) or where
  return client, where


def _name_filter(name: str) -> str:
  return json.dumps({"predicates": [
      {"operation": "EQUALS", "key": "display_name", "stringValue": name}]})


def _in(t: Target) -> str:
  return f"experiment {t.experiment!r}" + (f" (namespace {t.namespace})"
                                           if t.namespace else "")


def find_experiment(client: kfp.Client, where: str, t: Target):
  """The experiment named t.experiment in t.namespace, or None."""
  with _calling(where, f"looking up {_in(t)}"):
    response = client.list_experiments(filter=_name_filter(t.experiment),
                                       namespace=t.namespace, page_size=PAGE_SIZE)
  found = [e for e in response.experiments or [] if e.display_name == t.experiment]
  if len(found) > 1:
    raise KfpError(f"{where}: {len(found)} experiments named {t.experiment!r}; "
                   f"give --experiment a unique name")
  return found[0] if found else None


def _ensure_experiment(client: kfp.Client, where: str, t: Target, existing):
  if existing is not None:
    return existing
  with _calling(where, f"creating {_in(t)}"):
    experiment = client.experiments.experiment_service_create_experiment(
        experiment=kfp_server_api.V2beta1Experiment(
            display_name=t.experiment, namespace=t.namespace,
            description="Runs of the training-patterns pipeline (tpctl)"))
  print(f"created {_in(t)}: id {experiment.experiment_id}")
  return experiment


def find_recurring_runs(client: kfp.Client, where: str, experiment_id: str,
                        name: str) -> list:
  """Every recurring run named `name` in the experiment (all pages)."""
  runs, token = [], ""
  while True:
    with _calling(where, f"listing recurring runs named {name!r}"):
      response = client.list_recurring_runs(
          experiment_id=experiment_id, filter=_name_filter(name), page_size=PAGE_SIZE,
          page_token=token)
    # Filtered here as well: never act on a run an older server failed to filter out.
    runs += [r for r in response.recurring_runs or [] if r.display_name == name]
    token = response.next_page_token
    if not token:
      return runs


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
    experiment = _ensure_experiment(client, where, t, experiment)
    name = run_name or (f"{config.pipeline_name} "
                        f"{datetime.datetime.now():%Y-%m-%d %H-%M-%S}")
    with _calling(where, "creating the run"):
      run = client.run_pipeline(
          experiment_id=experiment.experiment_id, job_name=name,
          pipeline_package_path=package, params=spec.parameters,
          pipeline_root=spec.pipeline_root)
  print(f"submitted run {name!r}: id {run.run_id} in {_in(t)}")
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
          f"recurring run {name!r} already exists in {_in(t)} (id {ids}); remove it "
          f"first with `tpctl unschedule --name {name}`, or give another --name")
  with _package(config, spec) as package:
    experiment = _ensure_experiment(client, where, t, experiment)
    with _calling(where, f"creating recurring run {name!r}"):
      job = client.create_recurring_run(
          experiment_id=experiment.experiment_id, job_name=name,
          description=f"{config.pipeline_name}: retraining on cron '{cron}' (tpctl)",
          cron_expression=cron, max_concurrency=max_concurrency,
          no_catchup=not catchup, params=spec.parameters,
          pipeline_package_path=package, pipeline_root=spec.pipeline_root,
          enabled=True)
  print(f"scheduled recurring run {name!r}: id {job.recurring_run_id} in {_in(t)}")
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
    raise ConfigError(f"no recurring run named {name!r} in {_in(t)}{missing}; "
                      f"nothing to remove")
  for run in runs:
    with _calling(where, f"deleting recurring run {name!r} (id {run.recurring_run_id})"):
      client.delete_recurring_run(run.recurring_run_id)
    print(f"deleted recurring run {name!r}: id {run.recurring_run_id} in {_in(t)}")
  return [r.recurring_run_id for r in runs]
