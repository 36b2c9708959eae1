"""The pipeline's configuration: one YAML file, validated strictly.

Every runner (local, Kubeflow) builds the pipeline from a `PipelineConfig`, and the
component code (Transform, Trainer, Tuner...) reads the same object back from its
JSON. It lives in components/ so that pipelines/ imports it and components/ never
imports pipelines/ (a contract in pyproject.toml checks the direction). Unknown
keys are errors, not silently ignored, because a misspelt `train_steps` that falls
back to a default is the kind of mistake that costs a night of GPU time.
"""
from __future__ import annotations

import enum
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Literal, Optional, Union

import pydantic
import yaml

from components import column_keys


class ConfigError(ValueError):
  """A configuration problem, with a one-line message naming the file and key."""


class _Strict(pydantic.BaseModel):
  model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class TaskType(str, enum.Enum):
  BINARY = "binary"
  MULTICLASS = "multiclass"
  REGRESSION = "regression"


class SpanWindow(_Strict):
  """Which spans a run reads when data.dir holds span directories (<dir>/<span>/*.csv,
  a span named by an integer, YYYY-MM or YYYY-MM-DD): the newest N (a rolling
  window), or first..last (inclusive; either may be left open). Default: all."""
  newest: Optional[int] = pydantic.Field(None, ge=1)
  first: Optional[str] = None
  last: Optional[str] = None

  @pydantic.model_validator(mode="after")
  def _one_kind_of_window(self):
    if self.newest and (self.first or self.last):
      raise ValueError("give newest, or first/last, not both")
    return self


class GridAxis(_Strict):
  """One input of a simulator: start..stop (inclusive) in steps of `step`."""
  start: float
  stop: float
  step: float = pydantic.Field(gt=0)


class SimulatorConfig(_Strict):
  """Tabulates a deterministic simulator instead of reading CSV files: every point
  of the grid (the product of the axes) is solved, in parallel with Beam."""
  # projectile, heated_rod, or a user's package.module:function (keyword arguments
  # named after the axes, returning a float).
  name: str
  # The output column (the label); default: the built-in simulator's.
  output: Optional[str] = None
  # The grid; default: the built-in simulator's complete grid. Order matters: the
  # first axis varies slowest.
  axes: dict[str, GridAxis] = {}
  # Monte Carlo, for a grid too large to tabulate: train on this many random
  # points of the box, and report the worst error on check_sample other random
  # points -- an estimate, not a bound.
  sample: Optional[int] = pydantic.Field(None, ge=1)
  check_sample: int = pydantic.Field(10_000, ge=1)
  seed: int = 0

  def axis_names(self) -> tuple[str, ...]:
    if self.axes:
      return tuple(self.axes)
    from components import simulators  # NumPy only
    built_in = simulators.BUILT_IN.get(self.name)
    return tuple(a.name for a in built_in.default_axes) if built_in else ()

  def output_name(self) -> Optional[str]:
    if self.output:
      return self.output
    from components import simulators
    built_in = simulators.BUILT_IN.get(self.name)
    return built_in.output if built_in else None


class ImageDataConfig(_Strict):
  """Labelled images instead of CSV rows: a directory with one sub-folder per class
  (as keras.utils.image_dataset_from_directory reads it), or a CSV file of
  path,label rows (paths relative to the CSV). Neither: the built-in sample, the
  8x8 handwritten digits that ship with scikit-learn (1,797 images, 10 classes).
  Rows split by a hash of the image's path, like CSV rows by their split key."""
  dir: Optional[str] = None
  csv: Optional[str] = None
  # Keep at most this many training images per class (a fixed pseudo-random
  # sample, by a hash of the path): for a learning curve, or to see what a small
  # labelled set gives. Eval keeps all of its images.
  per_class: Optional[int] = pydantic.Field(None, ge=1)

  @pydantic.model_validator(mode="after")
  def _one_source(self):
    if self.dir and self.csv:
      raise ValueError("give images.dir (class sub-folders) or images.csv, not both")
    return self


class DataConfig(_Strict):
  # Directory of CSV files, or of span directories of CSV files. None means the
  # embedded Chicago taxi data (unless a simulator or images are given).
  dir: Optional[str] = None
  simulator: Optional[SimulatorConfig] = None
  images: Optional[ImageDataConfig] = None
  spans: SpanWindow = SpanWindow()
  # Rows are split by a hash of this column's text (any kind of column), so that
  # rows sharing a key never straddle train and eval. None (null) hashes the whole
  # row, as do rows whose key is missing.
  split_key: Optional[str] = "trip_start_timestamp"
  # Hash buckets per split; test is optional (0 disables it).
  train_buckets: int = pydantic.Field(8, ge=1)
  eval_buckets: int = pydantic.Field(2, ge=1)
  test_buckets: int = pydantic.Field(0, ge=0)
  # A run stops before training when a split has fewer rows than this, or (for
  # classification) fewer rows of a training class: a model blessed on 11 eval
  # rows is not evidence of anything. 0 turns a check off.
  min_split_rows: int = pydantic.Field(50, ge=0)
  min_class_rows: int = pydantic.Field(5, ge=0)
  # A checked-in schema.pbtxt; inferred from statistics when absent.
  schema_file: Optional[str] = None
  # Strings that mean "missing", besides the empty string.
  null_values: tuple[str, ...] = ("NA",)


