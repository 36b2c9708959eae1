"""What each step with our code reads from the config, and its view of it.

TFX's cache keys a step on its properties, so each step is handed the config as
it sees it: the sections it reads, everything else at its default. A change the
step cannot see (say trainer.train_steps, for Transform) then leaves it cached.
A section missing here is invisible to that step: a test checks that changing it
does not change what the step does.
"""
from __future__ import annotations

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
    # The tolerance (evaluator.upper_bound) is drawn on a memorized grid's error map.
    "checkpoint_evaluator": {"sections": {"pipeline_name", "task", "features", "transform",
                                          "trainer", "model", "checkpoint_selection",
                                          "evaluator"},
                             "ignores": {"evaluator": {"lower_bound", "min_improvement"}}},
}


def for_step(config, step: str):
  """`config` (a PipelineConfig) as `step` sees it, marked with step_view."""
  reads = _STEP_READS[step]
  kept = config.model_dump(include=reads["sections"])
  for section, ignored in reads.get("ignores", {}).items():
    kept[section] = {k: v for k, v in kept[section].items() if k not in ignored}
  return type(config).model_validate({**kept, "step_view": step})
