"""The Trainer step as the launcher of a distributed run.

With several workers (or parameter servers) the step does not train in its own
process: it starts one replica per task, each running `components.trainer.job`
(the same loop), and waits. Locally the replicas are processes on this host; on
Kubeflow they are the pods of a TFJob. Either way the chief writes the training
record into the run's stable checkpoint directory, which every replica can
reach, and the step hands that record on like a single-process run's.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import secrets
import sys
from pathlib import Path
from typing import Callable, Optional

import tensorflow as tf

from components import progress
from components.config import (ClusterSize, PipelineConfig, StepResources, Strategy,
                               Toleration, VolumeMount)
from components.trainer import data, job, train_record
from components.trainer.inputs import TrainInputs
from components.trainer.train_record import TrainRecord


def is_distributed(config: PipelineConfig) -> bool:
  t = config.trainer
  return t.workers > 1 or t.strategy == Strategy.PARAMETER_SERVER


def _code_root() -> str:
  """The directory holding the `components` package, for the replicas' PYTHONPATH."""
  return str(Path(importlib.util.find_spec("components").origin).parent.parent)


def train_locally(inputs: TrainInputs, transform_graph: str,
                  on_start=lambda _: None) -> TrainRecord:
  """trainer.workers worker processes (and trainer.ps parameter servers plus a
  coordinator) on localhost, with TF_CONFIG as the Training Operator sets it."""
  from components.launchers import local_processes
  t = inputs.trainer
  record_path = train_record.path_in(inputs.checkpoint_dir)
  train_record.discard(record_path)
  command = job.command(inputs, data.examples_of(inputs.train_pattern), transform_graph,
                        record_path, python=sys.executable)
  parameter_server = t.strategy == Strategy.PARAMETER_SERVER
  path = os.pathsep.join(p for p in (_code_root(), os.environ.get("PYTHONPATH")) if p)
  local_processes.run(command, workers=t.workers, ps=t.ps, chief=parameter_server,
                      log_dir=os.path.join(inputs.checkpoint_dir, "replica-logs"),
                      progress=inputs.progress, output=progress.relay("trainer", inputs.progress),
                      env={"PYTHONPATH": path}, on_start=on_start)
  return read_record(record_path)


def pod_settings(config: PipelineConfig) -> dict:
  """How a pod that a step creates (a TFJob replica, a Katib trial) is laid out:
  the run's image, training resources, GPU placement and volumes. JSON, because
  it travels in the step's custom_config."""
  k = config.kubeflow
  return {"image": k.image, "namespace": k.tfjob_namespace,
          "resources": k.training_resources.model_dump(), "accelerator": k.accelerator,
          "volumes": [v.model_dump() for v in k.volumes],
          "node_selector": dict(k.gpu_node_selector),
          "tolerations": [t.model_dump() for t in k.gpu_tolerations]}


def tfjob_settings(config: PipelineConfig) -> Optional[dict]:
  """What the compiled Trainer step needs to launch its TFJob (None: the step's
  own pod trains)."""
  size = config.kubeflow.trainer or ClusterSize(workers=config.trainer.workers,
                                                ps=config.trainer.ps)
  if size.workers == 1 and size.ps == 0:
    return None
  return {"workers": size.workers, "ps": size.ps, **pod_settings(config)}


_SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def namespace(settings: dict) -> str:
  """Where a step creates its objects: kubeflow.tfjob_namespace, else the step
  pod's own namespace."""
  if settings["namespace"]:
    return settings["namespace"]
  try:
    return Path(_SERVICE_ACCOUNT_NAMESPACE).read_text().strip()
  except OSError:
    raise RuntimeError("kubeflow.tfjob_namespace is not set and this pod has no "
                       f"service account namespace ({_SERVICE_ACCOUNT_NAMESPACE})") from None


def own_pod() -> Optional[dict]:
  """The KFP step's pod (the KFP launcher exports its name and uid), to own the
  TFJob: deleting the run's pods then deletes the job, even after a crash here."""
  name, uid = os.environ.get("KFP_POD_NAME"), os.environ.get("KFP_POD_UID")
  return {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid} if name and uid else None


