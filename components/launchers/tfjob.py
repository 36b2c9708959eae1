"""Runs a distributed training job as a Kubeflow Training Operator TFJob.

A pipeline step calls `run(spec)`: it creates the TFJob, reports its conditions,
streams the logs of the replica that reports progress (the chief, else worker 0),
and returns the finished TFJob or raises TFJobFailed. The TFJob is always deleted
at the end, so a stopped or failed step leaves no pods running behind it.

No TensorFlow here: the step that launches the job only talks to the API server.
The Training Operator injects TF_CONFIG into each replica; the manifest must not.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections.abc import Callable

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from components.config import StepResources, Toleration, VolumeMount

GROUP, VERSION, PLURAL, KIND = "kubeflow.org", "v1", "tfjobs", "TFJob"
CONTAINER = "tensorflow"  # the Training Operator requires this container name
PART_OF = "training-patterns"  # the NetworkPolicy selects pods by this label
UID = 1000  # the image's user; it owns the PVC data

# Every API call gets a deadline, so that a hung connection cannot outlast the
# caller's timeout.
_REQUEST_TIMEOUT = 60
# How long the API server may be unreachable before a watched job is given up
# (and deleted): long enough for a control-plane upgrade.
_API_OUTAGE_SECONDS = 300
# How long a replaced TFJob may take to disappear after its deletion.
_GONE_SECONDS = 120
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


class TFJobFailed(RuntimeError):
  """The TFJob failed, timed out or could not be run; str() is one line."""


@dataclasses.dataclass(frozen=True)
class TFJobSpec:
  """What to run. `name` must be unique per step attempt (see run())."""
  name: str
  namespace: str
  image: str
  command: list[str]  # run by every replica; the trainer reads TF_CONFIG
  workers: int = 1
  ps: int = 0  # parameter servers
  chief: bool = False
  resources: StepResources = dataclasses.field(default_factory=StepResources)
  accelerator: str = "nvidia.com/gpu"
  volumes: tuple[VolumeMount, ...] = ()
  node_selector: dict[str, str] = dataclasses.field(default_factory=dict)  # GPU pods only
  tolerations: tuple[Toleration, ...] = ()  # GPU pods only
  env: dict[str, str] = dataclasses.field(default_factory=dict)
  service_account: str = "training-patterns"
  # apiVersion/kind/name/uid of an object in the same namespace (e.g. the step's own
  # Pod): deleting it garbage-collects the TFJob even if this process is killed.
  owner: dict[str, str] | None = None
  labels: dict[str, str] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if self.workers < 1 or self.ps < 0:
      raise ValueError(f"need workers >= 1 and ps >= 0, got {self.workers} and {self.ps}")
    _check_name(self)
    if not self.namespace:
      raise ValueError("namespace is required")
    if not self.command:
      raise ValueError("command is empty")
    if "TF_CONFIG" in self.env:
      raise ValueError("env must not set TF_CONFIG: the Training Operator sets it "
                       "per replica")
    paths = [v.mount_path for v in self.volumes]
    if len(set(paths)) != len(paths) or "/tmp" in paths:
      raise ValueError(f"volume mount paths must be distinct and not /tmp: {paths}")
    missing = {"apiVersion", "kind", "name", "uid"} - set(self.owner or {})
    if self.owner is not None and missing:
      raise ValueError(f"owner lacks {sorted(missing)}")

  @property
  def progress_replica(self) -> str:
    """The replica whose logs are streamed: the one that reports progress."""
    return "chief" if self.chief else "worker"


def _check_name(spec: TFJobSpec) -> None:
  # The operator names each replica's Service <name>-<type>-<index>, which must be a
  # DNS-1035 label of at most 63 characters.
  longest = max(f"-worker-{spec.workers - 1}", f"-ps-{max(spec.ps - 1, 0)}", key=len)
  if not _DNS_1035.match(spec.name) or len(spec.name + longest) > 63:
    raise ValueError(f"TFJob name {spec.name!r} must be a DNS-1035 label of at most "
                     f"{63 - len(longest)} characters")


# --- the manifest --------------------------------------------------------------------
def build_manifest(spec: TFJobSpec) -> dict:
  """The TFJob body, as sent to the API server."""
  replicas = {"Chief": 1} if spec.chief else {}
  replicas["Worker"] = spec.workers
  if spec.ps:
    replicas["PS"] = spec.ps
  metadata = {"name": spec.name, "namespace": spec.namespace, "labels": _labels(spec)}
  if spec.owner:
    metadata["ownerReferences"] = [
        {k: spec.owner[k] for k in ("apiVersion", "kind", "name", "uid")}]
  return {
      "apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": metadata,
      "spec": {
          # Running: stop stragglers at the end, keep finished pods' logs.
          "runPolicy": {"cleanPodPolicy": "Running", "backoffLimit": 3},
          # successPolicy unset: the job succeeds when the chief (else worker 0) does.
          "tfReplicaSpecs": {kind: _replica(spec, kind, n) for kind, n in replicas.items()},
      }}


def _labels(spec: TFJobSpec) -> dict[str, str]:
  return {"app.kubernetes.io/component": "multiworker-training", **spec.labels,
          "app.kubernetes.io/part-of": PART_OF}


def _replica(spec: TFJobSpec, kind: str, count: int) -> dict:
  gpus = 0 if kind == "PS" else spec.resources.gpus  # a PS only holds variables
  return {
      "replicas": count,
      # A restarted worker resumes from its checkpoints. PS too: Always would
      # restart a PS the operator stops at the end, and the job would never finish.
      "restartPolicy": "OnFailure",
      "template": {
          "metadata": {
              "labels": _labels(spec),
              # A mesh sidecar never exits, so the pod would never complete.
              "annotations": {"sidecar.istio.io/inject": "false"}},
          "spec": _pod_spec(spec, gpus)}}


def _pod_spec(spec: TFJobSpec, gpus: int) -> dict:
  pod = {
      "serviceAccountName": spec.service_account,
      "automountServiceAccountToken": False,  # training never calls the API
      "securityContext": {
          "runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID,
          "fsGroupChangePolicy": "OnRootMismatch",
          "seccompProfile": {"type": "RuntimeDefault"}},
      "containers": [_container(spec, gpus)],
      "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "20Gi"}}] + [
          {"name": name, "persistentVolumeClaim": {"claimName": v.pvc}}
          for name, v in _named_volumes(spec)],
  }
  if gpus and spec.node_selector:
    pod["nodeSelector"] = dict(spec.node_selector)
  if gpus and spec.tolerations:
    pod["tolerations"] = [t.model_dump(exclude_none=True) for t in spec.tolerations]
  return pod


def _container(spec: TFJobSpec, gpus: int) -> dict:
  amounts = {"cpu": spec.resources.cpu, "memory": spec.resources.memory}
  if gpus:
    amounts[spec.accelerator] = str(gpus)
  env = {"HOME": "/tmp", **spec.env}  # HOME: the root filesystem is read-only
  return {
      "name": CONTAINER,
      "image": spec.image,
      "command": list(spec.command),
      "env": [{"name": k, "value": v} for k, v in env.items()],
      # requests = limits, so a replica never loses its node to a neighbour.
      "resources": {"requests": dict(amounts), "limits": dict(amounts)},
      "securityContext": {
          "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
          "runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID,
          "capabilities": {"drop": ["ALL"]},
          "seccompProfile": {"type": "RuntimeDefault"}},
      "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}] + [
          {"name": name, "mountPath": v.mount_path} for name, v in _named_volumes(spec)],
  }


def _named_volumes(spec: TFJobSpec) -> list[tuple[str, VolumeMount]]:
  # Indexed names: claim names may be longer than, or not valid as, volume names.
  return [(f"pvc-{i}", v) for i, v in enumerate(spec.volumes)]


# --- running -------------------------------------------------------------------------
def run(spec: TFJobSpec, api_client: k8s.ApiClient | None = None,
        progress: Progress = print, poll_seconds: float = 2.0,
        timeout_seconds: float | None = None) -> dict:
  """Runs the TFJob to completion and returns its final object.

  Raises TFJobFailed when it fails or outlasts timeout_seconds. The job is deleted
  however this ends (even on KeyboardInterrupt). A TFJob of the same name that
  already exists is left from an earlier attempt of the same step (a retry), so it
  is deleted and the job created anew: its outcome is not this attempt's.
  """
  owned = api_client is None
  api_client = api_client or _default_client()
  try:
    return _Launch(spec, api_client, progress, poll_seconds).run(timeout_seconds)
  finally:
    if owned:
      api_client.close()


def _default_client() -> k8s.ApiClient:
  try:
    k8s_config.load_incluster_config()
  except k8s_config.ConfigException:
    k8s_config.load_kube_config()  # outside a cluster: the user's kubeconfig
  return k8s.ApiClient()


class _Launch:
  """One run of one TFJob."""

  def __init__(self, spec: TFJobSpec, api_client: k8s.ApiClient, progress: Progress,
               poll_seconds: float):
    self.spec, self.progress, self.poll_seconds = spec, progress, poll_seconds
    self.api = k8s.CustomObjectsApi(api_client)
    self.logs = _LogTail(k8s.CoreV1Api(api_client), spec, progress)
    self.where = f"TFJob {spec.namespace}/{spec.name}"
    self.reported: set[tuple] = set()

  def run(self, timeout_seconds: float | None) -> dict:
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    try:
      self._create()
      return self._watch(deadline, timeout_seconds)
    finally:
      self._delete()

  def _call(self, method: str, **kwargs):
    return getattr(self.api, method)(
        group=GROUP, version=VERSION, namespace=self.spec.namespace, plural=PLURAL,
        _request_timeout=_REQUEST_TIMEOUT, **kwargs)

  def _create(self) -> None:
    body = build_manifest(self.spec)
    try:
      self._call("create_namespaced_custom_object", body=body)
    except ApiException as e:
      if e.status != 409:
        raise TFJobFailed(f"cannot create {self.where}: {_api_error(e)}") from None
      self.progress(f"{self.where}: already exists (left by an earlier attempt); "
                    f"replacing it")
      self._delete(raising=True)
      self._wait_gone()
      try:
        self._call("create_namespaced_custom_object", body=body)
      except ApiException as e:
        raise TFJobFailed(f"cannot create {self.where} after deleting the earlier one: "
                          f"{_api_error(e)}") from None
    self.progress(f"{self.where}: submitted ({_shape(self.spec)})")

  def _wait_gone(self) -> None:
    give_up = time.monotonic() + _GONE_SECONDS
    while time.monotonic() < give_up:
      try:
        self._call("get_namespaced_custom_object", name=self.spec.name)
      except ApiException as e:
        if e.status == 404:
          return
      time.sleep(self.poll_seconds)
    raise TFJobFailed(f"{self.where}: the earlier job was deleted but still exists "
                      f"after {_GONE_SECONDS}s (a finalizer?)")

  def _delete(self, raising: bool = False) -> None:
    # Background: the TFJob goes at once (its name is free for a retry) and the
    # garbage collector removes its pods and services after it.
    try:
      self._call("delete_namespaced_custom_object", name=self.spec.name,
                 body=k8s.V1DeleteOptions(propagation_policy="Background"))
    except (ApiException, urllib3.exceptions.HTTPError) as e:
      if getattr(e, "status", None) == 404:
        return
      if raising:
        raise TFJobFailed(f"cannot delete {self.where}: {_api_error(e)}") from None
      # Only logged at the end: it must not hide the job's own outcome.
      log.warning("%s: cannot delete it: %s", self.where, _api_error(e))

  def _watch(self, deadline: float | None, timeout_seconds: float | None) -> dict:
    job: dict = {}
    outage_since = None
    while True:
      try:
        job, outage_since = self._get(), None
      except (ApiException, urllib3.exceptions.HTTPError) as e:
        outage_since = self._api_outage(e, outage_since)
      else:
        finished = _condition(job, "Succeeded") or _condition(job, "Failed")
        self.logs.poll(final=bool(finished))
        self._report(job)
        if finished:
          return self._outcome(job)
      if deadline is not None and time.monotonic() >= deadline:
        last = _last_condition(job) or "no condition yet"
        raise TFJobFailed(f"{self.where} did not finish within {timeout_seconds:g}s "
                          f"(last condition: {last})")
      time.sleep(self.poll_seconds)

  def _get(self) -> dict:
    try:
      return self._call("get_namespaced_custom_object", name=self.spec.name)
    except ApiException as e:
      if e.status == 404:
        raise TFJobFailed(f"{self.where} was deleted while running "
                          f"(by someone else, or with its owner)") from None
      raise

  def _api_outage(self, error: Exception, since: float | None) -> float:
    """Tolerates a transient API error; returns when the outage began."""
    status = getattr(error, "status", 0)
    if isinstance(error, ApiException) and status and status != 429 and status < 500:
      raise TFJobFailed(f"cannot read {self.where}: {_api_error(error)}") from None
    now = time.monotonic()
    if since is None:
      self.progress(f"{self.where}: API server unavailable ({_api_error(error)}); retrying")
      return now
    if now - since > _API_OUTAGE_SECONDS:
      raise TFJobFailed(f"{self.where}: API server unavailable for more than "
                        f"{_API_OUTAGE_SECONDS}s: {_api_error(error)}")
    return since

  def _report(self, job: dict) -> None:
    """One progress line per new condition (Restarting may recur: keyed by time)."""
    for c in _conditions(job):
      key = (c.get("type"), c.get("lastTransitionTime"), c.get("reason"))
      if c.get("status") == "True" and key not in self.reported:
        self.reported.add(key)
        self.progress(f"{self.where}: {c.get('type')}{_why(c, ' (%s)')}")

  def _outcome(self, job: dict) -> dict:
    failed = _condition(job, "Failed")
    if failed:
      raise TFJobFailed(_why(failed) or "Failed")
    return job


class _LogTail:
  """Streams the log of the replica that reports progress.

  The API has no byte offset to read from, so each poll re-reads the whole log and
  prints what follows the bytes printed so far (complete lines only, until the end).
  A new pod or a restarted container starts over at its own beginning.
  """

  def __init__(self, core: k8s.CoreV1Api, spec: TFJobSpec, progress: Progress):
    self.core, self.spec, self.progress = core, spec, progress
    self.selector = (f"training.kubeflow.org/job-name={spec.name},"
                     f"training.kubeflow.org/replica-type={spec.progress_replica},"
                     f"training.kubeflow.org/replica-index=0")
    self.current: tuple[str, int] | None = None  # (pod name, container restarts)
    self.printed = 0  # bytes of the current container's log already printed
    self.warned: set[str] = set()

  def poll(self, final: bool = False) -> None:
    pod = self._find_pod()
    if pod is None:
      return
    key = (pod.metadata.name, _restarts(pod))
    if key != self.current:
      if self.current and self.current[0] == key[0]:
        self._print(self._read(key[0], previous=True), final=True)  # the crashed one's tail
      self.current, self.printed = key, 0
      restart = f" (container restart {key[1]})" if key[1] else ""
      self.progress(f"TFJob {self.spec.namespace}/{self.spec.name}: log of pod "
                    f"{key[0]}{restart}")
    self._print(self._read(key[0]), final)

  def _find_pod(self):
    try:
      pods = self.core.list_namespaced_pod(
          self.spec.namespace, label_selector=self.selector,
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
          pod, self.spec.namespace, container=CONTAINER, previous=previous,
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
    # Logs are best effort (the job's status decides), but say once why they stop.
    reason = _api_error(error) if isinstance(error, ApiException) else str(error)
    if (what, reason) not in self.warned:
      self.warned.add((what, reason))
      self.progress(f"TFJob {self.spec.namespace}/{self.spec.name}: cannot read the log "
                    f"({what}): {reason}")


# --- status helpers ------------------------------------------------------------------
def _conditions(job: dict) -> list[dict]:
  return (job.get("status") or {}).get("conditions") or []


def _condition(job: dict, kind: str) -> dict | None:
  return next((c for c in _conditions(job)
               if c.get("type") == kind and c.get("status") == "True"), None)


def _last_condition(job: dict) -> str | None:
  true = [c.get("type") for c in _conditions(job) if c.get("status") == "True"]
  return true[-1] if true else None


def _created(pod) -> float:
  when = pod.metadata.creation_timestamp
  return when.timestamp() if when else 0.0


def _restarts(pod) -> int:
  statuses = (pod.status and pod.status.container_statuses) or []
  return next((s.restart_count for s in statuses if s.name == CONTAINER), 0)


def _why(condition: dict, template: str = "%s") -> str:
  """`reason: message` on one line ("" when the condition has neither)."""
  text = ": ".join(p for p in (condition.get("reason"), condition.get("message")) if p)
  return template % _one_line(text) if text else ""


def _one_line(text: str) -> str:
  return " ".join(str(text).split())


def _api_error(error: Exception) -> str:
  """An API error as one line: its status and the Status object's message."""
  if not isinstance(error, ApiException):
    return _one_line(str(error))
  try:
    message = json.loads(error.body or b"{}").get("message")
  except (ValueError, AttributeError):
    message = None
  return _one_line(f"{error.status} {message or error.reason or ''}")


def _shape(spec: TFJobSpec) -> str:
  parts = (["1 chief"] if spec.chief else []) + [f"{spec.workers} worker(s)"]
  if spec.ps:
    parts.append(f"{spec.ps} ps")
  if spec.resources.gpus:
    parts.append(f"{spec.resources.gpus} {spec.accelerator} each")
  return ", ".join(parts)
