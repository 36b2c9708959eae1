"""Runs one namespaced custom resource (a TFJob, a Katib Experiment...) to its end.

`run(kind, body)` creates the object, reports its conditions (and an optional
status summary) as they change, optionally streams one pod's log, and returns the
object once a terminal condition is set. The object is deleted however this ends,
so a stopped or failed step leaves nothing running behind it. Transient API errors
(5xx, 429, connection errors) are retried for a while; anything else fails at once
with a one-line reason, raised as `kind.error`.

It also holds the pod template pieces the launchers share: every pod they start
runs locked down (non-root, read-only root, no capabilities, no API token).
"""
from __future__ import annotations

import dataclasses
import json
import os
import logging
import time
from collections.abc import Callable

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from components.config import StepResources, Toleration, VolumeMount

PART_OF = "training-patterns"  # the NetworkPolicy selects pods by this label
UID = 1000  # the image's user; it owns the PVC data

# Every API call gets a deadline, so that a hung connection cannot outlast the
# caller's timeout.
_REQUEST_TIMEOUT = 60
# How long the API server may be unreachable before a watched object is given up
# (and deleted): long enough for a control-plane upgrade.
_API_OUTAGE_SECONDS = 300
# How long a replaced object may take to disappear after its deletion.
_GONE_SECONDS = 120

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class Kind:
  """A custom resource kind, and how its runs end."""
  group: str
  version: str
  plural: str
  kind: str
  error: type[RuntimeError] = RuntimeError  # raised with a one-line reason
  terminal: tuple[str, ...] = ("Succeeded", "Failed")  # conditions that end the watch


@dataclasses.dataclass(frozen=True)
class PodLog:
  """The pod whose log is streamed: the newest matching the selector."""
  selector: str
  container: str


def run(kind: Kind, body: dict, api_client: k8s.ApiClient | None = None,
        progress: Progress = print, poll_seconds: float = 2.0,
        timeout_seconds: float | None = None, *, detail: str = "",
        pod_log: PodLog | None = None,
        summary: Callable[[dict], str | None] | None = None) -> dict:
  """Creates `body`, waits for a terminal condition and returns the final object.

  Raises kind.error when it cannot be run or outlasts timeout_seconds; the caller
  judges the terminal condition itself. An object of the same name that already
  exists is left from an earlier attempt of the same step (a retry), so it is
  deleted and created anew: its outcome is not this attempt's. `detail` goes on
  the "submitted" line; `summary(obj)` is reported whenever it changes.
  """
  owned = api_client is None
  api_client = api_client or default_client()
  try:
    watch = _Watch(kind, body, api_client, progress, poll_seconds, pod_log, summary)
    return watch.run(timeout_seconds, detail)
  finally:
    if owned:
      api_client.close()


def default_client() -> k8s.ApiClient:
  try:
    k8s_config.load_incluster_config()
  except k8s_config.ConfigException:
    # Outside a cluster: the user's kubeconfig. KUBECONFIG is read now, not when
    # the client library was imported (its default is fixed at import).
    k8s_config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
  return k8s.ApiClient()


