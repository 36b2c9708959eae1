"""Streams the log of one pod of a running custom resource (the TFJob replica that
reports progress) to the step's output, line by line, as the pod writes it.

The lines are relayed as they are: whoever launched the job picks its progress
lines out of them (components/progress.py), the rest stays TensorFlow's log. Logs
are best effort: the object's status decides how the step ends.
"""
from __future__ import annotations

import dataclasses

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from components.launchers.status import REQUEST_TIMEOUT, api_error
from components.progress import Say


@dataclasses.dataclass(frozen=True)
class PodLog:
  """The pod whose log is streamed: the newest matching the selector."""
  selector: str
  container: str


class LogTail:
  """Streams the log of one pod.

  The API has no byte offset to read from, so each poll re-reads the whole log and
  prints what follows the bytes printed so far (complete lines only, until the end).
  A new pod or a restarted container starts over at its own beginning.
  """

  def __init__(self, core: k8s.CoreV1Api, namespace: str, source: PodLog, where: str,
               progress: Say):
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
          _request_timeout=REQUEST_TIMEOUT).items
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
          _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
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



def _created(pod) -> float:
  when = pod.metadata.creation_timestamp
  return when.timestamp() if when else 0.0


def _restarts(pod, container_name: str) -> int:
  statuses = (pod.status and pod.status.container_statuses) or []
  return next((s.restart_count for s in statuses if s.name == container_name), 0)
