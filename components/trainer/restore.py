"""Where a run starts: its own latest checkpoint (a resume, exactly where it
stopped), else another run's checkpoint (a warm start or trainer.resume_from:
fine-tuning), else a new model.

A warm start restores the source's full state; when the vocabularies changed
since that run, embedding rows follow their categories (vocabularies.py). A
source whose variables do not fit this model is an `IncompatibleCheckpoint`.
"""
from __future__ import annotations

import tensorflow as tf

from components.config import ConfigError, PipelineConfig
from components.errors import UserError
from components.trainer import checkpoints, data, model as model_lib, training_state, vocabularies
from components.trainer.run import Run, RunState
from components.trainer.training_state import TrainingState


class IncompatibleCheckpoint(UserError):
  """Another run's checkpoint whose variables do not fit this model (its
  architecture changed), beyond what a vocabulary remap explains."""


def resume(run: Run) -> RunState:
  """Restores the run's starting point; the history and early stop of the
  checkpoints that still exist come with it."""
  inputs, t, training = run.inputs, run.config.trainer, run.training
  if run.chief and inputs.save_checkpoints:  # what a later warm start remaps ids from
    vocabularies.save(run.config, inputs.tft_output, inputs.checkpoint_dir)
  saved = checkpoints.read_state(inputs.checkpoint_dir)
  resumed_from = None
  restored = run.reader.restore_latest() if inputs.save_checkpoints else None
  if restored is not None:
    resumed_from = run.reader.path(restored)
    run.say(f"resumed from {resumed_from} (step {restored}, epoch {int(training.epoch.numpy())})")
  elif inputs.warm_start:
    restore_warm_start(run.config, inputs.hp, inputs.tft_output, run.strategy,
                       run.learning_rate, inputs.warm_start, training, run.say)
    resumed_from = inputs.warm_start
    run.say(f"fine-tuning from {inputs.warm_start} at step {int(training.step.numpy())}, "
            f"learning rate {run.lr_plan.scaled:g}")
  else:
    set_label_scale(run.config, training.model, inputs.train_pattern, inputs.tft_output,
                    run.say)
  if isinstance(run.learning_rate, float):
    training.optimizer.learning_rate = run.learning_rate  # the restored value is the old run's
  current = int(training.step.numpy())
  if inputs.warm_start and restored is None and current >= t.train_steps:
    raise ConfigError(f"resume_from {inputs.warm_start} is at step {current}, which is not "
                      f"before train_steps {t.train_steps}")

  # History of the checkpoints that still exist; later entries died with a crash.
  history = [h for h in saved.get("history", []) if h["step"] <= current]
  stopped = saved.get("stopped_early")
  if stopped and stopped["step"] != current:
    stopped = None
  if stopped:
    run.say(f"training had stopped early at step {current}: {stopped['reason']}")
  return RunState(current, current, history, stopped, resumed_from)


def restore_warm_start(config: PipelineConfig, hp, tft_output, strategy, learning_rate,
                       source: str, training: TrainingState, progress) -> None:
  """The full state of another run's checkpoint; embedding rows follow their
  categories when that run's vocabularies differ from this one's."""
  try:
    _restore_remapped(config, hp, tft_output, strategy, learning_rate, source, training, progress)
  except (ValueError, AssertionError, tf.errors.InvalidArgumentError) as e:
    reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
    raise IncompatibleCheckpoint(f"{source} does not fit this model ({reason})") from e


def _restore_remapped(config, hp, tft_output, strategy, learning_rate, source: str,
                      training: TrainingState, progress) -> None:
  maps = vocabularies.row_maps(config, tft_output, source)
  if not maps:
    training.checkpoint.read(source).assert_existing_objects_matched()
    return
  sizes = vocabularies.old_sizes(model_lib.vocab_sizes_of(config, tft_output), maps, config,
                                 source)
  old = training_state.build(config, hp, tft_output, strategy, learning_rate, sizes=sizes)
  old.checkpoint.read(source).assert_existing_objects_matched()
  moved = vocabularies.copy_remapped(training.model.variables, old.model.variables, maps)
  vocabularies.copy_remapped(training.optimizer.variables, old.optimizer.variables, maps)
  training.step.assign(old.step)
  training.epoch.assign(old.epoch)
  progress(f"vocabularies changed since {source}: {len(maps)} embedding table(s) remapped "
           f"by category ({moved} ids moved or new)")


def set_label_scale(config: PipelineConfig, model, train_pattern: str, tft_output,
                    progress) -> None:
  """A new regression model's output map, from the train labels' mean and spread."""
  scale = model_lib.label_scale(model)
  if scale is None:
    return
  mean, std = data.label_moments(train_pattern, tft_output)
  scale.offset.assign(mean)
  scale.scale.assign(std or 1.0)
  progress(f"label {config.task.label}: mean {mean:.4g}, standard deviation {std:.4g} "
           f"(the output layer's scale)")
