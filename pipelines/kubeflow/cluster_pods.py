"""The local KFP launcher's third kind of "pod" (see pods.py): a real Pod on a
Kubernetes cluster, created through the official `kubernetes` client.

Why: the venv and buildah kinds run a step the way the image would, but nothing
there is Kubernetes. Here each compiled task becomes the Pod that KFP's backend
would create for it, as far as one node allows: the step's image (already on the
node: `imagePullPolicy: IfNotPresent`), the compiled CPU/memory/accelerator
requests, the platform spec's PVC mounts, node selector and tolerations, and the
same locked-down security context as every pod the launchers start (non-root,
read-only root filesystem, no capabilities), which the kubelet enforces.

What stands in for KFP: its launcher, inside the pod, copies input artifacts from
the object store to `/minio/...` and outputs back, and keeps the executor's
output file under `/tmp`. Here the local launcher does that copying on the host,
into the task's directory on a claim's volume (one node: the host sees the
volume's directory), and the pod mounts that directory's `minio/` and `tmp/` by
subPath. Not hostPath: the namespace enforces Pod Security "baseline", which
refuses hostPath volumes (the API server said so on the first try).
"""
from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path
from typing import Callable

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from components.config import StepResources, Toleration, VolumeMount
from components.launchers import custom_resource as cr
from components.launchers import pod_templates
from components.launchers.status import api_error, one_line
from pipelines.kubeflow.pods import Finished

# The compiled container's resource fields (KFP v2 PipelineContainerSpec).
_CPU, _MEMORY = "resourceCpuLimit", "resourceMemoryLimit"
_TERMINAL = ("Succeeded", "Failed")


def step_resources(compiled: dict) -> tuple[StepResources, str]:
  """(requests = limits, accelerator type) from a compiled container's resources."""
  accelerator = compiled.get("accelerator") or {}
  gpus = int(accelerator.get("resourceCount") or accelerator.get("count") or 0)
  resources = StepResources(cpu=str(compiled.get(_CPU) or compiled.get("resourceCpuRequest")
                                    or StepResources().cpu),
                            memory=str(compiled.get(_MEMORY)
                                       or compiled.get("resourceMemoryRequest")
                                       or StepResources().memory),
                            gpus=gpus)
  return resources, accelerator.get("resourceType") or accelerator.get("type") or ""


def pod_name(task: str) -> str:
  """A DNS-1123 name, unique per attempt: `tp-<task>-<8 hex>`."""
  stem = re.sub(r"[^a-z0-9-]+", "-", task.lower()).strip("-")[:40]
  return f"tp-{stem}-{uuid.uuid4().hex[:8]}"


def task_pod(name: str, task: str, image: str, command: list[str], *,
             staging: tuple[str, str], resources: dict, platform: dict,
             service_account: str, env: dict[str, str] | None = None) -> dict:
  """The Pod manifest of one compiled task (see the module docstring). `staging`:
  (claim, the task directory's path on it), whose minio/ and tmp/ the launcher fills."""
  step, accelerator = step_resources(resources)
  volumes = tuple(VolumeMount(pvc=m["constant"], mount_path=m["mountPath"])
                  for m in platform.get("pvcMount", []))
  pod_templates.check_volumes(volumes + (VolumeMount(pvc="-", mount_path="/minio"),))
  tolerations = tuple(Toleration(**t) for t in platform.get("tolerations", []))
  node_selector = (platform.get("nodeSelector") or {}).get("labels", {})
  container = pod_templates.container("main", image, command, resources=step, gpus=step.gpus,
                           accelerator=accelerator, volumes=volumes, env=env)
  container["imagePullPolicy"] = "IfNotPresent"  # imported into the node's containerd
  container["workingDir"] = "/tmp"
  claim, directory = staging
  # The claim's own volume if the step mounts it already: a pod naming one claim
  # in two volumes never starts (the kubelet waits for the second mount forever).
  launcher = next((name for name, v in pod_templates.named_volumes(volumes) if v.pvc == claim),
                  "launcher")
  container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] != "tmp"] + [
      {"name": launcher, "mountPath": "/tmp", "subPath": f"{directory}/tmp"},
      {"name": launcher, "mountPath": "/minio", "subPath": f"{directory}/minio"}]
  # As KFP's pods: the pod's name and uid (the Trainer's TFJob is owned by its pod,
  # so deleting the pod deletes the job) ...
  container["env"] += [
      {"name": f"KFP_POD_{field.upper()}",
       "valueFrom": {"fieldRef": {"fieldPath": f"metadata.{field}"}}}
      for field in ("name", "uid")]
  spec = pod_templates.pod_spec(container, service_account=service_account, volumes=volumes,
                     gpus=step.gpus, node_selector=node_selector, tolerations=tolerations)
  spec["restartPolicy"] = "Never"  # a failed step fails the task, as on KFP
  # ... and the run's service account token: the Trainer and Tuner steps create
  # their TFJob or Experiment through the API.
  spec["automountServiceAccountToken"] = True
  # The launcher's side of the pod: its output file (/tmp) and artifacts (/minio).
  spec["volumes"] = [v for v in spec["volumes"] if v["name"] != "tmp"]
  if launcher == "launcher":
    spec["volumes"].append({"name": "launcher", "persistentVolumeClaim": {"claimName": claim}})
  labels = pod_templates.labels("pipeline-step", {"pipelines.kubeflow.org/task": _label(task)})
  return {"apiVersion": "v1", "kind": "Pod",
          "metadata": {"name": name, **pod_templates.pod_template(labels, spec)["metadata"]},
          "spec": spec}


