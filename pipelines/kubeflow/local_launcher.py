"""Runs a compiled KFP v2 pipeline spec task by task on this machine, the way the
open-source KFP v2 backend (kubeflow/pipelines, backend/src/v2) would, with the
project venv standing in for the image.

What is emulated, and from where:
- driver (driver/driver.go, resolve.go, util.go): parameter values from constants,
  pipeline inputs (run arguments, else the declared defaults) and defaults of the
  component; upstream artifacts as MLMD gives them back: `name` is the artifact
  id, the type is EMPTY (`instanceSchema: ""`), metadata is the recorded custom
  properties (numbers as doubles, plus `display_name` and `store_session_info`);
  output URIs `<root>/<pipeline>/<run>/<task>/<uuid>/<output>` typed from the
  component's output definitions; the extra `executor-logs` output
  (`system.Artifact`) that publish-logs adds; a fresh `outputFile` per task.
- launcher (component/launcher_v2.go, objectstore/): `{{$}}` replaced by the
  executor input JSON; input artifacts downloaded from the object store to the
  pod's `/minio/...` paths and outputs uploaded from them, regular files only
  (empty directories do not survive, as in a bucket); a non-zero exit fails the
  task; the executor output's URI and metadata are merged into the artifact.
The object store is a local directory; each task gets its own "pod" directory
whose `minio/` subfolder is what the launcher mounts at `/minio`. Where the
executor itself runs is the `pods` object's choice: a subprocess of the project
venv or a container of its own from the step's image (buildah), both pods.py, or
a real Pod on a Kubernetes node (cluster_pods.py), which also gets the step's
compiled resources and its platform spec (PVCs, node selector, tolerations).
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any, Optional

import yaml

from pipelines.kubeflow.pods import VenvPods

PIPELINE_ROOT = "minio://mlpipeline/v2/artifacts"
_SCHEME = "minio://"


class TaskFailed(RuntimeError):
  pass


@dataclasses.dataclass
class Artifact:
  id: int
  uri: str
  metadata: dict


@dataclasses.dataclass
class TaskResult:
  name: str
  executor_input: dict
  executor_output: dict
  outputs: dict[str, Artifact]
  log: str


def load_spec(path: Path) -> tuple[dict, dict]:
  """(pipeline spec, kubernetes platform spec or {})."""
  docs = list(yaml.safe_load_all(Path(path).read_text()))
  platform = docs[1]["platforms"]["kubernetes"] if len(docs) > 1 else {}
  return docs[0], platform


def task_order(spec: dict) -> list[str]:
  """Dependency order (dependentTasks and artifact producers)."""
  tasks = spec["root"]["dag"]["tasks"]
  deps = {name: set(t.get("dependentTasks", [])) | {
      a["taskOutputArtifact"]["producerTask"]
      for a in t.get("inputs", {}).get("artifacts", {}).values()
      if "taskOutputArtifact" in a} for name, t in tasks.items()}
  order: list[str] = []
  while len(order) < len(tasks):
    ready = sorted(n for n in tasks if n not in order and deps[n] <= set(order))
    if not ready:
      raise ValueError(f"dependency cycle among {sorted(set(tasks) - set(order))}")
    order += ready
  return order


def _mlmd_value(value: Any) -> Any:
  """What a metadata value looks like after a round trip through MLMD custom
  properties (StructValueToMLMDValue, then back): numbers become doubles."""
  if isinstance(value, bool):
    return int(value)
  if isinstance(value, (int, float)):
    return float(value)
  return value


class LocalKfp:

  def __init__(self, spec_path: Path, workdir: Path, arguments: Optional[dict] = None,
               python: str = sys.executable, env: Optional[dict] = None, pods=None):
    self.spec, self.platform = load_spec(spec_path)
    self.workdir = Path(workdir)
    self.store = self.workdir / "object-store"
    self.arguments = arguments or {}
    self.pods = pods or VenvPods(python, env)
    self.run_id = uuid.uuid4().hex[:12]
    self._ids = itertools.count(1)
    self._artifacts: dict[tuple[str, str], Artifact] = {}

  # -- object store ------------------------------------------------------------
  def _store_path(self, uri: str) -> Path:
    assert uri.startswith(_SCHEME), uri
    return self.store / uri[len(_SCHEME):]

  @staticmethod
  def _copy_files(src: Path, dest: Path) -> None:
    """Objects are files: a directory with no files in it is not carried over."""
    if src.is_file():
      dest.parent.mkdir(parents=True, exist_ok=True)
      shutil.copy2(src, dest)
      return
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
      target = dest / path.relative_to(src)
      target.parent.mkdir(parents=True, exist_ok=True)
      shutil.copy2(path, target)

  def object_path(self, uri: str) -> Path:
    """Where an artifact's objects are in the local object store."""
    return self._store_path(uri)

  # -- driver ------------------------------------------------------------------
  def _parameters(self, task: dict, component: dict) -> dict:
    root_inputs = self.spec["root"].get("inputDefinitions", {}).get("parameters", {})
    values = {}
    for name, source in task.get("inputs", {}).get("parameters", {}).items():
      if "runtimeValue" in source:
        values[name] = source["runtimeValue"]["constant"]
      elif "componentInputParameter" in source:
        key = source["componentInputParameter"]
        if key in self.arguments:
          values[name] = self.arguments[key]
        elif "defaultValue" in root_inputs.get(key, {}):
          values[name] = root_inputs[key]["defaultValue"]
        elif not root_inputs.get(key, {}).get("isOptional"):
          raise TaskFailed(f"pipeline parameter {key!r} has no value and no default")
      else:
        raise TaskFailed(f"parameter {name}: source {sorted(source)} not supported")
    declared = component.get("inputDefinitions", {}).get("parameters", {})
    for name, definition in declared.items():
      if name in values and definition.get("parameterType") == "STRING" \
          and not isinstance(values[name], str):
        values[name] = json.dumps(values[name])
      if name not in values and "defaultValue" in definition:  # addDefaultParams
        values[name] = definition["defaultValue"]
    return values

  def _input_artifacts(self, task: dict) -> dict:
    result = {}
    for name, source in task.get("inputs", {}).get("artifacts", {}).items():
      out = source["taskOutputArtifact"]
      artifact = self._artifacts[(out["producerTask"], out["outputArtifactKey"])]
      result[name] = {"artifacts": [{
          "name": str(artifact.id), "type": {"instanceSchema": ""},
          "uri": artifact.uri, "metadata": artifact.metadata}]}
    return result

  def _output_artifacts(self, task_name: str, component: dict) -> dict:
    prefix = f"{PIPELINE_ROOT}/{self.spec['pipelineInfo']['name']}/{self.run_id}/{task_name}"
    outputs = {}
    definitions = dict(component.get("outputDefinitions", {}).get("artifacts", {}))
    definitions["executor-logs"] = {"artifactType": {"schemaTitle": "system.Artifact"}}
    for name, definition in definitions.items():
      artifact = {"type": definition["artifactType"],
                  "uri": f"{prefix}/{uuid.uuid4()}/{name}"}
      if definition.get("metadata"):
        artifact["metadata"] = definition["metadata"]
      outputs[name] = {"artifacts": [artifact]}
    return outputs

  def reuse(self, earlier: "LocalKfp", tasks) -> None:
    """Takes `tasks`' outputs from an earlier run over the same object store, as
    KFP reuses cached tasks: this run can then start at the tasks after them."""
    if earlier.store != self.store:
      raise ValueError(f"{earlier.store} is another object store than {self.store}")
    self._artifacts.update({key: artifact for key, artifact in earlier._artifacts.items()
                            if key[0] in tasks})

  # -- launcher ----------------------------------------------------------------
  def run_task(self, task_name: str) -> TaskResult:
    task = self.spec["root"]["dag"]["tasks"][task_name]
    component = self.spec["components"][task["componentRef"]["name"]]
    container = self.spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
    pod = self.workdir / "pods" / task_name
    shutil.rmtree(pod, ignore_errors=True)
    output_file = pod / "tmp" / "kfp_outputs" / "output_metadata.json"
    output_file.parent.mkdir(parents=True)

    # The output file as the executor sees it (the pod's tmp/ is its /tmp).
    seen = os.path.join(self.pods.root(pod), os.path.relpath(output_file, pod))
    executor_input = {
        "inputs": {"parameterValues": self._parameters(task, component),
                   "artifacts": self._input_artifacts(task)},
        "outputs": {"artifacts": self._output_artifacts(task_name, component),
                    "outputFile": seen}}
    for artifacts in executor_input["inputs"]["artifacts"].values():
      uri = artifacts["artifacts"][0]["uri"]
      if self._store_path(uri).exists():
        self._copy_files(self._store_path(uri), self._local(pod, uri))
    for artifacts in executor_input["outputs"]["artifacts"].values():
      self._local(pod, artifacts["artifacts"][0]["uri"]).parent.mkdir(
          parents=True, exist_ok=True)

    command = [*container.get("command", []), *container.get("args", [])]
    command = [arg.replace("{{$}}", json.dumps(executor_input)) for arg in command]
    platform = self.platform.get("deploymentSpec", {}).get("executors", {}).get(
        component["executorLabel"], {})
    done = self.pods.run(task_name, command, pod, timeout=1500, image=container["image"],
                         resources=container.get("resources", {}), platform=platform)
    log = done.log
    if done.returncode != 0:
      raise TaskFailed(f"{task_name} exited with {done.returncode}:\n{log[-4000:]}")

    executor_output = json.loads(output_file.read_text()) if output_file.exists() else {}
    outputs = {}
    for name, artifacts in executor_input["outputs"]["artifacts"].items():
      if name == "executor-logs":
        continue
      artifact = dict(artifacts["artifacts"][0])
      reported = executor_output.get("artifacts", {}).get(name, {}).get("artifacts", [{}])[0]
      if reported.get("uri"):
        artifact["uri"] = reported["uri"]
      metadata = {**artifact.get("metadata", {}), **reported.get("metadata", {})}
      if self._local(pod, artifact["uri"]).exists():
        self._copy_files(self._local(pod, artifact["uri"]), self._store_path(artifact["uri"]))
      metadata.setdefault("display_name", name)
      metadata.setdefault("store_session_info", json.dumps({"Provider": "minio"}))
      outputs[name] = Artifact(next(self._ids), artifact["uri"],
                               {k: _mlmd_value(v) for k, v in metadata.items()})
      self._artifacts[(task_name, name)] = outputs[name]
    return TaskResult(task_name, executor_input, executor_output, outputs, log)

  @staticmethod
  def _local(pod: Path, uri: str) -> Path:
    assert uri.startswith(_SCHEME), f"not an object-store URI: {uri}"
    return pod / "minio" / uri[len(_SCHEME):]

  def run(self, progress=lambda msg: None) -> dict[str, TaskResult]:
    results = {}
    for name in task_order(self.spec):
      progress(f"{name} ...")
      results[name] = self.run_task(name)
    return results
