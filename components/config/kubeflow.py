"""The `kubeflow` section: how `tpctl compile` lays the pipeline out on Kubernetes
(images, resources, GPU placement, volumes, the Trainer's TFJob, Katib)."""
from __future__ import annotations

from typing import Literal, Optional

import pydantic

from components.config._strict import Strict


class StepResources(Strict):
  """Kubernetes requests (= limits, so a step never loses its node to a neighbour)."""
  cpu: str = pydantic.Field("2", description="CPU request and limit (a Kubernetes "
                                             "quantity: 2, 500m).")
  memory: str = pydantic.Field("8Gi", description="Memory request and limit (a Kubernetes "
                                                  "quantity: 8Gi).")
  gpus: int = pydantic.Field(
      0, ge=0, description="GPUs of kubeflow.accelerator per pod; 0 runs the step on CPU.")


class VolumeMount(Strict):
  """A PersistentVolumeClaim mounted into every step's pod."""
  pvc: str = pydantic.Field(description="The claim's name.")
  mount_path: str = pydantic.Field(description="Where the pod sees it.")


class Toleration(Strict):
  """A Kubernetes toleration, letting GPU steps onto tainted nodes."""
  key: str = pydantic.Field(description="The taint's key.")
  operator: Literal["Exists", "Equal"] = pydantic.Field(
      "Exists", description="Exists: any value of the key; Equal: the value below.")
  value: Optional[str] = pydantic.Field(None, description="The taint's value, with Equal.")
  effect: Optional[Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]] = pydantic.Field(
      None, description="The taint effect tolerated; null: all of them.")


class ClusterSize(Strict):
  """Replicas of the Trainer's TFJob on Kubeflow (1 worker and no ps: no TFJob, the
  step's own pod trains)."""
  workers: int = pydantic.Field(1, ge=1, description="TFJob worker replicas.")
  ps: int = pydantic.Field(
      0, ge=0, description="TFJob parameter server replicas (with trainer.strategy "
                           "parameter_server).")


class KubeflowTuner(Strict):
  """Where the Tuner step runs its trials on Kubeflow."""
  backend: Literal["local", "katib"] = pydantic.Field(
      "local", description="local: the Tuner step searches in its own pod (trials in "
                           "parallel processes there); katib: it runs the search as a Katib "
                           "Experiment, a pod per trial.")


class KubeflowConfig(Strict):
  """How `tpctl compile` lays the pipeline out on Kubernetes (not used locally)."""
  image: str = pydantic.Field(
      "registry.example.com/training-patterns:0.1.0",
      description="The image that runs every step (see containers/Dockerfile).")
  cpu_image: Optional[str] = pydantic.Field(
      None, description="The CPU variant of image (`make images` builds both), for every "
                        "step that uses no GPU; the Tuner and Trainer keep image.")
  resources: StepResources = pydantic.Field(
      StepResources(), description="Each step's pod, except the Tuner's and Trainer's.")
  training_resources: StepResources = pydantic.Field(
      StepResources(cpu="4", memory="16Gi", gpus=1),
      description="The Tuner's and Trainer's pods (and each TFJob worker): the steps that "
                  "use accelerators.")
  accelerator: str = pydantic.Field(
      "nvidia.com/gpu", description="The resource name of the GPUs a pod requests.")
  gpu_node_selector: dict[str, str] = pydantic.Field(
      {"nvidia.com/gpu.present": "true"},
      description="Node labels a GPU step is scheduled on (the NVIDIA device plugin's).")
  gpu_tolerations: tuple[Toleration, ...] = pydantic.Field(
      (Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule"),),
      description="Taints a GPU step tolerates (the NVIDIA device plugin's).")
  volumes: tuple[VolumeMount, ...] = pydantic.Field(
      (VolumeMount(pvc="training-patterns-pipeline-root", mount_path="/mnt/pipeline-root"),
       VolumeMount(pvc="training-patterns-checkpoints", mount_path="/mnt/checkpoints"),
       VolumeMount(pvc="training-patterns-serving", mount_path="/mnt/serving")),
      description="Claims mounted into every step (names match k8s/base). Checkpoints and "
                  "the serving directory must be on one of them, as they outlive any run; "
                  "the pipeline-root volume holds the CronJob's runs and is a place for data "
                  "(KFP's own pipeline root is its object store).")
  checkpoint_dir: str = pydantic.Field(
      "/mnt/checkpoints", description="On Kubeflow, the checkpoint directory in place of "
                                      "checkpoint_dir: a path on one of the volumes.")
  serving_dir: str = pydantic.Field(
      "/mnt/serving", description="On Kubeflow, models are pushed to <serving_dir>/"
                                  "<pipeline_name> in place of serving_dir: a path on one of "
                                  "the volumes.")
  trainer: Optional[ClusterSize] = pydantic.Field(
      None, description="Several workers (or parameter servers): the Trainer step launches a "
                        "TFJob of this size on the run's image, with training_resources per "
                        "worker. null: trainer.workers and trainer.ps, as a local run uses "
                        "them.")
  tfjob_namespace: Optional[str] = pydantic.Field(
      None, description="Where that TFJob (and a Katib Experiment) is created; default: the "
                        "step pod's own namespace.")
  tuner: KubeflowTuner = pydantic.Field(
      KubeflowTuner(), description="Where the Tuner step runs its trials.")
