"""Compiles the one pipeline definition into a Kubeflow Pipelines v2 spec (YAML).

The file holds two documents, as KFP's own compiler writes them: the pipeline
spec (from TFX's KubeflowV2DagRunner) and a Kubernetes platform spec (volumes,
GPU tolerations and node selectors, in kfp-kubernetes' format).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb2
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from pipelines import beam_runner, pipeline
from components.config import PipelineConfig, StepResources
from components.trainer import cluster
from components.tuning import katib_search
from pipelines.kubeflow import parameters

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec
# Every step starts through our entrypoint, which adapts what the open-source KFP
# launcher hands over to what TFX's executor runner expects (see entrypoint.py).
ENTRYPOINT = ["python", "-m", "pipelines.kubeflow.entrypoint"]
TRAINING_STEPS = ("Tuner", "Trainer")


def run_parameters(config: PipelineConfig) -> dict[str, tfx.dsl.experimental.RuntimeParameter]:
  """What a scheduled run changes without recompiling. The step budget and the
  push destination are TFX protos, passed as JSON text."""
  serving = config.kubeflow.serving_dir.rstrip("/") + "/" + config.pipeline_name
  param = tfx.dsl.experimental.RuntimeParameter
  return {
      # Blank: the embedded demo data.
      "data_dir": param(name="data_dir", ptype=str, default=config.data.dir or ""),
      "train_args": param(name="train_args", ptype=str,
                          default=parameters.train_args(config.trainer.train_steps)),
      "push_destination": param(name="push_destination", ptype=str,
                                default=parameters.push_destination(serving)),
  }


def _resources(r: StepResources, accelerator: str) -> ResourceSpec:
  # Set both the string fields and the deprecated numeric ones, as KFP's own
  # compiler does, so that older KFP backends read them too.
  spec = ResourceSpec(resource_cpu_request=r.cpu, resource_cpu_limit=r.cpu,
                      resource_memory_request=r.memory, resource_memory_limit=r.memory)
  if r.gpus:
    spec.accelerator.resource_type = accelerator
    spec.accelerator.resource_count = str(r.gpus)
    spec.accelerator.type = accelerator
    spec.accelerator.count = r.gpus
  return spec


def _beam_args(config: PipelineConfig) -> list[str]:
  r = config.kubeflow.resources
  cores = max(1, int(float(r.cpu.rstrip("m")) / (1000 if r.cpu.endswith("m") else 1)))
  # On Flink every step's jobs carry the pipeline's name (a KFP run's id is not
  # known when compiling).
  return beam_runner.for_pod(config.beam, cores, job_name=config.pipeline_name).args()


def _uses_gpus(config: PipelineConfig, task: str) -> bool:
  """The Tuner and Trainer, unless the Trainer launches a TFJob: then its pod only
  watches the job, whose workers get the GPUs."""
  if task == "Trainer" and cluster.tfjob_settings(config):
    return False
  return task in TRAINING_STEPS


def _platform_spec(config: PipelineConfig, executor_labels: dict[str, str]) -> dict:
  """Per executor: the volumes everywhere, GPU scheduling on the training steps."""
  k = config.kubeflow
  executors = {}
  for task, label in executor_labels.items():
    cfg = k8s_pb2.KubernetesExecutorConfig(pvc_mount=[
        k8s_pb2.PvcMount(constant=v.pvc, mount_path=v.mount_path) for v in k.volumes])
    if _uses_gpus(config, task) and k.training_resources.gpus:
      cfg.node_selector.labels.update(k.gpu_node_selector)
      cfg.tolerations.extend(k8s_pb2.Toleration(
          key=t.key, operator=t.operator, value=t.value or "", effect=t.effect or "")
          for t in k.gpu_tolerations)
    executors[label] = json_format.MessageToDict(cfg)
  spec = pipeline_spec_pb2.PlatformSpec()
  json_format.ParseDict(
      {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executors}}}}, spec)
  return json_format.MessageToDict(spec)


def _images(config: PipelineConfig, tfx_pipeline: tfx.dsl.Pipeline) -> str | dict[str, str]:
  """One image for every step, or, with kubeflow.cpu_image (the same Dockerfile and
  lock without the CUDA wheels, about half the size), that one wherever no GPU is
  used: smaller pulls on CPU nodes, the GPU image only where it is needed."""
  k = config.kubeflow
  if not k.cpu_image:
    return k.image
  return {c.id: k.image if _uses_gpus(config, c.id) else k.cpu_image
          for c in tfx_pipeline.components}


def _step_resources(config: PipelineConfig, task: str) -> ResourceSpec:
  k = config.kubeflow
  return _resources(k.training_resources if _uses_gpus(config, task) else k.resources,
                    k.accelerator)


def _set_resources(spec: dict, config: PipelineConfig, labels: dict[str, str]) -> None:
  """TFX compiles FileBasedExampleGen without its platform config: set every
  step's resources here, so none runs unbounded."""
  for task, label in labels.items():
    container = spec["deploymentSpec"]["executors"][label]["container"]
    container["resources"] = json_format.MessageToDict(_step_resources(config, task))


