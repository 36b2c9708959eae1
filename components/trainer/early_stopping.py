"""Which evaluated checkpoint is best so far, and when training stops waiting for
a better one (trainer.early_stopping, judged by checkpoint_selection's metric)."""
from __future__ import annotations

from typing import Optional

from components.config import PipelineConfig
from components.trainer import evaluation


def best_index(history: list, metric: str, mode: str, min_delta: float = 0.0) -> int:
  best_i, best = 0, None
  for i, h in enumerate(history):
    if evaluation.is_better(h["eval"][metric], best, mode, min_delta if best is not None else 0):
      best_i, best = i, h["eval"][metric]
  return best_i


def best_step(config: PipelineConfig, history: list) -> int:
  sel = config.checkpoint_selection
  return history[best_index(history, sel.metric, sel.mode)]["step"]


def check(config: PipelineConfig, history: list) -> Optional[dict]:
  """{"step", "reason"} once the metric has not improved for `patience` checkpoints."""
  es, sel = config.trainer.early_stopping, config.checkpoint_selection
  if not es.enabled:
    return None
  best_i = best_index(history, sel.metric, sel.mode, es.min_delta)
  waited = len(history) - 1 - best_i
  if waited < es.patience:
    return None
  best = history[best_i]
  return {"step": history[-1]["step"],
          "reason": f"eval {sel.metric} did not improve by more than {es.min_delta} for "
                    f"{waited} checkpoints (best {best['eval'][sel.metric]:.4f} at step "
                    f"{best['step']})"}
