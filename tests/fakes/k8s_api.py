"""A stand-in for the Kubernetes API server: enough of its REST API for the TFJob
and Katib launchers (components/launchers/tfjob.py, katib.py), with every request
recorded.

It stores TFJobs, Katib Experiments and pods in memory and answers like the real
server: created objects get a uid and timestamps, errors are Status objects (404
NotFound, 409 AlreadyExists). Nothing runs the jobs: an "operator" hook does (it is
called for every created object, whatever its kind), e.g.

    def operator(server, tfjob):  # called when a TFJob is created
      server.add_condition(tfjob["metadata"]["name"], "Created")

    with FakeK8s() as k8s:
      k8s.operator = operator
      tfjob.run(spec, api_client=k8s.api_client())

The operator may start a thread that drives the job over time (add_condition,
add_pod, append_log, set_status...); all helpers are thread-safe, and `on_delete`
(or `tfjob(name)` turning None) tells it that the launcher deleted the job. `before_request` runs before each request is
answered, for operators that advance one step per poll. Endpoints the launcher
does not use are answered 404, so a new kind of request fails a test.

Checked against the real thing: with TP_RECORD_K8S_BODIES=<dir> set, every body
POSTed here is also written to <dir>, and `make cluster-check` (bench/cluster.py)
sends each to a real API server with dryRun=All, the Training Operator's and
Katib's CRDs and webhooks installed: a body this stand-in takes and the real
server refuses fails the check.
"""
from __future__ import annotations

import copy
import datetime
import itertools
import json
import os
import re
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import kubernetes.client

from tests.fakes.http_server import LocalServer, Request, read_request, respond

TFJOBS = "/apis/kubeflow.org/v1/namespaces/{namespace}/tfjobs"
EXPERIMENTS = "/apis/kubeflow.org/v1beta1/namespaces/{namespace}/experiments"
PODS = "/api/v1/namespaces/{namespace}/pods"
# plural -> (version, kind) of the kubeflow.org custom resources served.
_KINDS = {"tfjobs": ("v1", "TFJob"), "experiments": ("v1beta1", "Experiment")}
_CUSTOM_PATH = re.compile(
    r"^/apis/kubeflow\.org/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/"
    r"(?P<plural>tfjobs|experiments)(?:/(?P<name>[^/]+)(?P<status>/status)?)?$")