class _Watch:
  """One run of one object."""

  def __init__(self, kind: Kind, body: dict, api_client: k8s.ApiClient,
               progress: Progress, poll_seconds: float, pod_log: PodLog | None,
               summary: Callable[[dict], str | None] | None):
    self.kind, self.body, self.progress = kind, body, progress
    self.poll_seconds, self.summary = poll_seconds, summary
    self.name = body["metadata"]["name"]
    self.namespace = body["metadata"]["namespace"]
    self.where = f"{kind.kind} {self.namespace}/{self.name}"
    self.api = k8s.CustomObjectsApi(api_client)
    self.logs = pod_log and _LogTail(k8s.CoreV1Api(api_client), self.namespace,
                                     pod_log, self.where, progress)
    self.reported: set[tuple] = set()
    self.last_summary: str | None = None

  def run(self, timeout_seconds: float | None, detail: str) -> dict:
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    try:
      self._create(detail)
      return self._watch(deadline, timeout_seconds)
    finally:
      self._delete()

  def _fail(self, message: str) -> RuntimeError:
    return self.kind.error(message)

  def _call(self, method: str, **kwargs):
    return getattr(self.api, method)(
        group=self.kind.group, version=self.kind.version, namespace=self.namespace,
        plural=self.kind.plural, _request_timeout=_REQUEST_TIMEOUT, **kwargs)

  def _create(self, detail: str) -> None:
    try:
      self._call("create_namespaced_custom_object", body=self.body)
    except ApiException as e:
      if e.status != 409:
        raise self._fail(f"cannot create {self.where}: {api_error(e)}") from None
      self.progress(f"{self.where}: already exists (left by an earlier attempt); "
                    f"replacing it")
      self._delete(raising=True)
      self._wait_gone()
      try:
        self._call("create_namespaced_custom_object", body=self.body)
      except ApiException as e:
        raise self._fail(f"cannot create {self.where} after deleting the earlier one: "
                         f"{api_error(e)}") from None
    self.progress(f"{self.where}: submitted" + (f" ({detail})" if detail else ""))

  def _wait_gone(self) -> None:
    give_up = time.monotonic() + _GONE_SECONDS
    while time.monotonic() < give_up:
      try:
        self._call("get_namespaced_custom_object", name=self.name)
      except ApiException as e:
        if e.status == 404:
          return
      time.sleep(self.poll_seconds)
    raise self._fail(f"{self.where}: the earlier one was deleted but still exists "
                     f"after {_GONE_SECONDS}s (a finalizer?)")

  def _delete(self, raising: bool = False) -> None:
    # Background: the object goes at once (its name is free for a retry) and the
    # garbage collector removes what it owns (pods, services, trials) after it.
    try:
      self._call("delete_namespaced_custom_object", name=self.name,
                 body=k8s.V1DeleteOptions(propagation_policy="Background"))
    except (ApiException, urllib3.exceptions.HTTPError) as e:
      if getattr(e, "status", None) == 404:
        return
      if raising:
        raise self._fail(f"cannot delete {self.where}: {api_error(e)}") from None
      # Only logged at the end: it must not hide the object's own outcome.
      log.warning("%s: cannot delete it: %s", self.where, api_error(e))

  def _watch(self, deadline: float | None, timeout_seconds: float | None) -> dict:
    obj: dict = {}
    outage_since = None
    while True:
      try:
        obj, outage_since = self._get(), None
      except (ApiException, urllib3.exceptions.HTTPError) as e:
        outage_since = self._api_outage(e, outage_since)
      else:
        finished = any(condition(obj, t) for t in self.kind.terminal)
        if self.logs:
          self.logs.poll(final=finished)
        self._report(obj)
        if finished:
          return obj
      if deadline is not None and time.monotonic() >= deadline:
        last = last_condition(obj) or "no condition yet"
        raise self._fail(f"{self.where} did not finish within {timeout_seconds:g}s "
                         f"(last condition: {last})")
      time.sleep(self.poll_seconds)

  def _get(self) -> dict:
    try:
      return self._call("get_namespaced_custom_object", name=self.name)
    except ApiException as e:
      if e.status == 404:
        raise self._fail(f"{self.where} was deleted while running "
                         f"(by someone else, or with its owner)") from None
      raise

  def _api_outage(self, error: Exception, since: float | None) -> float:
    """Tolerates a transient API error; returns when the outage began."""
    status = getattr(error, "status", 0)
    if isinstance(error, ApiException) and status and status != 429 and status < 500:
      raise self._fail(f"cannot read {self.where}: {api_error(error)}") from None
    now = time.monotonic()
    if since is None:
      self.progress(f"{self.where}: API server unavailable ({api_error(error)}); retrying")
      return now
    if now - since > _API_OUTAGE_SECONDS:
      raise self._fail(f"{self.where}: API server unavailable for more than "
                       f"{_API_OUTAGE_SECONDS}s: {api_error(error)}")
    return since

  def _report(self, obj: dict) -> None:
    """One line per new condition (Restarting may recur: keyed by time), then the
    summary when it changed."""
    for c in conditions(obj):
      key = (c.get("type"), c.get("lastTransitionTime"), c.get("reason"))
      if c.get("status") == "True" and key not in self.reported:
        self.reported.add(key)
        self.progress(f"{self.where}: {c.get('type')}{why(c, ' (%s)')}")
    line = self.summary(obj) if self.summary else None
    if line and line != self.last_summary:
      self.last_summary = line
      self.progress(f"{self.where}: {line}")


