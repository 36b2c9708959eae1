"""The pipeline's configuration: one YAML file, validated strictly.

One module per section of the YAML file (data, task, features, transform, model,
trainer, tuner, evaluator, retrain, beam, kubeflow), each field described in its
Field(description=...); the whole in pipeline.py, the checks across sections in
cross_checks.py, each step's view of it in step_views.py, reading a file in
loading.py (with search_values.py, a search's values as hyperparameters), and the
reference generated from the schema in reference.py. It lives in components/ so
that pipelines/ imports it and components/ never imports pipelines/ (a contract in
pyproject.toml checks the direction). Importers take every name from here.
"""
from components.config.beam import BeamConfig
from components.config.data import (DataConfig, GridAxis, ImageDataConfig, SimulatorConfig,
                                    SpanWindow)
from components.config.evaluator import CheckpointSelectionConfig, EvaluatorConfig
from components.config.features import FeaturesConfig
from components.config.kubeflow import (ClusterSize, KubeflowConfig, KubeflowTuner,
                                        StepResources, Toleration, VolumeMount)
from components.config.loading import load_config
from components.config.model import ModelConfig
from components.config.pipeline import PipelineConfig
from components.config.retrain import RetrainConfig
from components.config.task import TaskConfig, TaskType
from components.config.trainer import (EarlyStoppingConfig, HyperParameters, Strategy,
                                       TrainerConfig)
from components.config.transform import TransformConfig
from components.config.tuner import SEARCHABLE, SearchParameter, TunerConfig
from components.errors import ConfigError

__all__ = [
    "BeamConfig", "CheckpointSelectionConfig", "ClusterSize", "ConfigError", "DataConfig",
    "EarlyStoppingConfig", "EvaluatorConfig", "FeaturesConfig", "GridAxis",
    "HyperParameters", "ImageDataConfig", "KubeflowConfig", "KubeflowTuner", "ModelConfig",
    "PipelineConfig", "RetrainConfig", "SEARCHABLE", "SearchParameter", "SimulatorConfig",
    "SpanWindow", "StepResources", "Strategy", "TaskConfig", "TaskType", "Toleration",
    "TrainerConfig", "TransformConfig", "TunerConfig", "VolumeMount", "load_config",
]