def stage_inputs(examples: str, transform_graph: str, staging: str) -> tuple[str, str]:
  """Copies the step's inputs where every replica can read them (the checkpoint
  volume): on KFP they are local files of the step's pod. Once per data digest."""
  done = os.path.join(staging, ".complete")
  targets = (os.path.join(staging, "examples"), os.path.join(staging, "transform_graph"))
  if not tf.io.gfile.exists(done):
    if tf.io.gfile.exists(staging):
      tf.io.gfile.rmtree(staging)  # a copy cut short by a crash
    for source, target in zip((examples, transform_graph), targets):
      _copy_tree(source, target)
    tf.io.gfile.GFile(done, "w").close()
  return targets


def _copy_tree(source: str, target: str) -> None:
  for directory, _, files in tf.io.gfile.walk(source):
    relative = os.path.relpath(directory, source)
    tf.io.gfile.makedirs(os.path.join(target, relative))
    for name in files:
      tf.io.gfile.copy(os.path.join(directory, name),
                       os.path.join(target, relative, name), overwrite=True)


def train_on_tfjob(inputs: TrainInputs, settings: dict, transform_graph: str,
                   api_client=None) -> TrainRecord:
  """The replicas as a TFJob: created, watched and deleted by this step."""
  from components.launchers import tfjob
  config, checkpoint_dir, say = inputs.config, inputs.checkpoint_dir, inputs.progress
  trainer = config.trainer.model_copy(update={"workers": settings["workers"],
                                              "ps": settings["ps"]})
  config = config.model_copy(update={"trainer": trainer})
  examples, transform_graph = stage_inputs(data.examples_of(inputs.train_pattern),
                                           transform_graph,
                                           os.path.join(checkpoint_dir, "inputs"))
  record_path = train_record.path_in(checkpoint_dir)
  train_record.discard(record_path)
  where = namespace(settings)
  replica_inputs = dataclasses.replace(inputs, config=config,
                                       log_dir=os.path.join(checkpoint_dir, "tensorboard"))
  spec = tfjob.TFJobSpec(
      # Unique per attempt: a retried step must not adopt its predecessor's job.
      name=f"{config.pipeline_name[:30]}-train-{os.path.basename(checkpoint_dir)[:8]}-"
           f"{secrets.token_hex(3)}",
      namespace=where, image=settings["image"],
      command=job.command(replica_inputs, examples, transform_graph, record_path),
      workers=settings["workers"], ps=settings["ps"],
      chief=config.trainer.strategy == Strategy.PARAMETER_SERVER,
      resources=StepResources(**settings["resources"]), accelerator=settings["accelerator"],
      volumes=tuple(VolumeMount(**v) for v in settings["volumes"]),
      node_selector=settings["node_selector"],
      tolerations=tuple(Toleration(**t) for t in settings["tolerations"]),
      owner=own_pod())
  say(f"launching TFJob {where}/{spec.name}: {spec.workers} worker(s)"
      + (f", {spec.ps} parameter server(s) and a coordinator" if spec.ps else ""))
  try:
    tfjob.run(spec, api_client=api_client, progress=_relay_or_say(say))
  except tfjob.TFJobFailed as e:
    raise RuntimeError(f"TFJob {spec.name} failed: {e}") from None
  return read_record(record_path)


def _relay_or_say(say: Callable[[str], None]) -> Callable[[str], None]:
  """The launcher's own lines as they are, the chief's progress without its prefix;
  the rest of the pod's log is TensorFlow's."""
  def forward(line: str) -> None:
    message = progress.message_of(line, "trainer")
    if message is not None:
      say(message)
    elif line.startswith("TFJob "):
      say(line)
  return forward


def read_record(path: str) -> TrainRecord:
  if not tf.io.gfile.exists(path):
    raise RuntimeError(f"the distributed run ended without a training record at {path}")
  return train_record.read(path)