class _LogTail:
  """Streams the log of one pod.

  The API has no byte offset to read from, so each poll re-reads the whole log and
  prints what follows the bytes printed so far (complete lines only, until the end).
  A new pod or a restarted container starts over at its own beginning.
  """

  def __init__(self, core: k8s.CoreV1Api, namespace: str, source: PodLog, where: str,
               progress: Progress):
    self.core, self.namespace, self.source = core, namespace, source
    self.where, self.progress = where, progress
    self.current: tuple[str, int] | None = None  # (pod name, container restarts)
    self.printed = 0  # bytes of the current container's log already printed
    self.warned: set[tuple[str, str]] = set()

  def poll(self, final: bool = False) -> None:
    pod = self._find_pod()
    if pod is None:
      return
    key = (pod.metadata.name, _restarts(pod, self.source.container))
    if key != self.current:
      if self.current and self.current[0] == key[0]:
        self._print(self._read(key[0], previous=True), final=True)  # the crashed one's tail
      self.current, self.printed = key, 0
      restart = f" (container restart {key[1]})" if key[1] else ""
      self.progress(f"{self.where}: log of pod {key[0]}{restart}")
    self._print(self._read(key[0]), final)

  def _find_pod(self):
    try:
      pods = self.core.list_namespaced_pod(
          self.namespace, label_selector=self.source.selector,
          _request_timeout=_REQUEST_TIMEOUT).items
    except (ApiException, urllib3.exceptions.HTTPError) as e:
      self._warn_once("list", e)
      return None
    # The newest: the operator may have replaced a failed pod.
    return max(pods, key=_created, default=None)

  def _read(self, pod: str, previous: bool = False) -> bytes | None:
    try:
      # Raw bytes: the client would otherwise json-parse a log that looks like JSON.
      response = self.core.read_namespaced_pod_log(
          pod, self.namespace, container=self.source.container, previous=previous,
          _preload_content=False, _request_timeout=_REQUEST_TIMEOUT)
    except ApiException as e:
      if e.status not in (400, 404):  # 400: not started yet; 404: pod gone
        self._warn_once(pod, e)
      return None
    except urllib3.exceptions.HTTPError as e:
      self._warn_once(pod, e)
      return None
    try:
      return response.data
    finally:
      response.release_conn()

  def _print(self, data: bytes | None, final: bool) -> None:
    if data is None:
      return
    if len(data) < self.printed:  # the kubelet rotated the log file
      self.printed = 0
    new = data[self.printed:]
    if not final:
      new = new[:new.rfind(b"\n") + 1]  # a partial line waits for its end
    self.printed += len(new)
    for line in new.decode("utf-8", "replace").splitlines():
      self.progress(line)

  def _warn_once(self, what: str, error: Exception) -> None:
    # Logs are best effort (the status decides), but say once why they stop.
    reason = api_error(error)
    if (what, reason) not in self.warned:
      self.warned.add((what, reason))
      self.progress(f"{self.where}: cannot read the log ({what}): {reason}")


# --- pod templates -------------------------------------------------------------------
def labels(component: str, extra: dict[str, str]) -> dict[str, str]:
  """part-of last: the NetworkPolicy's selector cannot be overridden."""
  return {"app.kubernetes.io/component": component, **extra,
          "app.kubernetes.io/part-of": PART_OF}


def pod_template(pod_labels: dict[str, str], spec: dict) -> dict:
  return {"metadata": {
              "labels": dict(pod_labels),
              # A mesh sidecar never exits, so the pod would never complete.
              "annotations": {"sidecar.istio.io/inject": "false"}},
          "spec": spec}


