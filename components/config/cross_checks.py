"""Checks that span sections of the config: each section validates itself, but
only the whole config knows that the label is not also a feature, or that a
memorized simulator grid may not be regularized.

Called by PipelineConfig's validator. A step's view (PipelineConfig.for_step)
keeps only the sections that step reads, so the checks that need the whole
config are skipped on a view.
"""
from __future__ import annotations

from components import column_keys
from components.config.task import TaskType
from components.config.trainer import check_cluster

# Memorizing: what the config may not turn on, and why.
_MEMORIZE_WHY = ("task.mode memorize fits the complete input space, so there is no "
                 "unseen data to generalize to")
_WORST_ERRORS = ("max_abs_error", "max_rel_error")


def check(config) -> None:
  """Raises ValueError, naming the keys, when the sections do not fit together."""
  _check_columns(config)
  if config.kubeflow.trainer:
    check_cluster(config.trainer.strategy, config.kubeflow.trainer.workers,
                  config.kubeflow.trainer.ps, "kubeflow.trainer")
  if config.step_view is not None:
    return  # a step's view keeps only its sections: the rest are whole-config checks
  if (config.task.type != TaskType.BINARY and config.evaluator.lower_bound is None
      and config.evaluator.upper_bound is None):
    raise ValueError(f"evaluator.lower_bound or evaluator.upper_bound is required "
                     f"for a {config.task.type.value} task (the blessing threshold)")
  if config.data.simulator:
    _check_simulator_columns(config)
  if config.task.mode == "memorize":
    _check_memorize(config)
  if config.data.images or config.features.image or config.model.base:
    _check_images(config)


def _check_columns(config) -> None:
  features = config.features.all()
  dupes = sorted({f for f in features if features.count(f) > 1})
  if dupes:
    raise ValueError(f"feature listed twice: {dupes[0]!r}")
  if not features:
    raise ValueError("no features configured")
  if config.task.label in features:
    raise ValueError(f"label {config.task.label!r} is also listed as a feature")
  clash = column_keys.colliding(features + (config.task.label,))
  if clash:  # a hash collision of two headers' safe keys: never silently one column
    raise ValueError(f"columns {clash[0]!r} and {clash[1]!r} get the same internal key "
                     f"{column_keys.column_key(clash[0])!r}; rename one of them")


def _check_simulator_columns(config) -> None:
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


def _check_images(config) -> None:
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
    raise ValueError("trainer.polish_steps is for memorizing a simulator's grid")


def _check_memorize(config) -> None:
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
                         f"regularization")
  sel = config.checkpoint_selection
  if sel.metric not in _WORST_ERRORS or sel.mode != "min":
    raise ValueError("checkpoint_selection: a memorized table is judged by its worst "
                     "error; set metric to max_abs_error or max_rel_error, mode min")
  if config.evaluator.upper_bound is None:
    raise ValueError("evaluator.upper_bound: the tolerance on the worst absolute error "
                     "over the grid, which blesses the model (e.g. 0.1% of the output range)")
  if config.evaluator.lower_bound is not None:
    raise ValueError("evaluator.lower_bound: in memorize mode the bound is on the worst "
                     "error (evaluator.upper_bound), not a lower bound")
