"""The one pipeline definition, shared by the local runner and Kubeflow.

ingest (a window of CSV spans, a simulator's grid, or labelled images) -> statistics -> schema -> transform -> tuner -> trainer
       -> checkpoint evaluator -> evaluator (blessing) -> pusher (the model registry)
production model (the registry's current version) -> drift gate (before transform),
       trainer (warm start), evaluator (the baseline to beat), pusher

Each step's node is built by its package's component.py; this module only chains them.
"""
from __future__ import annotations

from typing import Optional, Union

from tfx import v1 as tfx

from components import features
from components.blessing import component as blessing
from components.checkpoint_evaluator import component as checkpoint_evaluator_step
from components.config import PipelineConfig
from components.csv_ingest import component as csv_ingest
from components.drift_gate import component as drift_gate_step
from components.image_ingest import listing as image_listing
from components.image_ingest import component as image_ingest
from components.production_model import component as production_model
from components.pusher import component as pusher_step
from components.simulator_ingest import component as simulator_ingest
from components.simulator_ingest.plan import Plan
from components.trainer import component as trainer_step
from components.transform import component as transform_step
from components.tuning import component as tuner_step
from pipelines import code_version

# Kubeflow passes these as pipeline parameters (RuntimeParameters), one compiled
# file serving many runs; the local runner passes plain values.
Param = tfx.dsl.experimental.RuntimeParameter


def _ingest(config: PipelineConfig, data_dir: Union[str, Param]):
  """The Ingest step for the config's data: a simulator's grid, labelled images or CSV."""
  code_of = code_version.digest
  if config.data.simulator:  # a simulator's grid, solved in the step
    ingest = simulator_ingest.build(Plan.from_config(config),
                                    code_of("components.simulator_ingest.executor"))
  elif config.data.images:  # labelled images; the cache key follows the files themselves
    source = features.image_source(config)
    ingest = image_ingest.build(
        source, features.split_spec(config), config.features.image, config.task.label,
        code_of("components.image_ingest.executor") + ":" + image_listing.fingerprint(source))
  else:
    ingest = csv_ingest.build(data_dir, features.column_spec(config),
                              features.split_spec(config),
                              code_of("components.csv_ingest.executor"),
                              features.span_window(config))
  return ingest.with_id("Ingest")


def _schema(config: PipelineConfig, statistics):
  if config.data.schema_file:
    return tfx.components.ImportSchemaGen(schema_file=config.data.schema_file)
  # Every column may be missing in some later span (or request): a column that
  # happened to be complete here must not become a required fixed-length one,
  # or the next span's blank cell fails the served model and the baseline.
  return tfx.components.SchemaGen(statistics=statistics.outputs["statistics"],
                                  infer_feature_shape=False)


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
  code_of = code_version.digest
  ingest = _ingest(config, data_dir)
  examples = ingest.outputs["examples"]
  # The registry's current model: warm start, drift baseline and blessing baseline.
  production = production_model.build(serving_dir, push_destination)
  current = production.outputs["model"]
  statistics = tfx.components.StatisticsGen(examples=examples)
  schema = _schema(config, statistics)
  transform = transform_step.build(config, examples=examples, schema=schema.outputs["schema"],
                                   code_of=code_of)
  # New spans are compared with production's training data before anything trains.
  drift_gate = drift_gate_step.build(config, examples, current)
  transform.add_upstream_node(drift_gate)
  components = [ingest, production, drift_gate, statistics, schema, transform]
  transform_graph = transform.outputs["transform_graph"]

  best_hyperparameters = None
  if config.tuner.enabled:
    tuner = tuner_step.build(config, examples=examples, transform_graph=transform_graph,
                             checkpoint_root=checkpoint_root, code_of=code_of,
                             katib=tuner_katib)
    best_hyperparameters = tuner.outputs["best_hyperparameters"]
    components.append(tuner)
  trainer = trainer_step.build(
      config, examples=examples, transform_graph=transform_graph,
      hyperparameters=best_hyperparameters, base_model=current, checkpoint_root=checkpoint_root,
      code_of=code_of, train_args=train_args, tfjob=trainer_tfjob)
  checkpoint_evaluator = checkpoint_evaluator_step.build(
      config, training=trainer.outputs["model"], examples=examples,
      transform_graph=transform_graph, code_of=code_of)
  candidate = checkpoint_evaluator.outputs["model"]
  evaluator = blessing.build(config, examples=examples, model=candidate, baseline_model=current)
  pusher = pusher_step.build(
      config, push_destination or serving_dir, model=candidate,
      model_blessing=evaluator.outputs["blessing"], evaluation=evaluator.outputs["evaluation"],
      production=current, examples=examples,
      schema=schema.outputs["schema"], statistics=statistics.outputs["statistics"])
  components += [trainer, checkpoint_evaluator, evaluator, pusher]

  return tfx.dsl.Pipeline(
      pipeline_name=config.pipeline_name, pipeline_root=pipeline_root,
      components=components, metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=beam_pipeline_args or [], enable_cache=enable_cache)