class TaskConfig(_Strict):
  type: TaskType = TaskType.BINARY
  label: str = "big_tipper"
  # Binary tasks: the label value that counts as positive.
  positive_class: str = "1"
  # generalize: learn from a sample to predict unseen rows (splits, held-out eval).
  # memorize ("useful overfitting"): a simulator's complete grid is the whole
  # input space, so there is no unseen row: every point trains, the model is judged
  # on every point, by its worst error, and nothing may hold it back from fitting.
  mode: Literal["generalize", "memorize"] = "generalize"


class FeaturesConfig(_Strict):
  numeric: tuple[str, ...] = ("trip_miles", "fare", "trip_seconds")
  categorical: tuple[str, ...] = (
      "payment_type", "company", "trip_start_hour", "trip_start_day",
      "trip_start_month", "pickup_community_area", "dropoff_community_area")
  # Latitude/longitude-like columns: bucketized by quantiles.
  coordinates: tuple[str, ...] = (
      "pickup_latitude", "pickup_longitude", "dropoff_latitude",
      "dropoff_longitude")

  # The column of encoded image bytes (JPEG, PNG, BMP or GIF), with data.images.
  image: Optional[str] = None

  def all(self) -> tuple[str, ...]:
    return self.numeric + self.categorical + self.coordinates + (
        (self.image,) if self.image else ())


class TransformConfig(_Strict):
  vocab_size: int = pydantic.Field(1000, ge=1)
  oov_buckets: int = pydantic.Field(10, ge=1)
  coordinate_buckets: int = pydantic.Field(10, ge=2)


class HyperParameters(_Strict):
  """Model hyperparameters; the tuner searches some of them."""
  learning_rate: float = pydantic.Field(0.003, gt=0)
  hidden_units: tuple[int, ...] = (64, 32)
  embedding_dim: int = pydantic.Field(8, ge=1)
  dropout: float = pydantic.Field(0.0, ge=0, lt=1)
  l2: float = pydantic.Field(0.0, ge=0)
  # Per-replica batch size when the tuner searched it (else trainer's).
  batch_size: Optional[int] = pydantic.Field(None, ge=1)
  # Smooth activations (tanh, silu) fit smooth functions far better than relu's
  # piecewise-linear pieces: what memorising a simulator needs.
  activation: Literal["relu", "tanh", "silu", "gelu"] = "relu"


# What a search may vary: HyperParameters fields, plus the model's shape
# (num_layers, and units for the first layer with each next one halved, or
# units_<i> per layer) and the per-replica batch size.
SEARCHABLE = ("learning_rate", "embedding_dim", "dropout", "l2", "num_layers", "units",
              "batch_size")
_UNITS_OF_LAYER = re.compile(r"^units_([1-9])$")


class ModelConfig(_Strict):
  """Transfer learning, for image tasks: a pre-trained base cut at its bottleneck
  (the layer before its own classifier), under a new head for this task."""
  # Where the pre-trained part comes from:
  #   mobilenet_v1_imagenet   the packaged ImageNet MobileNet v1 (see README)
  #   keras.applications.<Architecture>, with `weights`: a weights file on disk
  #   a .keras / .h5 model file, or a model directory this pipeline pushed
  base: Optional[str] = None
  weights: Optional[str] = None
  # The layer whose output is the bottleneck; default: found automatically (the
  # last layer with a spatial output, then global average pooling).
  bottleneck: Optional[str] = None
  # Images are resized to input_size x input_size; default: the base's own size.
  input_size: Optional[int] = pydantic.Field(None, ge=32)
  # How pixels are scaled for the base (keras.applications' preprocess modes);
  # default: the base's own (tf, -1..1, for MobileNets).
  preprocessing: Optional[Literal["tf", "torch", "caffe"]] = None
  #   feature_extraction: the base is frozen; its bottleneck features are computed
  #     once, cached, and only the head trains.
  #   fine_tune: the head first, then the top `unfreeze` layers too, at
  #     learning rate x fine_tune_lr_factor (BatchNorm stays in inference mode).
  #   progressive: `stages` layers unfrozen in turn, each stage judged on eval
  #     data; a stage that does not beat the best before it ends the training.
  #   scratch: the same network from random weights, everything trained (the
  #     baseline transfer is measured against).
  transfer: Literal["feature_extraction", "fine_tune", "progressive", "scratch"] = (
      "feature_extraction")
  # Layers with weights, counted from the top of the base; BatchNorm layers are
  # not counted and stay frozen.
  unfreeze: int = pydantic.Field(4, ge=1)
  stages: tuple[int, ...] = (0, 2, 4, 8)
  fine_tune_lr_factor: float = pydantic.Field(0.1, gt=0, le=1)

  @pydantic.field_validator("stages")
  @classmethod
  def _stages_grow(cls, stages):
    if len(stages) < 2 or stages[0] != 0 or list(stages) != sorted(set(stages)):
      raise ValueError("stages: increasing layer counts, starting at 0 (the head alone), "
                       "e.g. [0, 2, 4, 8]")
    return stages

  def stage_layers(self) -> tuple[int, ...]:
    """Layers of the base unfrozen at each stage of training."""
    if self.transfer == "fine_tune":
      return (0, self.unfreeze)
    if self.transfer == "progressive":
      return self.stages
    return (0,)