_POD_PATH = re.compile(
    r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods(?:/(?P<name>[^/]+)(?P<log>/log))?$")
_EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
JOB_LABEL = "training.kubeflow.org/job-name"
RECORD_ENV = "TP_RECORD_K8S_BODIES"


def _record(directory: Path, request: Request) -> None:
  """One POSTed body and the path it went to, for bench/cluster.py to replay."""
  directory.mkdir(parents=True, exist_ok=True)
  (directory / f"{uuid.uuid4().hex}.json").write_text(
      json.dumps({"path": request.path, "body": request.body}))


class _HttpError(Exception):
  def __init__(self, status: int, reason: str, message: str):
    super().__init__(message)
    self.status, self.reason = status, reason


class FakeK8s(LocalServer):
  """with FakeK8s() as k8s: ... k8s.url, k8s.requests, k8s.tfjobs, k8s.experiments,
  k8s.pods"""

  def __init__(self):
    super().__init__()
    self.tfjobs: dict[tuple[str, str], dict] = {}  # (namespace, name) -> object
    self.experiments: dict[tuple[str, str], dict] = {}
    self._stores = {"tfjobs": self.tfjobs, "experiments": self.experiments}
    self.pods: dict[tuple[str, str], dict] = {}
    self.logs: dict[tuple[str, str], str | None] = {}  # None: not started (400)
    self.previous_logs: dict[tuple[str, str], str] = {}
    # (method, path) -> [(status, message), ...]: answer the next such requests so.
    self.failures: dict[tuple[str, str], list[tuple[int, str]]] = {}
    # GETs for which a deleted object stays visible (with a deletionTimestamp), as
    # while a real one's finalizers run. 0: it goes at once.
    self.deletion_lag = 0
    self.operator: Callable[[FakeK8s, dict], None] | None = None
    self.on_delete: Callable[[FakeK8s, dict], None] | None = None
    self.before_request: Callable[[FakeK8s, Request], None] | None = None
    self._lingering: dict[tuple[str, str, str], int] = {}  # (plural, ns, name)
    self._clock = itertools.count(1)  # seconds after _EPOCH, for timestamps
    self._lock = threading.RLock()
    self._clients: list[kubernetes.client.ApiClient] = []

  def __exit__(self, *exc):
    for c in self._clients:
      c.close()
    super().__exit__(*exc)

  def api_client(self) -> kubernetes.client.ApiClient:
    """A client of this server (closed on exit)."""
    client = kubernetes.client.ApiClient(kubernetes.client.Configuration(host=self.url))
    self._clients.append(client)
    return client

  # --- assertions --------------------------------------------------------------------
  def created(self, plural: str | None = None) -> list[dict]:
    """The custom-object bodies POSTed (of one plural, e.g. "tfjobs"), in order."""
    return [r.body for r in self.requests if r.method == "POST"
            and (m := _CUSTOM_PATH.match(r.path)) and plural in (None, m["plural"])]

  # --- state: TFJobs -----------------------------------------------------------------
  def tfjob(self, name: str, namespace: str = "default") -> dict | None:
    """A copy of the stored TFJob, or None."""
    with self._lock:
      job = self.tfjobs.get((namespace, name))
      return copy.deepcopy(job)

  def add_tfjob(self, body: dict) -> dict:
    """Stores a TFJob as if created earlier (no operator call)."""
    return self._add("tfjobs", body)

  def add_condition(self, name: str, type_: str, reason: str = "", message: str = "",
                    namespace: str = "default", plural: str = "tfjobs") -> None:
    """Sets a condition the way the Training Operator (and Katib, for an Experiment)
    does: it replaces one of the same type, Running and Restarting replace each
    other, and a final one (Succeeded, Failed) turns Running false."""
    with self._lock:
      status = self._stores[plural][(namespace, name)].setdefault("status", {})
      kept = []
      for c in status.get("conditions", []):
        if c["type"] == type_ or {c["type"], type_} == {"Running", "Restarting"}:
          continue
        if type_ in ("Succeeded", "Failed") and c["type"] == "Running":
          c = {**c, "status": "False"}
        kept.append(c)
      now = self._now()
      default_reason = f"{_KINDS[plural][1]}{type_}"
      kept.append({"type": type_, "status": "True", "reason": reason or default_reason,
                   "message": message, "lastUpdateTime": now, "lastTransitionTime": now})
      status["conditions"] = kept

  def set_replica_statuses(self, name: str, statuses: dict[str, dict],
                           namespace: str = "default") -> None:
    """e.g. {"Worker": {"active": 2}}"""
    with self._lock:
      self.tfjobs[(namespace, name)].setdefault("status", {})["replicaStatuses"] = statuses

  # --- state: Katib Experiments -----------------------------------------------------
  def experiment(self, name: str, namespace: str = "default") -> dict | None:
    """A copy of the stored Experiment, or None."""
    with self._lock:
      return copy.deepcopy(self.experiments.get((namespace, name)))

  def add_experiment(self, body: dict) -> dict:
    """Stores an Experiment as if created earlier (no operator call)."""
    return self._add("experiments", body)

  def set_status(self, name: str, namespace: str = "default",
                 plural: str = "experiments", **fields: Any) -> None:
    """Sets status fields, e.g. trialsSucceeded=2, trialsRunning=1."""
    with self._lock:
      self._stores[plural][(namespace, name)].setdefault("status", {}).update(
          copy.deepcopy(fields))

  def set_optimal_trial(self, name: str, trial: str, parameters: dict[str, str],
                        metrics: dict[str, str], namespace: str = "default") -> None:
    """status.currentOptimalTrial as Katib's controller writes it."""
    self.set_status(name, namespace, currentOptimalTrial={
        "bestTrialName": trial,
        "parameterAssignments": [{"name": k, "value": v} for k, v in parameters.items()],
        "observation": {"metrics": [{"name": k, "min": v, "max": v, "latest": v}
                                    for k, v in metrics.items()]}})

  # --- state: pods and logs ----------------------------------------------------------
  def add_pod(self, job: str, replica_type: str, index: int = 0, log: str | None = "",
              phase: str = "Running", namespace: str = "default") -> str:
    """A replica's pod, labelled like the operator's and built from the job's
    template; returns its name. log=None: its container has not started."""
    with self._lock:
      name = f"{job}-{replica_type.lower()}-{index}-{next(self._clock)}"
      template = self._template(namespace, job, replica_type)
      labels = {**(template.get("metadata") or {}).get("labels", {}),
                JOB_LABEL: job, "training.kubeflow.org/replica-type": replica_type.lower(),
                "training.kubeflow.org/replica-index": str(index)}
      spec = copy.deepcopy(template.get("spec") or {
          "containers": [{"name": "tensorflow", "image": "unknown"}]})
      self.pods[(namespace, name)] = {
          "apiVersion": "v1", "kind": "Pod",
          "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                       "labels": labels, "creationTimestamp": self._now()},
          "spec": spec,
          "status": {"phase": phase, "containerStatuses": [
              {"name": c["name"], "image": c.get("image", ""), "imageID": "",
               "ready": phase == "Running", "restartCount": 0}
              for c in spec["containers"]]}}
      self.logs[(namespace, name)] = log
      return name

  def append_log(self, pod: str, text: str, namespace: str = "default") -> None:
    with self._lock:
      self.logs[(namespace, pod)] = (self.logs.get((namespace, pod)) or "") + text

  def restart_container(self, pod: str, namespace: str = "default") -> None:
    """The container crashed and the kubelet restarted it (restartPolicy OnFailure)."""
    with self._lock:
      self.previous_logs[(namespace, pod)] = self.logs.get((namespace, pod)) or ""
      self.logs[(namespace, pod)] = ""
      for s in self.pods[(namespace, pod)]["status"]["containerStatuses"]:
        s["restartCount"] += 1

  def fail(self, method: str, path: str, status: int, message: str = "injected",
           times: int = 1) -> None:
    """Answers the next `times` such requests with this error."""
    with self._lock:
      self.failures.setdefault((method, path), []).extend([(status, message)] * times)

  # --- serving -----------------------------------------------------------------------
  def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
    request = read_request(handler, method)
    body, request.body = request.body, copy.deepcopy(request.body)
    with self._lock:
      self.requests.append(request)
    if method == "POST" and body is not None and os.environ.get(RECORD_ENV):
      _record(Path(os.environ[RECORD_ENV]), request)
    if self.before_request:
      self.before_request(self, request)
    then = None
    try:
      with self._lock:
        status, answer, then = self._answer(request, body)
    except _HttpError as e:
      status, answer = e.status, _status_object(e)
    if then:  # a hook, called outside the lock: it may wait on threads that take it
      then()
    respond(handler, status, answer)

  def _answer(self, r: Request, body: Any) -> tuple[int, Any, Callable | None]:
    """(HTTP status, JSON or text, a hook to call before answering)."""
    errors = self.failures.get((r.method, r.path))
    if errors:
      code, message = errors.pop(0)
      raise _HttpError(code, _REASONS.get(code, "InternalError"), message)
    m = _CUSTOM_PATH.match(r.path)
    if m and _KINDS[m["plural"]][0] == m["version"]:
      return self._custom(r, m["plural"], m["ns"], m["name"], body)
    if m := _POD_PATH.match(r.path):
      if r.method == "GET" and m["name"]:
        return 200, self._log(m["ns"], m["name"], r.query), None
      if r.method == "GET":
        return 200, self._list_pods(m["ns"], r.query.get("labelSelector", "")), None
    raise _HttpError(404, "NotFound", "the server could not find the requested resource")

  def _add(self, plural: str, body: dict) -> dict:
    with self._lock:
      meta = body.setdefault("metadata", {})
      meta.setdefault("namespace", "default")
      meta.update(uid=f"uid-{meta['name']}-{next(self._clock)}", resourceVersion="1",
                  generation=1, creationTimestamp=self._now())
      self._stores[plural][(meta["namespace"], meta["name"])] = body
      return copy.deepcopy(body)

  def _custom(self, r: Request, plural: str, ns: str, name: str | None, body: Any
              ) -> tuple[int, Any, Callable | None]:
    store = self._stores[plural]
    if r.method == "POST" and not name:
      return 201, *self._create(plural, ns, body)
    if r.method == "GET" and not name:
      version, kind = _KINDS[plural]
      return 200, {"apiVersion": f"kubeflow.org/{version}", "kind": f"{kind}List",
                   "metadata": {"resourceVersion": "1"},
                   "items": [j for (n, _), j in store.items() if n == ns]}, None
    if r.method == "GET":
      return 200, self._get(plural, ns, name), None
    if r.method == "DELETE" and not r.path.endswith("/status"):
      return 200, *self._delete(plural, ns, name)
    raise _HttpError(405, "MethodNotAllowed", f"{r.method} {r.path} is not supported")

  def _create(self, plural: str, ns: str, body: dict) -> tuple[dict, Callable | None]:
    name = body["metadata"]["name"]
    if (ns, name) in self._stores[plural]:
      raise _HttpError(409, "AlreadyExists",
                       f'{plural}.kubeflow.org "{name}" already exists')
    body["metadata"]["namespace"] = ns
    job, operator = self._add(plural, body), self.operator
    return job, operator and (lambda: operator(self, copy.deepcopy(job)))

  def _get(self, plural: str, ns: str, name: str) -> dict:
    job = self._stores[plural].get((ns, name))
    if job is None:
      raise _not_found(plural, name)
    answer = copy.deepcopy(job)
    if (plural, ns, name) in self._lingering:
      self._lingering[(plural, ns, name)] -= 1
      if self._lingering[(plural, ns, name)] <= 0:
        self._remove(plural, ns, name)
    return answer

  def _delete(self, plural: str, ns: str, name: str) -> tuple[dict, Callable | None]:
    job = self._stores[plural].get((ns, name))
    if job is None:
      raise _not_found(plural, name)
    hook, gone = self.on_delete, copy.deepcopy(job)
    then = hook and "deletionTimestamp" not in job["metadata"] and (
        lambda: hook(self, gone))
    job["metadata"].setdefault("deletionTimestamp", self._now())
    if self.deletion_lag and (plural, ns, name) not in self._lingering:
      self._lingering[(plural, ns, name)] = self.deletion_lag
    elif not self.deletion_lag:
      self._remove(plural, ns, name)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": name, "group": "kubeflow.org", "kind": plural,
                        "uid": job["metadata"]["uid"]}}, then or None

  def _remove(self, plural: str, ns: str, name: str) -> None:
    """The object and, as the garbage collector would, a TFJob's pods."""
    self._stores[plural].pop((ns, name), None)
    self._lingering.pop((plural, ns, name), None)
    if plural != "tfjobs":
      return
    for key in [k for k, p in self.pods.items()
                if k[0] == ns and p["metadata"]["labels"].get(JOB_LABEL) == name]:
      del self.pods[key]

  def _list_pods(self, ns: str, selector: str) -> dict:
    wanted = _parse_selector(selector)
    items = [p for (n, _), p in self.pods.items() if n == ns
             and all(p["metadata"]["labels"].get(k) == v for k, v in wanted.items())]
    return {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"},
            "items": copy.deepcopy(items)}

  def _log(self, ns: str, pod: str, query: dict[str, str]) -> str:
    if (ns, pod) not in self.pods:
      raise _HttpError(404, "NotFound", f'pods "{pod}" not found')
    if _flag(query.get("previous")):
      if (ns, pod) not in self.previous_logs:
        raise _HttpError(400, "BadRequest",
                         f'previous terminated container "tensorflow" in pod "{pod}" '
                         f'not found')
      return self.previous_logs[(ns, pod)]
    text = self.logs.get((ns, pod))
    if text is None:
      raise _HttpError(400, "BadRequest", f'container "tensorflow" in pod "{pod}" is '
                                          f'waiting to start: ContainerCreating')
    return text

  def _template(self, ns: str, job: str, replica_type: str) -> dict:
    replicas = ((self.tfjobs.get((ns, job)) or {}).get("spec") or {}).get(
        "tfReplicaSpecs", {})
    by_lower = {k.lower(): v for k, v in replicas.items()}
    return copy.deepcopy(by_lower.get(replica_type.lower(), {}).get("template", {}))

  def _now(self) -> str:
    when = _EPOCH + datetime.timedelta(seconds=next(self._clock))
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


_REASONS = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "AlreadyExists",
            429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}


def _not_found(plural: str, name: str) -> _HttpError:
  return _HttpError(404, "NotFound", f'{plural}.kubeflow.org "{name}" not found')


def _status_object(e: _HttpError) -> dict:
  return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
          "message": str(e), "reason": e.reason, "code": e.status}


def _flag(value: str | None) -> bool:
  """A boolean query parameter, read as the API server does ("True" is true)."""
  return value is not None and value not in ("", "0") and value.lower() != "false"


def _parse_selector(selector: str) -> dict[str, str]:
  """Equality selectors only (k=v,k2=v2); anything else is an error, not a match."""
  wanted = {}
  for term in filter(None, selector.split(",")):
    key, sep, value = term.partition("=")
    if not sep or key.endswith("!") or value.startswith("=") or " " in term:
      raise _HttpError(400, "BadRequest", f"selector not supported by the fake: {term}")
    wanted[key] = value
  return wanted