def build(config: PipelineConfig) -> tfx.dsl.Pipeline:
  k = config.kubeflow
  params = run_parameters(config)
  tfx_pipeline = pipeline.create_pipeline(
      config, data_dir=params["data_dir"],
      # KFP gives the pipeline root at submit time; the YAML form drops it anyway.
      pipeline_root="",
      serving_dir=k.serving_dir, checkpoint_root=k.checkpoint_dir,
      train_args=params["train_args"], push_destination=params["push_destination"],
      beam_pipeline_args=_beam_args(config),
      trainer_tfjob=cluster.tfjob_settings(config),
      tuner_katib=katib_search.katib_settings(config))
  for component in tfx_pipeline.components:
    component.with_platform_config(_step_resources(config, component.id))
  return tfx_pipeline


def compile_pipeline(config: PipelineConfig, output: str | os.PathLike) -> Path:
  """Writes the KFP v2 pipeline YAML; nothing is written if compilation fails."""
  output = Path(output)
  if output.suffix not in (".yaml", ".yml"):
    raise ValueError(f"{output}: the output must be a .yaml file (KFP v2 pipeline spec)")
  tfx_pipeline = build(config)
  with tempfile.TemporaryDirectory() as tmp:
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            default_image=_images(config, tfx_pipeline), default_commands=ENTRYPOINT,
            # Schema 2.1 (parameterType), which open-source KFP 2.x reads; with 2.0
            # TFX cannot even write pipeline parameters to YAML.
            use_pipeline_spec_2_1=True),
        output_dir=tmp, output_filename="pipeline.yaml")
    runner.run(tfx_pipeline)
    header, spec = _read(Path(tmp) / "pipeline.yaml")
  _drop_span_driver(spec)
  _declare_defaults(spec, run_parameters(config))
  labels = {task: spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]
            for task in spec["root"]["dag"]["tasks"]}
  labels = {task: spec["components"][comp]["executorLabel"] for task, comp in labels.items()}
  _set_resources(spec, config, labels)
  documents = [spec, _platform_spec(config, labels)]
  output.parent.mkdir(parents=True, exist_ok=True)
  partial = output.with_name(f".{output.name}.partial")
  with open(partial, "w") as f:
    f.write(header)
    yaml.safe_dump_all(documents, f, sort_keys=True)
  os.replace(partial, output)
  return output


def _read(path: Path) -> tuple[str, dict]:
  text = path.read_text()
  header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
  return header, yaml.safe_load(text)


def _declare_defaults(spec: dict, params: dict) -> None:
  """The YAML form drops TFX's runtime config, which holds the defaults; declare
  them on the pipeline's inputs (as KFP's compiler does), so a run needs none."""
  for name, definition in spec["root"]["inputDefinitions"]["parameters"].items():
    definition.update(defaultValue=params[name].default, isOptional=True,
                      description=parameters.HELP[name])


def _drop_span_driver(spec: dict) -> None:
  """Open-source KFP ignores ExampleGen's `pre_cache_check` driver hook; the ingest
  executor reads `data_dir` itself, so the hook is removed rather than left to
  suggest that spans are resolved."""
  for executor in spec["deploymentSpec"]["executors"].values():
    executor.get("container", {}).pop("lifecycle", None)
