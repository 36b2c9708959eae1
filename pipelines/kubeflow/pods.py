"""Where the local KFP launcher (local_launcher.py) starts each task's executor: its
"pod".

- VenvPods: a subprocess of this machine's project venv (fast; the default).
- (cluster_pods.KubernetesPods: a real Pod on a Kubernetes node.)
- BuildahPods: a container of its own from the pipeline image, started with buildah
  (no Docker daemon), run the way the Kubernetes manifests run the image: as uid
  1000, HOME=/tmp, /tmp an emptyDir, the PVCs of the compiled platform spec and
  the launcher's /minio mounted as volumes, nothing else writable. Afterwards the
  container's own writable layer is read: a step that wrote into the image's
  file system would fail on Kubernetes (readOnlyRootFilesystem), so it fails here.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from pathlib import Path

from pipelines.kubeflow import entrypoint


@dataclasses.dataclass
class Finished:
  returncode: int
  log: str


class VenvPods:
  """Executors as subprocesses of `python` (the project venv stands in for the image)."""

  def __init__(self, python: str = sys.executable, env: dict | None = None):
    self.python = python
    self.env = env or {}

  def root(self, pod: Path) -> str:
    """Where the pod directory appears to the executor."""
    return str(pod)

  def run(self, task: str, command: list[str], pod: Path, timeout: int,
          image: str | None = None, **_placement) -> Finished:
    """(`_placement`: the compiled resources and platform spec, which only a
    Kubernetes pod can honour.)"""
    if command[0] == "python":  # the image's python is the project venv here
      command = [self.python, *command[1:]]
    env = {**os.environ, **self.env, entrypoint.LOCAL_ROOT_ENV: str(pod)}
    proc = subprocess.run(command, cwd=pod, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return Finished(proc.returncode, proc.stdout + proc.stderr)


# Files buildah itself puts into a container's writable layer on `run` (it
# bind-mounts over them); mount points are directories and are not counted.
_BUILDAH_OWN = {"etc/hosts", "etc/resolv.conf", "etc/hostname", "run/.containerenv"}


class BuildahPods:
  """Each executor in its own container from `image` (see the module docstring).

  volumes: mount path in the container -> host directory (the PVCs)."""

  def __init__(self, image: str, volumes: dict[str, Path] | None = None,
               user: str = "1000:1000", env: dict | None = None):
    self.image = image
    self.volumes = {mount: Path(host) for mount, host in (volumes or {}).items()}
    self.user = user
    self.env = {"HOME": "/tmp", **(env or {})}
    self.containers: list[str] = []      # names, in the order they ran
    self.rootfs_writes: dict[str, list[str]] = {}

  def root(self, pod: Path) -> str:
    return "/"

  def _buildah(self, *args: str, timeout: int = 600) -> str:
    proc = subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
      raise RuntimeError(f"buildah {args[0]} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout.strip()

  def _own(self, *paths: Path) -> None:
    """The volumes belong to the step's user (fsGroup does this on Kubernetes)."""
    uid, gid = (int(x) for x in self.user.split(":"))
    for top in paths:
      for path in [top, *top.rglob("*")]:
        os.lchown(path, uid, gid)

  def run(self, task: str, command: list[str], pod: Path, timeout: int,
          image: str | None = None, workdir: str = "/tmp", **_placement) -> Finished:
    """`image`: the step's own (the compiled spec's); default: the pods' image.
    (`_placement`: resources and platform spec, which buildah cannot honour;
    the volumes are this object's.)"""
    name = f"tp-{task.lower()}-{uuid.uuid4().hex[:8]}"
    mounts = {"/minio": pod / "minio", "/tmp": pod / "tmp", **self.volumes}
    for host in mounts.values():
      host.mkdir(parents=True, exist_ok=True)
    self._own(*mounts.values())
    self._buildah("from", "--pull=false", "--name", name, image or self.image)
    self.containers.append(name)
    try:
      layer = Path(self._buildah("mount", name)).parent / "diff"
      args = ["run", "--isolation", "chroot", "--user", self.user, "--workingdir", workdir]
      for mount, host in mounts.items():
        args += ["--volume", f"{host}:{mount}:rw"]
      for key, value in self.env.items():
        args += ["--env", f"{key}={value}"]
      proc = subprocess.run(["buildah", *args, name, "--", *command], capture_output=True,
                            text=True, timeout=timeout)
      self.rootfs_writes[task] = _written(layer)
    finally:
      subprocess.run(["buildah", "rm", name], capture_output=True, timeout=120)
    log = proc.stdout + proc.stderr
    if self.rootfs_writes[task]:
      return Finished(proc.returncode or 1, log + f"\n{task} wrote into the image's file "
                      f"system (read-only on Kubernetes): {self.rootfs_writes[task][:10]}")
    return Finished(proc.returncode, log)


def _written(layer: Path) -> list[str]:
  """Files the container created, changed or deleted (whiteouts) in its writable
  layer (an overlay upper directory), apart from buildah's own."""
  if not layer.is_dir():
    raise RuntimeError(f"{layer}: no overlay upper directory (buildah storage driver "
                       "must be overlay to check for writes)")
  return ["/" + str(path.relative_to(layer)) for path in sorted(layer.rglob("*"))
          if not path.is_dir() and str(path.relative_to(layer)) not in _BUILDAH_OWN]