class SearchParameter(_Strict):
  """One dimension of the search space.

  float / int: min and max (sampling linear or log); choice: values. `when`
  makes it conditional: it exists only in trials whose parent has one of the
  listed values, e.g. units_3 with when {num_layers: [3]}."""
  type: Literal["float", "int", "choice"]
  min: Optional[float] = None
  max: Optional[float] = None
  sampling: Literal["linear", "log"] = "linear"
  values: Optional[tuple[Union[int, float, str], ...]] = None
  when: Optional[dict[str, tuple[Union[int, float, str], ...]]] = None

  @pydantic.model_validator(mode="after")
  def _bounds_or_values(self):
    if self.type == "choice":
      if not self.values:
        raise ValueError("a choice needs values")
    elif self.min is None or self.max is None or not self.min < self.max:
      raise ValueError(f"{self.type} needs min < max")
    elif self.sampling == "log" and self.min <= 0:
      raise ValueError("log sampling needs min > 0")
    return self


def _default_space() -> dict[str, SearchParameter]:
  return {"learning_rate": SearchParameter(type="choice", values=(1e-3, 3e-3, 1e-2)),
          "units": SearchParameter(type="choice", values=(32, 64, 128)),
          "num_layers": SearchParameter(type="int", min=1, max=3)}


class TunerConfig(_Strict):
  enabled: bool = True
  # random, bayesian (Gaussian-process Bayesian optimisation) or hyperband.
  algorithm: Literal["random", "bayesian", "hyperband"] = "random"
  # The eval metric trials are compared on, and its direction.
  objective: str = "loss"
  direction: Literal["min", "max"] = "min"
  search_space: dict[str, SearchParameter] = pydantic.Field(default_factory=_default_space)
  max_trials: int = pydantic.Field(4, ge=1)
  # A trial's budget; with hyperband, the budget of its longest (last-round) trials.
  steps_per_trial: int = pydantic.Field(300, ge=1)
  hyperband_factor: int = pydantic.Field(3, ge=2)
  # Trials run at once, each in its own process with a share of the cores.
  parallel_trials: int = pydantic.Field(1, ge=1)
  # A JSON file of hyperparameters to use when the tuner is off.
  hyperparameters_file: Optional[str] = None

  @pydantic.model_validator(mode="after")
  def _known_names(self):
    for name, param in self.search_space.items():
      if name not in SEARCHABLE and not _UNITS_OF_LAYER.match(name):
        raise ValueError(f"search_space.{name}: not a searchable hyperparameter "
                         f"(one of {', '.join(SEARCHABLE)}, units_<layer>)")
      for parent in (param.when or {}):
        if parent not in self.search_space:
          raise ValueError(f"search_space.{name}.when: {parent!r} is not in the search space")
    return self


class Strategy(str, enum.Enum):
  AUTO = "auto"
  ONE_DEVICE = "one_device"
  MIRRORED = "mirrored"
  MULTI_WORKER_MIRRORED = "multi_worker_mirrored"
  # Asynchronous: a coordinator sends steps to workers, variables live on the
  # parameter servers, and a lost worker does not stop training.
  PARAMETER_SERVER = "parameter_server"


class EarlyStoppingConfig(_Strict):
  """Stops when the checkpoint_selection metric has not improved by more than
  min_delta for `patience` checkpoints in a row."""
  enabled: bool = False
  patience: int = pydantic.Field(3, ge=1)
  min_delta: float = pydantic.Field(0.0, ge=0)


