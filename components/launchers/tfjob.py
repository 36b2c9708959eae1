"""Runs a distributed training job as a Kubeflow Training Operator TFJob.

A pipeline step calls `run(spec)`: it creates the TFJob, reports its conditions,
streams the logs of the replica that reports progress (the chief, else worker 0),
and returns the finished TFJob or raises TFJobFailed. The TFJob is always deleted
at the end, so a stopped or failed step leaves no pods running behind it. The
create/watch/delete cycle is custom_resource.run's; this module says what a TFJob
is, which pod reports, and which conditions end it.

No TensorFlow here: the step that launches the job only talks to the API server.
The Training Operator injects TF_CONFIG into each replica; the manifest must not.
"""
from __future__ import annotations

import dataclasses
import re

from kubernetes import client as k8s

from components.config import StepResources, Toleration, VolumeMount
from components.errors import ConfigError
from components.launchers import custom_resource as cr
from components.launchers.custom_resource import Progress
from components.launchers import pod_templates
from components.launchers.pod_log import PodLog
from components.launchers.status import condition, why

GROUP, VERSION, PLURAL, KIND = "kubeflow.org", "v1", "tfjobs", "TFJob"
CONTAINER = "tensorflow"  # the Training Operator requires this container name
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


class TFJobFailed(RuntimeError):
  """The TFJob failed, timed out or could not be run; str() is one line. A run
  failure, not a UserError (a shape the config makes invalid is a ConfigError)."""


_KIND = cr.Kind(GROUP, VERSION, PLURAL, KIND, error=TFJobFailed,
                terminal=("Succeeded", "Failed"))


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
      raise ConfigError(f"need workers >= 1 and ps >= 0, got {self.workers} and {self.ps}")
    _check_name(self)
    if not self.namespace:
      raise ValueError("namespace is required")
    if not self.command:
      raise ValueError("command is empty")
    if "TF_CONFIG" in self.env:
      raise ValueError("env must not set TF_CONFIG: the Training Operator sets it "
                       "per replica")
    pod_templates.check_volumes(self.volumes)
    pod_templates.owner_references(self.owner)

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
    metadata["ownerReferences"] = pod_templates.owner_references(spec.owner)
  return {
      "apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": metadata,
      "spec": {
          # Running: stop stragglers at the end, keep finished pods' logs.
          "runPolicy": {"cleanPodPolicy": "Running", "backoffLimit": 3},
          # successPolicy unset: the job succeeds when the chief (else worker 0) does.
          "tfReplicaSpecs": {kind: _replica(spec, kind, n) for kind, n in replicas.items()},
      }}


def _labels(spec: TFJobSpec) -> dict[str, str]:
  return pod_templates.labels("multiworker-training", spec.labels)


def _replica(spec: TFJobSpec, kind: str, count: int) -> dict:
  gpus = 0 if kind == "PS" else spec.resources.gpus  # a PS only holds variables
  container = pod_templates.container(
      CONTAINER, spec.image, spec.command, resources=spec.resources, gpus=gpus,
      accelerator=spec.accelerator, volumes=spec.volumes, env=spec.env)
  pod = pod_templates.pod_spec(container, service_account=spec.service_account,
                    volumes=spec.volumes, gpus=gpus, node_selector=spec.node_selector,
                    tolerations=spec.tolerations)
  return {
      "replicas": count,
      # A restarted worker resumes from its checkpoints. PS too: Always would
      # restart a PS the operator stops at the end, and the job would never finish.
      "restartPolicy": "OnFailure",
      "template": pod_templates.pod_template(_labels(spec), pod)}


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
  job = cr.run(_KIND, build_manifest(spec), api_client, progress, poll_seconds,
               timeout_seconds, detail=_shape(spec), pod_log=_progress_pod(spec))
  failed = condition(job, "Failed")
  if failed:
    raise TFJobFailed(why(failed) or "Failed")
  return job


def _progress_pod(spec: TFJobSpec) -> PodLog:
  return PodLog(selector=f"training.kubeflow.org/job-name={spec.name},"
                            f"training.kubeflow.org/replica-type={spec.progress_replica},"
                            f"training.kubeflow.org/replica-index=0",
                   container=CONTAINER)


def _shape(spec: TFJobSpec) -> str:
  parts = (["1 chief"] if spec.chief else []) + [f"{spec.workers} worker(s)"]
  if spec.ps:
    parts.append(f"{spec.ps} ps")
  if spec.resources.gpus:
    parts.append(f"{spec.resources.gpus} {spec.accelerator} each")
  return ", ".join(parts)
