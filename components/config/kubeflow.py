"""The `kubeflow` section: how `tpctl compile` lays the pipeline out on Kubernetes
(images, resources, GPU placement, volumes, the Trainer's TFJob, Katib)."""
from __future__ import annotations

from typing import Literal, Optional

import pydantic

from components.config._strict import Strict


class StepResources(Strict):
  """Kubernetes requests (= limits, so a step never loses its node to a neighbour)."""
  cpu: str = "2"
  memory: str = "8Gi"
  # GPUs of `KubeflowConfig.accelerator` per pod; 0 runs the step on CPU.
  gpus: int = pydantic.Field(0, ge=0)


class VolumeMount(Strict):
  pvc: str
  mount_path: str


class Toleration(Strict):
  key: str
  operator: Literal["Exists", "Equal"] = "Exists"
  value: Optional[str] = None
  effect: Optional[Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]] = None


class ClusterSize(Strict):
  """Replicas of the Trainer's TFJob on Kubeflow (1 worker and no ps: no TFJob, the
  step's own pod trains)."""
  workers: int = pydantic.Field(1, ge=1)
  ps: int = pydantic.Field(0, ge=0)


class KubeflowTuner(Strict):
  # local: the Tuner step searches in its own pod (trials in parallel processes
  # there); katib: it runs the search as a Katib Experiment, a pod per trial.
  backend: Literal["local", "katib"] = "local"


class KubeflowConfig(Strict):
  """How `tpctl compile` lays the pipeline out on Kubernetes (not used locally)."""
  # One image runs every step (see containers/Dockerfile)...
  image: str = "registry.example.com/training-patterns:0.1.0"
  # ... unless this is set: the CPU variant of it (`make images` builds both),
  # for every step that uses no GPU; the Tuner and Trainer keep `image`.
  cpu_image: Optional[str] = None
  resources: StepResources = StepResources()
  # The Tuner and Trainer: the steps that use accelerators.
  training_resources: StepResources = StepResources(cpu="4", memory="16Gi", gpus=1)
  accelerator: str = "nvidia.com/gpu"
  # Where GPU steps may be scheduled (the NVIDIA device plugin's taint and label).
  gpu_node_selector: dict[str, str] = {"nvidia.com/gpu.present": "true"}
  gpu_tolerations: tuple[Toleration, ...] = (
      Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule"),)
  # Claims mounted into every step (names match k8s/base). Checkpoints and the
  # serving directory must be on one of them: they outlive any single run. KFP's
  # own pipeline root is its object store (its launcher takes only gs://, s3://,
  # minio://); the pipeline-root volume holds the CronJob's runs and is a place
  # for data (`--data-dir /mnt/pipeline-root/...`).
  volumes: tuple[VolumeMount, ...] = (
      VolumeMount(pvc="training-patterns-pipeline-root", mount_path="/mnt/pipeline-root"),
      VolumeMount(pvc="training-patterns-checkpoints", mount_path="/mnt/checkpoints"),
      VolumeMount(pvc="training-patterns-serving", mount_path="/mnt/serving"),
  )
  checkpoint_dir: str = "/mnt/checkpoints"
  serving_dir: str = "/mnt/serving"
  # Several workers (or parameter servers): the Trainer step launches a TFJob of
  # this size, on the run's image, with training_resources per worker. Default:
  # trainer.workers and trainer.ps, as a local run uses them.
  trainer: Optional[ClusterSize] = None
  # Where that TFJob (and a Katib Experiment) is created; default: the step pod's
  # own namespace.
  tfjob_namespace: Optional[str] = None
  tuner: KubeflowTuner = KubeflowTuner()