class TrainerConfig(_Strict):
  # Training length is a step budget, not passes over the data: a "virtual
  # epoch" is train_steps // num_checkpoints steps and ends with a checkpoint.
  train_steps: int = pydantic.Field(2000, ge=1)
  num_checkpoints: int = pydantic.Field(10, ge=1)
  # Retention: the newest K checkpoints, plus the best one on eval so far.
  keep_checkpoints: int = pydantic.Field(10, ge=1)
  lr_schedule: Literal["constant", "cosine"] = "constant"
  early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
  # Fine-tuning: start from a checkpoint of an earlier training run ("latest",
  # a step of the latest run, or a checkpoint path), at a new learning rate.
  resume_from: Optional[str] = None
  resume_learning_rate: Optional[float] = pydantic.Field(None, gt=0)
  # Batch per device. The global batch is this times the number of replicas, and
  # the learning rate scales linearly: lr * global_batch / base_batch_size.
  per_replica_batch_size: int = pydantic.Field(128, ge=1)
  base_batch_size: int = pydantic.Field(128, ge=1)
  # Eval rows used to score each checkpoint (and each tuner trial).
  eval_examples: int = pydantic.Field(10_000, ge=1)
  # The large-batch rule needs a warm-up: the learning rate rises linearly to its
  # scaled value over the first warmup_steps steps (0: no warm-up).
  warmup_steps: int = pydantic.Field(0, ge=0)
  strategy: Strategy = Strategy.AUTO
  # Local runs: worker processes on this host (TF_CONFIG on localhost ports).
  # workers > 1 trains with MultiWorkerMirrored, or with parameter servers when
  # strategy is parameter_server (then ps >= 1 and a coordinator process too).
  workers: int = pydantic.Field(1, ge=1)
  ps: int = pydantic.Field(0, ge=0)
  seed: int = 42
  hyperparameters: HyperParameters = HyperParameters()
  # After train_steps, this many full-batch L-BFGS iterations on the whole train
  # split (held in memory): the polish that takes a memorised table from about 1%
  # to below 0.1% worst error (measured in BENCHMARKS.md). One process only.
  polish_steps: int = pydantic.Field(0, ge=0)
  # float64 lets the polish keep improving where float32's rounding stalls it.
  precision: Literal["float32", "float64"] = "float32"

  @property
  def total_steps(self) -> int:
    return self.train_steps + self.polish_steps

  @pydantic.model_validator(mode="after")
  def _checkpoints_fit_budget(self):
    if self.num_checkpoints > self.train_steps:
      raise ValueError(
          f"num_checkpoints ({self.num_checkpoints}) exceeds train_steps "
          f"({self.train_steps})")
    if self.warmup_steps >= self.train_steps:
      raise ValueError(f"warmup_steps ({self.warmup_steps}) must be below train_steps "
                       f"({self.train_steps})")
    _check_cluster(self.strategy, self.workers, self.ps, "trainer")
    if self.polish_steps and (self.workers > 1 or self.strategy == Strategy.PARAMETER_SERVER):
      raise ValueError("polish_steps: the full-batch polish runs in one process "
                       "(workers 1, not parameter_server)")
    return self


def _check_cluster(strategy: Strategy, workers: int, ps: int, where: str) -> None:
  """The replica counts a strategy can use; the error names the keys to change."""
  if strategy == Strategy.PARAMETER_SERVER and ps < 1:
    raise ValueError(f"strategy parameter_server needs {where}.ps >= 1 (parameter servers)")
  if ps and strategy != Strategy.PARAMETER_SERVER:
    raise ValueError(f"{where}.ps is {ps}: parameter servers need strategy "
                     f"parameter_server (not {strategy.value})")
  if workers > 1 and strategy in (Strategy.ONE_DEVICE, Strategy.MIRRORED):
    raise ValueError(f"{where}.workers is {workers}, but strategy {strategy.value} trains "
                     f"on one host; use multi_worker_mirrored or auto")


class ClusterSize(_Strict):
  """Replicas of the Trainer's TFJob on Kubeflow (1 worker and no ps: no TFJob, the
  step's own pod trains)."""
  workers: int = pydantic.Field(1, ge=1)
  ps: int = pydantic.Field(0, ge=0)


class CheckpointSelectionConfig(_Strict):
  # Eval metric the checkpoint evaluator selects on, and its direction.
  metric: str = "loss"
  mode: Literal["min", "max"] = "min"


class EvaluatorConfig(_Strict):
  """The blessing threshold (a TFMA value threshold on the eval split).

  The metric is AUC for binary tasks, accuracy for multiclass and mean squared
  error for regression. Binary tasks default to AUC >= 0.6 (0.5 is chance); the
  other tasks have no task-independent sensible bound, so one must be given.
  """
  lower_bound: Optional[float] = None
  upper_bound: Optional[float] = None
  # Against production: once a model is in the registry, a candidate is pushed
  # only if it beats that model, on the same eval data, by more than this much of
  # the blessing metric (TFMA change threshold; the first push needs the bound only).
  min_improvement: float = pydantic.Field(0.0, ge=0)


_WARM_START = re.compile(r"^(cold|production|production-minus-([1-9][0-9]*))$")


