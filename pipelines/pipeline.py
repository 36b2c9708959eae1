"""The one pipeline definition, shared by the local runner and Kubeflow.

ingest (a window of CSV spans, a simulator's grid, or labelled images) -> statistics -> schema -> transform -> tuner -> trainer
       -> checkpoint evaluator -> evaluator (blessing) -> pusher (the model registry)
production model (the registry's current version) -> drift gate (before transform),
       trainer (warm start), evaluator (the baseline to beat), pusher
"""
from __future__ import annotations

from typing import Optional, Union

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components import features, transform_module
from components.blessing import evaluator as blessing
from components.tuning import executor as tuning_executor
from components.checkpoint_evaluator.component import CheckpointEvaluator
from components.csv_ingest.component import csv_ingest
from components.drift_gate.component import DriftGate
from components.grid_errors import tfma_metrics
from components.image_ingest import listing as image_listing
from components.image_ingest.component import image_ingest
from components.simulator_ingest.component import simulator_ingest
from components.simulator_ingest.plan import Plan
from components.config import PipelineConfig, TaskType
from components.registry import store
from components.registry.production import ProductionModel
from components.registry.pusher import RegistryPusher
from pipelines import code_version

# Module paths, not module files: the code is installed in the image, so nothing
# has to be staged to the pipeline root for the executors to import it.
PREPROCESSING_FN = "components.transform_module.preprocessing_fn"
TUNER_FN = "components.tuner_module.tuner_fn"
RUN_FN = "components.trainer.executor.run_fn"

# TFMA metric class and the key it reports under, per task.
_BLESSING_METRIC = {
    TaskType.BINARY: ("AUC", "auc"),
    TaskType.MULTICLASS: ("SparseCategoricalAccuracy", "sparse_categorical_accuracy"),
    TaskType.REGRESSION: ("MeanSquaredError", "mean_squared_error"),
}
_EXTRA_METRICS = {
    TaskType.BINARY: ["BinaryAccuracy"],
    TaskType.MULTICLASS: [],
    TaskType.REGRESSION: ["MeanAbsoluteError"],
}


# Memorising: judged by the worst error over the whole grid, not the average.
_WORST_ERROR_METRICS = ("MaxAbsoluteError", "MaxRelativeError")


def _blessing_metric(config: PipelineConfig) -> tuple[str, str, Optional[str]]:
  """(TFMA class, the key it reports under, the module of a custom metric)."""
  if config.task.mode == "memorize":
    return ("MaxAbsoluteError", tfma_metrics.MAX_ABS_ERROR_NAME, tfma_metrics.__name__)
  return (*_BLESSING_METRIC[config.task.type], None)


def blessing_metric_key(config: PipelineConfig) -> str:
  return _blessing_metric(config)[1]


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
  lower, upper = config.blessing_threshold()
  bounds = {}
  if lower is not None:
    bounds["lower_bound"] = {"value": lower}
  if upper is not None:
    bounds["upper_bound"] = {"value": upper}
  class_name, _, module = _blessing_metric(config)
  # Against production (ignored by TFMA when there is no production model yet):
  # candidate - production >= margin, or <= -margin for an error metric.
  higher_is_better = config.task.type != TaskType.REGRESSION
  margin = config.evaluator.min_improvement
  change = tfma.GenericChangeThreshold(
      absolute={"value": margin if higher_is_better else -margin},
      direction=(tfma.MetricDirection.HIGHER_IS_BETTER if higher_is_better
                 else tfma.MetricDirection.LOWER_IS_BETTER))
  metrics = [tfma.MetricConfig(class_name="ExampleCount")]
  metrics += [tfma.MetricConfig(class_name=name) for name in _EXTRA_METRICS[config.task.type]]
  if config.task.type == TaskType.REGRESSION:
    metrics += [tfma.MetricConfig(class_name=name, module=tfma_metrics.__name__)
                for name in _WORST_ERROR_METRICS if name != class_name]
  metrics.append(tfma.MetricConfig(
      class_name=class_name, module=module or "",
      threshold=tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(**bounds),
                                     change_threshold=change)))
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(
          signature_name="serving_default", prediction_key="scores",
          label_key=features.LABEL_KEY,
          preprocessing_function_names=["transform_features"])],
      slicing_specs=[tfma.SlicingSpec()],
      metrics_specs=[tfma.MetricsSpec(metrics=metrics)])


def _registry_state(serving_dir: str, push_destination) -> str:
  """Keys the ProductionModel step's cache: the version it would find. (Kubeflow
  runs, whose destination is a run parameter, are not cached.)"""
  if push_destination is not None:
    return ""
  current = store.Registry(serving_dir).current()
  return f"version {current.version}" if current else "empty"


# Kubeflow passes these as pipeline parameters (RuntimeParameters), one compiled
# file serving many runs; the local runner passes plain values.
Param = tfx.dsl.experimental.RuntimeParameter


