"""Talking to the KFP API through kfp 2.16's generated REST client: one connection
(kfp.Client, its console noise held back), every failed request turned into one
line naming the host and what failed (KfpError), and the lookups by name that
submit, schedule and unschedule share. Nothing here prints or logs a token or a
cookie."""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import warnings
from collections.abc import Iterator

import kfp
import kfp_server_api
import urllib3

from components.errors import ConfigError, UserError
from pipelines.errors import PipelineFailed
from pipelines.kubeflow.run_inputs import ENV_HOST, Target

ENV_TOKEN = "KFP_TOKEN"
ENV_COOKIES = "KFP_COOKIES"
ENV_CA_CERT = "KFP_CA_CERT"
# kfp.Client reads this itself; only consulted here to name the host in messages.
KFP_ENDPOINT_ENV = "KF_PIPELINES_ENDPOINT"
PAGE_SIZE = 100  # list requests


class KfpError(PipelineFailed):
  """A request to the KFP API failed; the message names the host and the step.
  Not a UserError: the server failed or refused (exit code 1)."""


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
def calling(where: str, what: str) -> Iterator[None]:
  """Any failure of the request(s) inside becomes one line: host, step, cause."""
  try:
    with _quiet():
      yield
  except kfp_server_api.ApiException as e:
    raise KfpError(f"{where}: {what}: {_http_error(e)}") from None
  except urllib3.exceptions.HTTPError as e:
    raise KfpError(f"{where}: {what}: {_connection_error(e)}") from None
  except UserError:
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
  with calling(where, "connecting"):
    client = _Client(host=host, namespace=t.namespace or "kubeflow",
                     existing_token=os.environ.get(ENV_TOKEN) or None,
                     cookies=os.environ.get(ENV_COOKIES) or None, ssl_ca_cert=ca_cert)
  if not host:  # found by kfp: name what it found
    where = getattr(getattr(client, "_existing_config", None), "host", None) or where
  return client, where


# --- lookups by name ------------------------------------------------------------------

def _name_filter(name: str) -> str:
  return json.dumps({"predicates": [
      {"operation": "EQUALS", "key": "display_name", "stringValue": name}]})


def in_experiment(t: Target) -> str:
  """"experiment 'x' (namespace n)", for messages."""
  return f"experiment {t.experiment!r}" + (f" (namespace {t.namespace})"
                                           if t.namespace else "")


def find_experiment(client: kfp.Client, where: str, t: Target):
  """The experiment named t.experiment in t.namespace, or None."""
  with calling(where, f"looking up {in_experiment(t)}"):
    response = client.list_experiments(filter=_name_filter(t.experiment),
                                       namespace=t.namespace, page_size=PAGE_SIZE)
  found = [e for e in response.experiments or [] if e.display_name == t.experiment]
  if len(found) > 1:
    raise KfpError(f"{where}: {len(found)} experiments named {t.experiment!r}; "
                   f"give --experiment a unique name")
  return found[0] if found else None


def ensure_experiment(client: kfp.Client, where: str, t: Target, existing):
  """`existing`, or the experiment created now."""
  if existing is not None:
    return existing
  with calling(where, f"creating {in_experiment(t)}"):
    experiment = client.experiments.experiment_service_create_experiment(
        experiment=kfp_server_api.V2beta1Experiment(
            display_name=t.experiment, namespace=t.namespace,
            description="Runs of the training-patterns pipeline (tpctl)"))
  print(f"created {in_experiment(t)}: id {experiment.experiment_id}")
  return experiment


def find_recurring_runs(client: kfp.Client, where: str, experiment_id: str,
                        name: str) -> list:
  """Every recurring run named `name` in the experiment (all pages)."""
  runs, token = [], ""
  while True:
    with calling(where, f"listing recurring runs named {name!r}"):
      response = client.list_recurring_runs(
          experiment_id=experiment_id, filter=_name_filter(name), page_size=PAGE_SIZE,
          page_token=token)
    # Filtered here as well: never act on a run an older server failed to filter out.
    runs += [r for r in response.recurring_runs or [] if r.display_name == name]
    token = response.next_page_token
    if not token:
      return runs
