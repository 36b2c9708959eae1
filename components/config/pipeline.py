"""The whole configuration: one PipelineConfig, a section per part of the pipeline.

Every runner (local, Kubeflow) builds the pipeline from a `PipelineConfig`, and the
component code (Transform, Trainer, Tuner...) reads the same object back from its
JSON. Each section is defined in its own module; the checks across sections are in
cross_checks.py, and what each step sees of the config in step_views.py.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

import pydantic

from components.config import cross_checks, step_views
from components.config._strict import Strict
from components.config.beam import BeamConfig
from components.config.data import DataConfig
from components.config.evaluator import CheckpointSelectionConfig, EvaluatorConfig
from components.config.features import FeaturesConfig
from components.config.kubeflow import KubeflowConfig
from components.config.model import ModelConfig
from components.config.retrain import RetrainConfig
from components.config.task import TaskConfig
from components.config.trainer import TrainerConfig
from components.config.transform import TransformConfig
from components.config.tuner import TunerConfig


class PipelineConfig(Strict):
  """The whole configuration; relative paths in a config file are relative to the file."""
  pipeline_name: str = pydantic.Field(
      "training-patterns", pattern=r"^[a-z0-9][a-z0-9-]*$",
      description="The pipeline's name in ML Metadata and on Kubeflow: lower-case letters, "
                  "digits and dashes.")
  run_dir: str = pydantic.Field(
      "runs/default", description="Holds the pipeline root, the ML Metadata database, "
                                  "TensorBoard logs and checkpoints.")
  serving_dir: Optional[str] = pydantic.Field(
      None, description="Where blessed models are pushed (the model registry); default: "
                        "<run_dir>/serving.")
  checkpoint_dir: Optional[str] = pydantic.Field(
      None, description="A stable checkpoint location, outside the per-execution artifact "
                        "directories, so that retries and reruns resume; default: "
                        "<run_dir>/checkpoints.")
  beam: BeamConfig = pydantic.Field(
      BeamConfig(), description="Where the Beam steps (ingest, statistics, Transform, "
                                "evaluation) run.")
  data: DataConfig = pydantic.Field(
      DataConfig(), description="Where the rows come from, and how they are split.")
  task: TaskConfig = pydantic.Field(
      TaskConfig(), description="What the model predicts, and how it is judged.")
  features: FeaturesConfig = pydantic.Field(
      FeaturesConfig(), description="The input columns, by kind.")
  transform: TransformConfig = pydantic.Field(
      TransformConfig(), description="How Transform turns columns into model inputs.")
  tuner: TunerConfig = pydantic.Field(
      TunerConfig(), description="The hyperparameter search before training.")
  trainer: TrainerConfig = pydantic.Field(
      TrainerConfig(), description="The step budget, checkpoints, distribution and "
                                   "hyperparameters of training.")
  model: ModelConfig = pydantic.Field(
      ModelConfig(), description="Transfer learning from a pre-trained base (image tasks).")
  checkpoint_selection: CheckpointSelectionConfig = pydantic.Field(
      CheckpointSelectionConfig(), description="Which checkpoint of a run is exported.")
  evaluator: EvaluatorConfig = pydantic.Field(
      EvaluatorConfig(), description="The bounds a model must meet to be blessed and "
                                     "pushed.")
  retrain: RetrainConfig = pydantic.Field(
      RetrainConfig(), description="Periodic retraining on fresh spans (`tpctl retrain`).")
  kubeflow: KubeflowConfig = pydantic.Field(
      KubeflowConfig(), description="How `tpctl compile` lays the pipeline out on "
                                    "Kubernetes (not used locally).")
  step_view: Optional[str] = pydantic.Field(
      None, description="Set by the pipeline on one step's view of the config (the sections "
                        "it does not read at their defaults); never in a config file.")

  @pydantic.model_validator(mode="after")
  def _sections_fit_together(self):
    cross_checks.check(self)
    return self

  # Derived locations (all absolute, so that Beam workers and executors agree).
  @property
  def run_path(self) -> Path:
    return Path(self.run_dir).resolve()

  @property
  def pipeline_root(self) -> str:
    return str(self.run_path / "pipeline_root")

  @property
  def metadata_path(self) -> str:
    return str(self.run_path / "metadata.sqlite")

  @property
  def serving_path(self) -> str:
    return str(Path(self.serving_dir).resolve() if self.serving_dir
               else self.run_path / "serving")

  @property
  def checkpoint_root(self) -> str:
    return str(Path(self.checkpoint_dir).resolve() if self.checkpoint_dir
               else self.run_path / "checkpoints")

  @property
  def tensorboard_dir(self) -> str:
    return str(self.run_path / "tensorboard")

  def to_json(self) -> str:
    return self.model_dump_json()

  @classmethod
  def from_json(cls, text: str) -> "PipelineConfig":
    return cls.model_validate_json(text)

  def for_step(self, step: str) -> "PipelineConfig":
    """The config as one step sees it (see step_views.py)."""
    return step_views.for_step(self, step)

  def training_fingerprint(self) -> str:
    """A short hash of everything that defines a training run's trajectory.

    Settings that do not change the trajectory are left out, so that changing
    them (or the hardware, hence the strategy) still resumes the same run.
    """
    trainer = self.trainer.model_dump(
        mode="json", exclude={"keep_checkpoints", "early_stopping", "eval_examples",
                              "strategy", "workers", "ps"})
    relevant = {"task": self.task.model_dump(mode="json"),
                "features": self.features.model_dump(mode="json"),
                "model": self.model.model_dump(mode="json"),
                "transform": self.transform.model_dump(mode="json"),
                "trainer": trainer}
    blob = json.dumps(relevant, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