class RetrainConfig(_Strict):
  """Periodic retraining on fresh spans (`tpctl retrain`)."""
  # Where training starts: the production model's own checkpoint (its full
  # training state), K checkpoints before it, or from scratch. Without a production
  # model (or with its checkpoint gone) it starts cold, and says so.
  warm_start: str = "production"
  # A warm start trains this many steps past the production checkpoint (instead
  # of trainer.train_steps), at this learning rate (default: the trainer's).
  warm_start_steps: int = pydantic.Field(500, ge=1)
  warm_start_learning_rate: Optional[float] = pydantic.Field(None, gt=0)
  # Versions kept in the serving directory (the model registry), newest first.
  keep_versions: int = pydantic.Field(5, ge=2)
  # Drift gate: a new span whose categorical (or label) distribution is farther
  # than this from production's training data (L-infinity distance) stops the run.
  # Measured on the monthly taxi spans against a year of production data: clean
  # months reach 0.28 (a 57-row month), a collapse to one payment type is 0.68.
  drift_threshold: float = pydantic.Field(0.35, gt=0, le=1)
  # Columns a span itself fixes (a month column in monthly spans) always "drift".
  drift_exempt: tuple[str, ...] = ()

  @pydantic.field_validator("warm_start")
  @classmethod
  def _known_source(cls, value: str) -> str:
    if not _WARM_START.match(value):
      raise ValueError(f"{value!r} is not production, production-minus-K (K >= 1) or cold")
    return value

  def checkpoints_back(self) -> Optional[int]:
    """None for a cold start, else how many checkpoints before production's."""
    match = _WARM_START.match(self.warm_start)
    if match.group(1) == "cold":
      return None
    return int(match.group(2) or 0)


class StepResources(_Strict):
  """Kubernetes requests (= limits, so a step never loses its node to a neighbour)."""
  cpu: str = "2"
  memory: str = "8Gi"
  # GPUs of `KubeflowConfig.accelerator` per pod; 0 runs the step on CPU.
  gpus: int = pydantic.Field(0, ge=0)


class VolumeMount(_Strict):
  pvc: str
  mount_path: str


class Toleration(_Strict):
  key: str
  operator: Literal["Exists", "Equal"] = "Exists"
  value: Optional[str] = None
  effect: Optional[Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]] = None


class BeamConfig(_Strict):
  """Where the Beam steps (Ingest, statistics, Transform, TFMA) run.

  direct: Beam's local runner in this process or in worker processes (mode);
  in_process skips the worker start-up and second TensorFlow import, and
  multi_processing pays once the data is large; auto picks by input size.
  flink: a Flink session cluster (`tpctl flink up` starts one on this host)
  through a Beam job server, with the Python workers in `environment`."""
  runner: Literal["direct", "flink"] = "direct"
  mode: Literal["auto", "in_process", "multi_processing"] = "auto"
  # auto: in process up to this much CSV input.
  in_process_max_mb: float = pydantic.Field(256.0, gt=0)
  # multi_processing: worker processes (0: one per core, less one for the driver).
  workers: int = pydantic.Field(0, ge=0)
  # flink: the JobManager's REST address (host:port), checked before any step.
  address: Optional[str] = None
  # The Beam job server that submits to it; default: the address's host, port 8099.
  job_server: Optional[str] = None
  # Parallel instances of every Beam stage across the TaskManagers' slots.
  parallelism: int = pydantic.Field(2, ge=1)
  # Where the Python SDK workers run: external, a worker pool beside each
  # TaskManager (worker_pool); loopback, inside this process (a cluster on this
  # host only); docker, containers of sdk_image started by the TaskManagers.
  environment: Literal["external", "loopback", "docker"] = "external"
  worker_pool: str = "127.0.0.1:50000"
  sdk_image: Optional[str] = None
  # Appended to the Beam arguments as they are (e.g. --max_cache_memory_usage_mb=0).
  extra_args: tuple[str, ...] = ()

  @pydantic.model_validator(mode="after")
  def _runner_settings(self) -> "BeamConfig":
    if self.runner == "flink" and not self.address:
      raise ValueError("beam.runner flink needs beam.address, the Flink REST address "
                       "(host:port, e.g. 127.0.0.1:8081 from `tpctl flink up`)")
    if self.runner == "flink" and self.environment == "docker" and not self.sdk_image:
      raise ValueError("beam.environment docker needs beam.sdk_image")
    for name in ("address", "job_server", "worker_pool"):
      value = getattr(self, name)
      if value and not re.fullmatch(r"[A-Za-z0-9.\-]+:\d{1,5}", value):
        raise ValueError(f"beam.{name} {value!r} is not host:port")
    return self

  @property
  def job_endpoint(self) -> str:
    return self.job_server or f"{(self.address or '').rsplit(':', 1)[0]}:8099"


class KubeflowTuner(_Strict):
  # local: the Tuner step searches in its own pod (trials in parallel processes
  # there); katib: it runs the search as a Katib Experiment, a pod per trial.
  backend: Literal["local", "katib"] = "local"