def create_pipeline(config: PipelineConfig, *, data_dir: Union[str, Param], pipeline_root: str,
                    serving_dir: str, checkpoint_root: str,
                    train_args: Union[str, Param, None] = None,
                    push_destination: Union[Param, None] = None,
                    metadata_connection_config=None,
                    beam_pipeline_args: Optional[list[str]] = None,
                    enable_cache: bool = False,
                    trainer_tfjob: Optional[dict] = None,
                    tuner_katib: Optional[dict] = None) -> tfx.dsl.Pipeline:
  """`train_args` and `push_destination` (JSON of TrainArgs / PushDestination)
  override the step budget and `serving_dir` when given.

  With `enable_cache`, a step whose inputs, settings and code are unchanged since
  an earlier run reuses that run's outputs. Each step is therefore given only the
  config sections it reads, and the digest of its code (see code_version)."""
  d = config.data

  def step_config(step: str, entry_module: str) -> dict[str, str]:
    return {"config": config.for_step(step).to_json(),
            "code": code_version.digest(entry_module)}

  if d.simulator:  # a simulator's grid, solved in the step
    ingest = simulator_ingest(Plan.from_config(config), code_version.digest(
        "components.simulator_ingest.executor")).with_id("Ingest")
  elif d.images:  # labelled images; the cache key follows the files themselves
    source = features.image_source(config)
    ingest = image_ingest(
        source, features.split_spec(config), config.features.image, config.task.label,
        code_version.digest("components.image_ingest.executor")
        + ":" + image_listing.fingerprint(source)).with_id("Ingest")
  else:
    ingest = csv_ingest(data_dir, features.column_spec(config), features.split_spec(config),
                        code_version.digest("components.csv_ingest.executor"),
                        features.span_window(config)).with_id("Ingest")
  # The registry's current model: warm start, drift baseline and blessing baseline.
  registry = push_destination or serving_dir
  production = ProductionModel(push_destination=registry,
                               registry_state=_registry_state(serving_dir, push_destination))
  statistics = tfx.components.StatisticsGen(examples=ingest.outputs["examples"])
  if d.schema_file:
    schema = tfx.components.ImportSchemaGen(schema_file=d.schema_file)
  else:
    # Every column may be missing in some later span (or request): a column that
    # happened to be complete here must not become a required fixed-length one,
    # or the next span's blank cell fails the served model and the baseline.
    schema = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"],
                                      infer_feature_shape=False)
  transform = tfx.components.Transform(
      examples=ingest.outputs["examples"], schema=schema.outputs["schema"],
      preprocessing_fn=PREPROCESSING_FN,
      custom_config=step_config("transform", PREPROCESSING_FN.rpartition(".")[0]),
      # StatisticsGen already describes the raw data; skipping Transform's own
      # pre/post-transform statistics saves a third of its time.
      disable_statistics=True,
      # The Trainer applies the transform graph to raw examples itself.
      materialize=False, force_tf_compat_v1=transform_module.tf_compat_v1(config))
  # New spans are compared with production's training data before anything trains.
  drift_gate = DriftGate(examples=ingest.outputs["examples"],
                         production=production.outputs["model"],
                         config=config.for_step("drift_gate").to_json())
  transform.add_upstream_node(drift_gate)
  components = [ingest, production, drift_gate, statistics, schema, transform]

  best_hyperparameters = None
  if config.tuner.enabled:
    tuner = tuning_executor.Tuner(
        tuner_fn=TUNER_FN, examples=ingest.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        train_args=tfx.proto.TrainArgs(num_steps=config.tuner.steps_per_trial),
        eval_args=tfx.proto.EvalArgs(num_steps=0),
        custom_config={**step_config("tuner", TUNER_FN.rpartition(".")[0]),
                       # The search lives beside the checkpoints: a killed one continues.
                       "checkpoint_root": checkpoint_root,
                       # Kubeflow with kubeflow.tuner.backend katib: a Katib Experiment.
                       **({"katib": tuner_katib} if tuner_katib else {})})
    best_hyperparameters = tuner.outputs["best_hyperparameters"]
    components.append(tuner)

  trainer = tfx.components.Trainer(
      run_fn=RUN_FN, examples=ingest.outputs["examples"],
      transform_graph=transform.outputs["transform_graph"],
      hyperparameters=best_hyperparameters,
      base_model=production.outputs["model"],
      train_args=train_args or tfx.proto.TrainArgs(num_steps=config.trainer.train_steps),
      eval_args=tfx.proto.EvalArgs(num_steps=0),
      custom_config={**step_config("trainer", RUN_FN.rpartition(".")[0]),
                     "checkpoint_root": checkpoint_root,
                     # Kubeflow with several workers: the step launches a TFJob.
                     **({"tfjob": trainer_tfjob} if trainer_tfjob else {})})
  checkpoint_evaluator = CheckpointEvaluator(
      training=trainer.outputs["model"],
      examples=ingest.outputs["examples"],
      transform_graph=transform.outputs["transform_graph"],
      config=config.for_step("checkpoint_evaluator").to_json(),
      code=code_version.digest(CheckpointEvaluator.__module__))
  evaluator = blessing.Evaluator(
      examples=ingest.outputs["examples"], model=checkpoint_evaluator.outputs["model"],
      baseline_model=production.outputs["model"], eval_config=eval_config(config))
  pusher = RegistryPusher(
      model=checkpoint_evaluator.outputs["model"],
      model_blessing=evaluator.outputs["blessing"], evaluation=evaluator.outputs["evaluation"],
      production=production.outputs["model"], examples=ingest.outputs["examples"],
      schema=schema.outputs["schema"], statistics=statistics.outputs["statistics"],
      push_destination=registry, keep_versions=config.retrain.keep_versions,
      blessing_metric=blessing_metric_key(config)).with_id("Pusher")
  components += [trainer, checkpoint_evaluator, evaluator, pusher]

  return tfx.dsl.Pipeline(
      pipeline_name=config.pipeline_name, pipeline_root=pipeline_root,
      components=components, metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=beam_pipeline_args or [], enable_cache=enable_cache)
