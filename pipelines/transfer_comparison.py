"""`tpctl compare-transfer`: which transfer mode suits these images? Trains every
mode on the same labelled images and scores each on a held-out test split.

The pipeline runs once as configured (ingest, transform, training, evaluation,
push); its examples and transform graph are then reused to train each mode
(scratch, feature extraction, fine-tune, progressive) with each seed, through the
same training loop the Trainer runs. Each run selects its best checkpoint on the
eval split, as the checkpoint evaluator does, and that checkpoint is scored on
the test split, which no selection has seen. Each run computes its own
bottleneck features, so its time is what one run of that mode costs.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import statistics
import time
from typing import Callable, Optional

from components.config import ConfigError, PipelineConfig, load_config

MODES = ("scratch", "feature_extraction", "fine_tune", "progressive")
DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "configs", "transfer_digits.yaml")
RESULTS_FILE = "transfer_comparison.json"


@dataclasses.dataclass
class ModeRun:
  mode: str
  seed: int
  test_accuracy: float
  eval_accuracy: float  # of the selected checkpoint
  selected_step: int
  selected_stage: Optional[int]  # fine_tune / progressive
  seconds: float  # the training loop, bottleneck features included
  stopped_early: Optional[str] = None


@dataclasses.dataclass
class Prepared:
  examples_uri: str
  transform_graph: str
  pipeline_accuracy: Optional[float]  # the pipeline run's own, as configured


def load(path: str, run_dir: Optional[str] = None, overrides: Optional[dict] = None
         ) -> PipelineConfig:
  """The config, with a test split (6/2/2 buckets) if it has none."""
  overrides = {**(overrides or {}), **({"run_dir": os.path.abspath(run_dir)} if run_dir else {})}
  config = load_config(path, overrides or None)
  if not config.data.images:
    raise ConfigError(f"{path}: compare-transfer needs an image task (data.images)")
  if config.data.test_buckets:
    return config
  return load_config(path, {**overrides, "data.test_buckets": 2, "data.eval_buckets": 2,
                            "data.train_buckets": 6})


def prepare(config: PipelineConfig, say: Callable[[str], None]) -> Prepared:
  """The whole pipeline once, as configured: its examples and transform graph."""
  from pipelines import local_runner
  summary = local_runner.run(config, say=say, cache=True)
  graphs = glob.glob(os.path.join(config.pipeline_root, "Transform", "transform_graph", "*"))
  return Prepared(summary.examples_uri, max(graphs, key=os.path.getmtime),
                  summary.eval_metrics.get("accuracy"))


def train_mode(config: PipelineConfig, prepared: Prepared, mode: str, seed: int,
               work_dir: str, say: Callable[[str], None] = lambda _: None) -> ModeRun:
  """One mode, one seed: train, select on eval, score on test."""
  import tensorflow_transform as tft
  from components.checkpoint_evaluator import scoring
  from components.trainer import data, evaluation, loop
  from components.trainer.inputs import TrainInputs
  config = config.model_copy(update={
      "model": config.model.model_copy(update={"transfer": mode}),
      "trainer": config.trainer.model_copy(update={"seed": seed})})
  PipelineConfig.model_validate(config.model_dump())  # the stage count still fits
  tft_output = tft.TFTransformOutput(prepared.transform_graph)
  pattern = lambda split: data.split_pattern(prepared.examples_uri, split)  # noqa: E731
  began = time.monotonic()
  record = loop.train(TrainInputs(
      config, config.trainer.hyperparameters, tft_output, pattern("train"), pattern("eval"),
      os.path.join(work_dir, f"{mode}-{seed}", "run"),
      log_dir=os.path.join(work_dir, "logs", f"{mode}-{seed}"), progress=say))
  seconds = time.monotonic() - began
  scores = [scoring.CheckpointScore(h["step"], os.path.join(record.checkpoint_dir,
                                                            f"ckpt-{h['step']}"), h["eval"])
            for h in record.history]
  best = scoring.select(scores, "accuracy", "max")
  model = scoring.restore_model(config, record, tft_output, best.path)
  test = evaluation.EvalScorer(config, model, data.eval_batches(pattern("test"), tft_output,
                                                                None))()
  stage = next((h.get("stage") for h in record.history if h["step"] == best.step), None)
  return ModeRun(mode, seed, test["accuracy"], best.metrics["accuracy"], best.step, stage,
                 round(seconds, 1), (record.stopped_early or {}).get("reason"))


def compare(config: PipelineConfig, modes, seeds, say: Callable[[str], None] = print
            ) -> tuple[Prepared, list[ModeRun]]:
  prepared = prepare(config, say)
  runs = []
  for mode in modes:
    for seed in seeds:
      say(f"== {mode}, seed {seed} ==")
      run = train_mode(config, prepared, mode, seed,
                       str(config.run_path / "comparison"), say)
      say(f"{mode}, seed {seed}: test accuracy {run.test_accuracy:.3f} (selected step "
          f"{run.selected_step}, eval {run.eval_accuracy:.3f}), {run.seconds:.0f} s")
      runs.append(run)
  return prepared, runs


def table(runs: list[ModeRun]) -> list[str]:
  """Median over seeds, per mode."""
  lines = [f"{'mode':<20}{'test accuracy':>15}{'range':>15}{'training s':>12}"]
  for mode in dict.fromkeys(r.mode for r in runs):
    mine = [r for r in runs if r.mode == mode]
    acc = [r.test_accuracy for r in mine]
    lines.append(f"{mode:<20}{statistics.median(acc):>15.3f}"
                 f"{f'{min(acc):.3f}-{max(acc):.3f}':>15}"
                 f"{statistics.median(r.seconds for r in mine):>12.0f}")
  return lines


def main(config_path: Optional[str], run_dir: Optional[str], modes, seeds, say=print,
         overrides: Optional[dict] = None) -> list[ModeRun]:
  config = load(config_path or DEFAULT_CONFIG, run_dir, overrides)
  prepared, runs = compare(config, modes, seeds, say)
  for line in table(runs):
    say(line)
  out = str(config.run_path / RESULTS_FILE)
  with open(out, "w") as f:
    json.dump({"examples": prepared.examples_uri, "runs": [dataclasses.asdict(r) for r in runs]},
              f, indent=2)
  say(f"wrote {out}")
  return runs