class KubeflowConfig(_Strict):
  """How `tpctl compile` lays the pipeline out on Kubernetes (not used locally)."""
  # One image runs every step (see containers/Dockerfile)...
  image: str = "registry.example.com/training-patterns:0.1.0"
  # ... unless this is set: the CPU variant of it (`make images` builds both),
  # for every step that uses no GPU; the Tuner and Trainer keep `image`.
  cpu_image: Optional[str] = None
  resources: StepResources = StepResources()
  # The Tuner and Trainer: the steps that use accelerators.
  training_resources: StepResources = StepResources(cpu="4", memory="16Gi", gpus=1)
  accelerator: str = "nvidia.com/gpu"
  # Where GPU steps may be scheduled (the NVIDIA device plugin's taint and label).
  gpu_node_selector: dict[str, str] = {"nvidia.com/gpu.present": "true"}
  gpu_tolerations: tuple[Toleration, ...] = (
      Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule"),)
  # Claims mounted into every step (names match k8s/base). Checkpoints and the
  # serving directory must be on one of them: they outlive any single run. KFP's
  # own pipeline root is its object store (its launcher takes only gs://, s3://,
  # minio://); the pipeline-root volume holds the CronJob's runs and is a place
  # for data (`--data-dir /mnt/pipeline-root/...`).
  volumes: tuple[VolumeMount, ...] = (
      VolumeMount(pvc="training-patterns-pipeline-root", mount_path="/mnt/pipeline-root"),
      VolumeMount(pvc="training-patterns-checkpoints", mount_path="/mnt/checkpoints"),
      VolumeMount(pvc="training-patterns-serving", mount_path="/mnt/serving"),
  )
  checkpoint_dir: str = "/mnt/checkpoints"
  serving_dir: str = "/mnt/serving"
  # Several workers (or parameter servers): the Trainer step launches a TFJob of
  # this size, on the run's image, with training_resources per worker. Default:
  # trainer.workers and trainer.ps, as a local run uses them.
  trainer: Optional[ClusterSize] = None
  # Where that TFJob (and a Katib Experiment) is created; default: the step pod's
  # own namespace.
  tfjob_namespace: Optional[str] = None
  tuner: KubeflowTuner = KubeflowTuner()


class PipelineConfig(_Strict):
  pipeline_name: str = pydantic.Field("training-patterns", pattern=r"^[a-z0-9][a-z0-9-]*$")
  # Holds the pipeline root, the MLMD database, TensorBoard logs and checkpoints.
  run_dir: str = "runs/default"
  # Where blessed models are pushed; defaults to <run_dir>/serving.
  serving_dir: Optional[str] = None
  # Stable checkpoint location, outside the per-execution artifact URIs, so that
  # retries and reruns resume; defaults to <run_dir>/checkpoints.
  checkpoint_dir: Optional[str] = None
  beam: BeamConfig = BeamConfig()
  data: DataConfig = DataConfig()
  task: TaskConfig = TaskConfig()
  features: FeaturesConfig = FeaturesConfig()
  transform: TransformConfig = TransformConfig()
  tuner: TunerConfig = TunerConfig()
  trainer: TrainerConfig = TrainerConfig()
  model: ModelConfig = ModelConfig()
  checkpoint_selection: CheckpointSelectionConfig = CheckpointSelectionConfig()
  evaluator: EvaluatorConfig = EvaluatorConfig()
  retrain: RetrainConfig = RetrainConfig()
  kubeflow: KubeflowConfig = KubeflowConfig()
  # Set by for_step() only: this config is one step's view, with the sections the
  # step does not read left at their defaults (so whole-config checks do not apply).
  step_view: Optional[str] = None

  @pydantic.model_validator(mode="after")
  def _columns_are_consistent(self):
    features = self.features.all()
    dupes = sorted({f for f in features if features.count(f) > 1})
    if dupes:
      raise ValueError(f"feature listed twice: {dupes[0]!r}")
    if not features:
      raise ValueError("no features configured")
    if self.task.label in features:
      raise ValueError(f"label {self.task.label!r} is also listed as a feature")
    clash = column_keys.colliding(features + (self.task.label,))
    if clash:  # a hash collision of two headers' safe keys: never silently one column
      raise ValueError(f"columns {clash[0]!r} and {clash[1]!r} get the same internal key "
                       f"{column_keys.column_key(clash[0])!r}; rename one of them")
    if self.kubeflow.trainer:
      _check_cluster(self.trainer.strategy, self.kubeflow.trainer.workers,
                     self.kubeflow.trainer.ps, "kubeflow.trainer")
    if (self.step_view is None and self.task.type != TaskType.BINARY
        and self.evaluator.lower_bound is None
        and self.evaluator.upper_bound is None):
      raise ValueError(f"evaluator.lower_bound or evaluator.upper_bound is required "
                       f"for a {self.task.type.value} task (the blessing threshold)")
    # (A step's view keeps only its sections: these are whole-config checks.)
    if self.step_view is None and self.data.simulator:
      _check_simulator_columns(self)
    if self.step_view is None and self.task.mode == "memorize":
      _check_memorize(self)
    if self.step_view is None and (self.data.images or self.features.image
                                   or self.model.base):
      _check_images(self)
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

  def blessing_threshold(self) -> tuple[Optional[float], Optional[float]]:
    """(lower, upper) bound on the task's blessing metric."""
    e = self.evaluator
    if e.lower_bound is None and e.upper_bound is None:
      return (0.6, None)  # binary; other tasks are rejected by the validator
    return (e.lower_bound, e.upper_bound)

  def to_json(self) -> str:
    return self.model_dump_json()

  @classmethod
  def from_json(cls, text: str) -> "PipelineConfig":
    return cls.model_validate_json(text)

  def for_step(self, step: str) -> "PipelineConfig":
    """The config as one step sees it: the sections the step reads, everything
    else at its default. TFX's cache keys a step on its properties, so a change
    the step cannot see (say trainer.train_steps, for Transform) leaves it cached."""
    reads = _STEP_READS[step]
    kept = self.model_dump(include=reads["sections"])
    for section, ignored in reads.get("ignores", {}).items():
      kept[section] = {k: v for k, v in kept[section].items() if k not in ignored}
    return PipelineConfig.model_validate({**kept, "step_view": step})

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


def _check_simulator_columns(config: "PipelineConfig") -> None:
  sim = config.data.simulator
  if config.data.dir:
    raise ValueError("give data.dir (CSV files) or data.simulator, not both")
  if config.task.type != TaskType.REGRESSION:
    raise ValueError("data.simulator: a simulator's output is a number, so task.type "
                     "must be regression")
  axes, output = sim.axis_names(), sim.output_name()
  if not axes:
    raise ValueError(f"data.simulator.axes: simulator {sim.name!r} has no built-in grid; "
                     f"give its axes")
  if not output:
    raise ValueError(f"data.simulator.output: name the output column of {sim.name!r}")
  f = config.features
  if tuple(f.numeric) != axes or f.categorical or f.coordinates:
    raise ValueError(f"features: a simulator's inputs are its axes; set features.numeric "
                     f"to {list(axes)} and categorical/coordinates to []")
  if config.task.label != output:
    raise ValueError(f"task.label is {config.task.label!r}, but the simulator's output "
                     f"column is {output!r}")


# Memorising: what the config may not turn on, and why.
_MEMORIZE_WHY = ("task.mode memorize fits the complete input space, so there is no "
                 "unseen data to generalise to")
_WORST_ERRORS = ("max_abs_error", "max_rel_error")


def _check_images(config: "PipelineConfig") -> None:
  d, f, m = config.data, config.features, config.model
  if not (d.images and f.image and m.base):
    raise ValueError("an image task needs data.images (where the images are), "
                     "features.image (their column) and model.base (the pre-trained "
                     "base), together")
  if d.dir or d.simulator:
    raise ValueError("give data.images, or data.dir / data.simulator, not both")
  if f.numeric or f.categorical or f.coordinates:
    raise ValueError("features: an image task reads the image alone; set "
                     "features.numeric, categorical and coordinates to []")
  if config.task.type != TaskType.MULTICLASS:
    raise ValueError("an image task is a classification: set task.type to multiclass")
  stages = len(m.stage_layers())
  if config.trainer.num_checkpoints < stages:
    raise ValueError(f"trainer.num_checkpoints ({config.trainer.num_checkpoints}) must be "
                     f"at least the number of training stages of {m.transfer} ({stages}): "
                     f"each stage ends with a checkpoint")
  if m.transfer == "feature_extraction" and config.trainer.polish_steps:
    raise ValueError("trainer.polish_steps is for memorising a simulator's grid")


def _check_memorize(config: "PipelineConfig") -> None:
  if not config.data.simulator:
    raise ValueError("task.mode memorize needs data.simulator: only a tabulated "
                     "simulator's grid is the complete input space")
  hp, t = config.trainer.hyperparameters, config.trainer
  if hp.dropout:
    raise ValueError(f"trainer.hyperparameters.dropout is {hp.dropout}: {_MEMORIZE_WHY}; "
                     f"dropout would only stop the model fitting it (set it to 0)")
  if hp.l2:
    raise ValueError(f"trainer.hyperparameters.l2 is {hp.l2}: {_MEMORIZE_WHY}; L2 would "
                     f"only pull the fit away from the table (set it to 0)")
  if t.early_stopping.enabled:
    raise ValueError(f"trainer.early_stopping.enabled: {_MEMORIZE_WHY}, and the eval "
                     f"data is the training data; train to the full budget")
  if config.tuner.enabled:
    for name in ("dropout", "l2"):
      if name in config.tuner.search_space:
        raise ValueError(f"tuner.search_space.{name}: {_MEMORIZE_WHY}; do not search "
                         f"regularisation")
  sel = config.checkpoint_selection
  if sel.metric not in _WORST_ERRORS or sel.mode != "min":
    raise ValueError("checkpoint_selection: a memorised table is judged by its worst "
                     "error; set metric to max_abs_error or max_rel_error, mode min")
  if config.evaluator.upper_bound is None:
    raise ValueError("evaluator.upper_bound: the tolerance on the worst absolute error "
                     "over the grid, which blesses the model (e.g. 0.1% of the output range)")
  if config.evaluator.lower_bound is not None:
    raise ValueError("evaluator.lower_bound: in memorize mode the bound is on the worst "
                     "error (evaluator.upper_bound), not a lower bound")


# What each step with our code reads from the config (see PipelineConfig.for_step).
# A section missing here is invisible to that step: a test checks that changing it
# does not change what the step does.
_STEP_READS = {
    "transform": {"sections": {"task", "features", "transform"}},
    # Trials have their own step budget, and keep no checkpoints to manage.
    "tuner": {"sections": {"task", "features", "transform", "tuner", "trainer", "model"},
              "ignores": {"trainer": {"train_steps", "num_checkpoints", "keep_checkpoints",
                                      "early_stopping", "resume_from",
                                      "resume_learning_rate"}}},
    "trainer": {"sections": {"pipeline_name", "task", "features", "transform", "trainer",
                             "model", "checkpoint_selection", "retrain"},
                "ignores": {"retrain": {"keep_versions", "drift_threshold", "drift_exempt"}}},
    "drift_gate": {"sections": {"data", "task", "features", "retrain"},
                   "ignores": {"retrain": {"warm_start", "warm_start_steps",
                                           "warm_start_learning_rate", "keep_versions"}}},
    # The tolerance (evaluator.upper_bound) is drawn on a memorised grid's error map.
    "checkpoint_evaluator": {"sections": {"pipeline_name", "task", "features", "transform",
                                          "trainer", "model", "checkpoint_selection",
                                          "evaluator"},
                             "ignores": {"evaluator": {"lower_bound", "min_improvement"}}},
}


def _describe(error: dict) -> str:
  where = ".".join(str(p) for p in error["loc"])
  if error["type"] == "extra_forbidden":
    return f"unknown key {where!r}"
  message = error["msg"].removeprefix("Value error, ")
  # Whole-config checks name their keys in the message themselves.
  return f"{where}: {message}" if where else message


def load_config(path: Optional[str | os.PathLike] = None,
                overrides: Optional[dict] = None) -> PipelineConfig:
  """Reads a YAML config (or the defaults), raising ConfigError with one line."""
  source = str(path) if path else "default config"
  raw: dict = {}
  if path:
    try:
      text = Path(path).read_text()
    except OSError as e:
      raise ConfigError(f"{path}: cannot read config: {e.strerror}") from None
    try:
      raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
      mark = getattr(e, "problem_mark", None)
      line = f":{mark.line + 1}" if mark else ""
      raise ConfigError(f"{path}{line}: invalid YAML") from None
    if not isinstance(raw, dict):
      raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    # Relative paths in a config file are relative to the file, not the cwd.
    base = Path(path).resolve().parent
    for section, key in (("data", "dir"), ("data", "schema_file"),
                         ("tuner", "hyperparameters_file"), (None, "run_dir"),
                         (None, "serving_dir"), (None, "checkpoint_dir")):
      holder = raw.get(section) if section else raw
      if isinstance(holder, dict) and isinstance(holder.get(key), str):
        holder[key] = str((base / holder[key]).resolve())
  for dotted, value in (overrides or {}).items():
    holder = raw
    *parents, leaf = dotted.split(".")
    for p in parents:
      holder = holder.setdefault(p, {})
    holder[leaf] = value
  if "beam_workers" in raw:  # renamed when Beam learned to run in process
    raise ConfigError(f"{source}: beam_workers is now beam.workers (beam.mode chooses "
                      f"between in process and worker processes)")
  if raw.get("step_view") is not None:  # (null: a `tpctl config` of an older version)
    raise ConfigError(f"{source}: step_view is set by the pipeline, not in a config")
  try:
    config = PipelineConfig.model_validate(raw)
  except pydantic.ValidationError as e:
    raise ConfigError(f"{source}: {_describe(e.errors()[0])}") from None
  return _with_hyperparameters_file(config)


def _with_hyperparameters_file(config: PipelineConfig) -> PipelineConfig:
  """With the tuner off, a hyperparameters file overrides trainer.hyperparameters.

  It holds either HyperParameters fields, or a Tuner's best_hyperparameters.txt
  (KerasTuner's {"space": ..., "values": ...}), so an earlier search can be reused.
  """
  path = config.tuner.hyperparameters_file
  if not path or config.tuner.enabled:
    return config
  from components import hyperparameters  # no TensorFlow behind this import
  try:
    values = json.loads(Path(path).read_text())
  except OSError as e:
    raise ConfigError(f"{path}: cannot read hyperparameters file: {e.strerror}") from None
  except json.JSONDecodeError as e:
    raise ConfigError(f"{path}:{e.lineno}: invalid JSON") from None
  base = config.trainer.hyperparameters
  try:
    if isinstance(values, dict) and "values" in values:
      hp = hyperparameters.from_values(values["values"], base)
    else:
      hp = HyperParameters.model_validate({**base.model_dump(), **values})
  except (pydantic.ValidationError, TypeError, ValueError) as e:
    errors = e.errors() if isinstance(e, pydantic.ValidationError) else None
    raise ConfigError(f"{path}: {_describe(errors[0]) if errors else e}") from None
  trainer = config.trainer.model_copy(update={"hyperparameters": hp})
  return config.model_copy(update={"trainer": trainer})