def pod_spec(container_: dict, *, service_account: str,
             volumes: tuple[VolumeMount, ...], gpus: int,
             node_selector: dict[str, str], tolerations: tuple[Toleration, ...]) -> dict:
  """A locked-down pod; GPU placement (node selector, tolerations) only with GPUs."""
  pod = {
      "serviceAccountName": service_account,
      "automountServiceAccountToken": False,  # training never calls the API
      "securityContext": {
          "runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID,
          "fsGroupChangePolicy": "OnRootMismatch",
          "seccompProfile": {"type": "RuntimeDefault"}},
      "containers": [container_],
      "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "20Gi"}}] + [
          {"name": name, "persistentVolumeClaim": {"claimName": v.pvc}}
          for name, v in named_volumes(volumes)],
  }
  if gpus and node_selector:
    pod["nodeSelector"] = dict(node_selector)
  if gpus and tolerations:
    pod["tolerations"] = [t.model_dump(exclude_none=True) for t in tolerations]
  return pod


def container(name: str, image: str, command: list[str], *, resources: StepResources,
              gpus: int, accelerator: str, volumes: tuple[VolumeMount, ...],
              env: dict[str, str] | None = None) -> dict:
  """A locked-down container; requests = limits, so it never loses its node to a
  neighbour."""
  amounts = {"cpu": resources.cpu, "memory": resources.memory}
  if gpus:
    amounts[accelerator] = str(gpus)
  env = {"HOME": "/tmp", **(env or {})}  # HOME: the root filesystem is read-only
  return {
      "name": name,
      "image": image,
      "command": list(command),
      "env": [{"name": k, "value": v} for k, v in env.items()],
      "resources": {"requests": dict(amounts), "limits": dict(amounts)},
      "securityContext": {
          "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
          "runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID,
          "capabilities": {"drop": ["ALL"]},
          "seccompProfile": {"type": "RuntimeDefault"}},
      "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}] + [
          {"name": name_, "mountPath": v.mount_path}
          for name_, v in named_volumes(volumes)],
  }


def check_volumes(volumes: tuple[VolumeMount, ...]) -> None:
  paths = [v.mount_path for v in volumes]
  if len(set(paths)) != len(paths) or "/tmp" in paths:
    raise ValueError(f"volume mount paths must be distinct and not /tmp: {paths}")


def owner_references(owner: dict[str, str] | None) -> list[dict]:
  """apiVersion/kind/name/uid of an object in the same namespace (e.g. the step's
  own Pod): deleting it garbage-collects ours even if the step is killed."""
  if owner is None:
    return []
  missing = {"apiVersion", "kind", "name", "uid"} - set(owner)
  if missing:
    raise ValueError(f"owner lacks {sorted(missing)}")
  return [{k: owner[k] for k in ("apiVersion", "kind", "name", "uid")}]


def named_volumes(volumes: tuple[VolumeMount, ...]) -> list[tuple[str, VolumeMount]]:
  # Indexed names: claim names may be longer than, or not valid as, volume names.
  return [(f"pvc-{i}", v) for i, v in enumerate(volumes)]


# --- status helpers ------------------------------------------------------------------
def conditions(obj: dict) -> list[dict]:
  return (obj.get("status") or {}).get("conditions") or []


def condition(obj: dict, kind: str) -> dict | None:
  """The condition of that type when it is True, else None."""
  return next((c for c in conditions(obj)
               if c.get("type") == kind and c.get("status") == "True"), None)


def last_condition(obj: dict) -> str | None:
  true = [c.get("type") for c in conditions(obj) if c.get("status") == "True"]
  return true[-1] if true else None


def why(cond: dict, template: str = "%s") -> str:
  """`reason: message` on one line ("" when the condition has neither)."""
  text = ": ".join(p for p in (cond.get("reason"), cond.get("message")) if p)
  return template % one_line(text) if text else ""


def one_line(text: str) -> str:
  return " ".join(str(text).split())


def api_error(error: Exception) -> str:
  """An API error as one line: its status and the Status object's message."""
  if not isinstance(error, ApiException):
    return one_line(str(error))
  try:
    message = json.loads(error.body or b"{}").get("message")
  except (ValueError, AttributeError):
    message = None
  return one_line(f"{error.status} {message or error.reason or ''}")


def _created(pod) -> float:
  when = pod.metadata.creation_timestamp
  return when.timestamp() if when else 0.0


def _restarts(pod, container_name: str) -> int:
  statuses = (pod.status and pod.status.container_statuses) or []
  return next((s.restart_count for s in statuses if s.name == container_name), 0)
