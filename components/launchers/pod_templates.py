"""The pod template pieces the launchers share (a TFJob's replicas, a Katib trial,
a KFP task's pod): every pod they start runs locked down (non-root, read-only root,
no capabilities, no API token), labelled for the NetworkPolicy."""
from __future__ import annotations

from components.config import StepResources, Toleration, VolumeMount
from components.errors import ConfigError

PART_OF = "training-patterns"  # the NetworkPolicy selects pods by this label
UID = 1000  # the image's user; it owns the PVC data


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
    raise ConfigError(f"volume mount paths must be distinct and not /tmp: {paths}")


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

