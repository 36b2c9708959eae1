"""Retraining: where a run on fresh spans starts (retrain.warm_start).

The production model was exported from one checkpoint of its training run, and
the registry records which. A run whose data holds spans production has not seen
starts from that checkpoint's full state (or K checkpoints before it: the seed's
"resume some epochs earlier, on fresh data"), and trains retrain.warm_start_steps
more steps at the warm-start learning rate. A run on the same data as production
is a rerun, not a retraining, and keeps its own checkpoints as before. A missing
or unreadable checkpoint is said, and the run starts cold.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Optional

import tensorflow as tf

from components.config import PipelineConfig
from components.csv_ingest.executor import read_spans_file
from components.registry import production
from components.trainer import checkpoints


@dataclasses.dataclass
class Start:
  config: PipelineConfig  # with the warm start's step budget and learning rate
  checkpoint: Optional[str]  # the checkpoint to start from; None: cold / own checkpoints
  description: str  # recorded with the model, printed in the summary


def _source_checkpoint(entry: dict, back: int) -> tuple[Optional[str], str]:
  """(the checkpoint `back` checkpoints before production's, or None with why)."""
  path = entry.get("checkpoint_path")
  if not path:
    return None, "the registry records no checkpoint for it"
  directory, name = os.path.split(path)
  steps = checkpoints.list_steps(directory)
  step = int(name.rpartition("-")[2])
  if step not in steps:
    return None, f"its checkpoint {path} is missing"
  index = steps.index(step) - back
  if index < 0:
    return None, (f"{path} has {steps.index(step)} earlier checkpoint(s), not {back} "
                  f"(retrain.warm_start production-minus-{back})")
  source = os.path.join(directory, f"ckpt-{steps[index]}")
  try:
    tf.train.load_checkpoint(source)
  except Exception as e:  # pylint: disable=broad-except  (any damage means: not usable)
    return None, f"its checkpoint {source} is unreadable ({str(e).splitlines()[0][:120]})"
  return source, ""


def with_warm_start_budget(config: PipelineConfig, start_step: int) -> PipelineConfig:
  """train_steps counts from step 0, and the restored step is production's: the
  budget becomes start + warm_start_steps, with about as many checkpoints in
  those steps as trainer.num_checkpoints puts in a whole run."""
  r, t = config.retrain, config.trainer
  total = start_step + r.warm_start_steps
  interval = max(1, r.warm_start_steps // min(t.num_checkpoints, r.warm_start_steps))
  trainer = t.model_validate({
      **t.model_dump(), "train_steps": total, "num_checkpoints": max(1, total // interval),
      "warmup_steps": min(t.warmup_steps, r.warm_start_steps - 1),
      "resume_learning_rate": r.warm_start_learning_rate or t.resume_learning_rate})
  return config.model_copy(update={"trainer": trainer})


def choose(config: PipelineConfig, production_model: Optional[str], examples_uri: str,
           say: Callable[[str], None]) -> Start:
  """production_model: the ProductionModel artifact's URI (None outside a pipeline)."""
  back = config.retrain.checkpoints_back()
  if config.trainer.resume_from:
    return Start(config, None, f"fine-tuning from {config.trainer.resume_from} (trainer.resume_from)")
  entry = production.read(production_model) if production_model else {}
  if not entry:
    return Start(config, None, "cold (no production model)")
  fresh = sorted(set(read_spans_file(examples_uri)["spans"]) - set(entry["spans"]))
  if not fresh:
    return Start(config, None, f"its own checkpoints (no span that production version "
                               f"{entry['version']} has not seen)")
  if back is None:
    return Start(config, None, "cold (retrain.warm_start: cold)")
  source, why_not = _source_checkpoint(entry, back)
  if source is None:
    say(f"WARNING: cannot warm-start from production version {entry['version']}: {why_not}; "
        f"starting cold")
    return Start(config, None, f"cold (production version {entry['version']}: {why_not})")
  step = int(source.rpartition("-")[2])
  minus = f", {back} checkpoint(s) before its own" if back else ""
  say(f"warm start from production version {entry['version']}: {source} (step {step}{minus}), "
      f"{config.retrain.warm_start_steps} more steps on {len(fresh)} new span(s)")
  return Start(with_warm_start_budget(config, step), source,
               f"production version {entry['version']}, step {step}{minus}")