def _label(text: str) -> str:
  return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63].strip("-_.") or "task"


class KubernetesPods:
  """Each executor as a Pod in `namespace` (see the module docstring).

  The cluster must be this host's single node, hold the step images, and have
  the claims the compiled platform spec mounts. `staging`: (claim, the directory
  the host sees as that claim's volume); the launcher's pod directories must be
  under it. `service_account`: the one KFP would run the pods as (its token is
  mounted, as KFP's is)."""

  def __init__(self, namespace: str, staging: tuple[str, Path],
               api_client: k8s.ApiClient | None = None, *,
               service_account: str = "pipeline-runner", env: dict | None = None,
               progress: Callable[[str], None] = lambda msg: None,
               poll_seconds: float = 1.0):
    self.namespace = namespace
    self.staging_claim, self.staging_root = staging[0], Path(staging[1]).resolve()
    self.api = k8s.CoreV1Api(api_client or cr.default_client())
    self.service_account = service_account
    self.env = dict(env or {})
    self.progress = progress
    self.poll_seconds = poll_seconds
    self.pods: dict[str, dict] = {}  # task -> the manifest it ran as

  def root(self, pod: Path) -> str:
    return "/"

  def run(self, task: str, command: list[str], pod: Path, timeout: int,
          image: str | None = None, resources: dict | None = None,
          platform: dict | None = None) -> Finished:
    if not image:
      raise ValueError(f"{task}: the compiled task names no image")
    pod = pod.resolve()
    if not pod.is_relative_to(self.staging_root):
      raise ValueError(f"{pod} is not on the staging volume {self.staging_root}")
    for sub in ("tmp", "minio"):
      (pod / sub).mkdir(parents=True, exist_ok=True)
    _own(pod, pod_templates.UID)  # the step's user writes its outputs there
    name = pod_name(task)
    body = task_pod(name, task, image, command,
                    staging=(self.staging_claim, str(pod.relative_to(self.staging_root))),
                    resources=resources or {}, platform=platform or {},
                    service_account=self.service_account, env=self.env)
    self.pods[task] = body
    self.api.create_namespaced_pod(self.namespace, body)
    try:
      phase, code, why = self._wait(name, task, timeout)
      log = self._log(name)
    finally:
      self._delete(name)
    if phase != "Succeeded":
      return Finished(code or 1, f"{log}\npod {name} {phase}: {why}".strip())
    return Finished(0, log)

  def _wait(self, name: str, task: str, timeout: int) -> tuple[str, int | None, str]:
    """(phase, exit code, one-line reason) once the pod ends or `timeout` passes."""
    deadline = time.monotonic() + timeout
    said = None
    while True:
      pod = self.api.read_namespaced_pod(name, self.namespace, _request_timeout=60)
      phase = pod.status.phase or "Pending"
      state = _container_state(pod)
      line = f"{task}: pod {name} {phase}" + (f" ({state})" if state else "")
      if line != said:
        self.progress(line)
        said = line
      if phase in _TERMINAL:
        terminated = _terminated(pod)
        code = terminated.exit_code if terminated else None
        reason = one_line(" ".join(filter(None, [
            terminated and terminated.reason, terminated and terminated.message,
            pod.status.reason, pod.status.message]))) or phase
        return phase, code, reason
      if state and state.startswith(("ErrImage", "ImagePull", "CreateContainerConfigError",
                                     "CreateContainerError", "InvalidImageName")):
        return "Failed", None, state
      if time.monotonic() > deadline:
        return "Failed", None, f"still {phase} after {timeout} s"
      time.sleep(self.poll_seconds)

  def _log(self, name: str) -> str:
    try:
      return self.api.read_namespaced_pod_log(name, self.namespace, container="main",
                                              _request_timeout=60)
    except ApiException as error:
      return f"(no log: {api_error(error)})"

  def _delete(self, name: str) -> None:
    try:
      self.api.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0,
                                     _request_timeout=60)
    except ApiException as error:
      if error.status != 404:
        raise


def _container_state(pod) -> str:
  """The main container's waiting reason or running/terminated, for progress lines."""
  for status in (pod.status.container_statuses or []):
    if status.state.waiting:
      return status.state.waiting.reason or "waiting"
    if status.state.running:
      return "running"
    if status.state.terminated:
      return f"exit {status.state.terminated.exit_code}"
  return ""


def _terminated(pod):
  for status in (pod.status.container_statuses or []):
    if status.state.terminated:
      return status.state.terminated
  return None


def _own(top: Path, uid: int) -> None:
  for path in [top, *top.rglob("*")]:
    os.lchown(path, uid, uid)
