"""Runs one namespaced custom resource (a TFJob, a Katib Experiment...) to its end.

`run(kind, body)` creates the object, reports its conditions (and an optional
status summary) as they change, optionally streams one pod's log, and returns the
object once a terminal condition is set. The object is deleted however this ends,
so a stopped or failed step leaves nothing running behind it. Transient API errors
(5xx, 429, connection errors) are retried for a while; anything else fails at once
with a one-line reason, raised as `kind.error`.

The pod log follower is pod_log.py; the locked-down pod template pieces the
launchers share are pod_templates.py; reading conditions and API errors as one
line is status.py.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from components.launchers.pod_log import LogTail, PodLog
from components.launchers.status import (REQUEST_TIMEOUT, api_error, condition,
                                         conditions, last_condition, why)
from components.progress import Say

# How long the API server may be unreachable before a watched object is given up
# (and deleted): long enough for a control-plane upgrade.
_API_OUTAGE_SECONDS = 300
# How long a replaced object may take to disappear after its deletion.
_GONE_SECONDS = 120

log = logging.getLogger(__name__)
Progress = Say  # the launchers' name for it


@dataclasses.dataclass(frozen=True)
class Kind:
  """A custom resource kind, and how its runs end."""
  group: str
  version: str
  plural: str
  kind: str
  error: type[RuntimeError] = RuntimeError  # raised with a one-line reason
  terminal: tuple[str, ...] = ("Succeeded", "Failed")  # conditions that end the watch


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
    self.logs = pod_log and LogTail(k8s.CoreV1Api(api_client), self.namespace,
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
        plural=self.kind.plural, _request_timeout=REQUEST_TIMEOUT, **kwargs)

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
