"""A KerasTuner search whose trials run the Trainer's training loop.

KerasTuner's oracles (random, Bayesian optimization, Hyperband) choose the
values; `LoopTuner.run_trial` trains with them through `loop.train`, the same
loop, strategy, virtual epochs and checkpoints as the Trainer, on the trial's
step budget, and reports the trial's final eval metric. There is no `fit`.

The search lives in a stable directory keyed by the tuner settings and the data,
so a killed search continues where it stopped: finished trials are not run again,
and each trial resumes from its own checkpoints.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from typing import Callable

import keras_tuner as kt

from components import hyperparameters, progress
from components.config import PipelineConfig, Strategy
from components.trainer import loop
from components.trainer.inputs import TrainInputs
from components.tuning import atomic_state, parallel, report

log = logging.getLogger(__name__)
atomic_state.install()
RESULT_FILE = "result.json"
STEP = "tuner"  # progress lines are "[tuner] ..." (components/progress.py)

# Hyperband's longest trials run max_epochs "epochs" of steps_per_trial / max_epochs.
_HYPERBAND_ROUNDS = 2  # budgets 1, factor and factor**2 units


def oracle(config: PipelineConfig) -> kt.Oracle:
  tc, seed = config.tuner, config.trainer.seed
  space = kt.HyperParameters()
  hyperparameters.declare(space, tc.search_space)
  common = {"objective": kt.Objective(f"eval_{tc.objective}", direction=tc.direction),
            "hyperparameters": space, "seed": seed, "tune_new_entries": False}
  if tc.algorithm == "bayesian":
    return kt.oracles.BayesianOptimizationOracle(max_trials=tc.max_trials, **common)
  if tc.algorithm == "hyperband":
    return kt.oracles.HyperbandOracle(max_epochs=tc.hyperband_factor ** _HYPERBAND_ROUNDS,
                                      factor=tc.hyperband_factor, hyperband_iterations=1,
                                      **common)
  return kt.oracles.RandomSearchOracle(max_trials=tc.max_trials, **common)


def trial_config(config: PipelineConfig, hp, steps: int) -> PipelineConfig:
  """The Trainer's settings on a trial's budget, in one process."""
  t = config.trainer
  single = (Strategy.AUTO if t.strategy in (Strategy.MULTI_WORKER_MIRRORED,
                                            Strategy.PARAMETER_SERVER) else t.strategy)
  trainer = t.model_copy(update={
      "train_steps": steps, "num_checkpoints": min(3, steps), "keep_checkpoints": 1,
      "warmup_steps": min(t.warmup_steps, steps - 1), "strategy": single, "workers": 1,
      "ps": 0, "per_replica_batch_size": hp.batch_size or t.per_replica_batch_size,
      "hyperparameters": hp})
  return config.model_copy(update={"trainer": trainer})


class LoopTuner(kt.engine.base_tuner.BaseTuner):

  def __init__(self, oracle_, *, config: PipelineConfig, transform_graph: str,
               train_pattern: str, eval_pattern: str, directory: str,
               say: Callable[[str], None] = print):
    super().__init__(oracle=oracle_, directory=directory, project_name="search")
    self._config, self._transform_graph = config, transform_graph
    self._tft_output = None
    self._train, self._eval = train_pattern, eval_pattern
    self._say = say
    # Sees {tuner id: process} once the workers of a parallel search run (tests).
    self.on_workers_started = lambda workers: None

  def search(self, *args, **kwargs):
    """With tuner.parallel_trials > 1 this process is the chief: it serves the
    oracle to worker processes (components/tuning/worker.py) and waits for them."""
    workers = self._config.tuner.parallel_trials
    if workers == 1 or self._is_worker():
      return super().search(*args, **kwargs)
    self.oracle.verbose = 0
    self.save()
    command = [sys.executable, "-m", "components.tuning.worker",
               "--config-json", self._config.to_json(), "--transform-graph",
               self._transform_graph, "--train", self._train, "--eval", self._eval,
               "--directory", self.directory]
    # Of a worker's output, only its trials' outcomes reach the step's log.
    parallel.serve(self.oracle, command, workers, os.path.join(self.project_dir, "worker-logs"),
                   self._say, progress.relay(STEP, self._say, starting="trial "),
                   on_start=self.on_workers_started)
    self.on_search_end()

  def _trial_dir(self, trial_id: str) -> str:
    return os.path.join(self.project_dir, "trials", trial_id)

  def _steps(self, values: dict) -> int:
    tc = self._config.tuner
    if "tuner/epochs" not in values:
      return tc.steps_per_trial
    unit = max(1, tc.steps_per_trial // tc.hyperband_factor ** _HYPERBAND_ROUNDS)
    return int(values["tuner/epochs"]) * unit

  def run_trial(self, trial, *args, **kwargs):
    values = trial.hyperparameters.values
    hp = hyperparameters.from_values(values, self._config.trainer.hyperparameters)
    config = trial_config(self._config, hp, self._steps(values))
    # Hyperband: a promoted trial continues its parent's training.
    parent = values.get("tuner/trial_id")
    warm_start = None
    if parent:
      from components.trainer import checkpoints
      steps = checkpoints.list_steps(self._trial_dir(parent))
      warm_start = os.path.join(self._trial_dir(parent), f"ckpt-{steps[-1]}") if steps else None
    began, started = time.monotonic(), time.time()
    if self._tft_output is None:
      import tensorflow_transform as tft
      self._tft_output = tft.TFTransformOutput(self._transform_graph)
    trial_dir = self._trial_dir(trial.trial_id)
    record = loop.train(TrainInputs(config, hp, self._tft_output, self._train, self._eval,
                                    trial_dir, os.path.join(trial_dir, "logs"),
                                    progress=log.info, warm_start=warm_start))
    metric = self._config.tuner.objective
    value = record.history[-1]["eval"][metric]
    if not math.isfinite(value) or not math.isfinite(record.history[-1]["train_loss"]):
      raise kt.errors.FailedTrialError(f"trial {trial.trial_id}: the loss is not finite")
    result = {"objective": value, "steps": record.final_step,
              "seconds": time.monotonic() - began, "started": started, "ended": time.time(),
              "worker": self.tuner_id}
    with open(os.path.join(self._trial_dir(trial.trial_id), RESULT_FILE), "w") as f:
      json.dump(result, f)
    return {f"eval_{metric}": value}

  def result(self, trial_id: str) -> dict | None:
    """What a finished trial recorded (by any worker, this run or an earlier one)."""
    path = os.path.join(self._trial_dir(trial_id), RESULT_FILE)
    if not os.path.exists(path):
      return None
    with open(path) as f:
      return json.load(f)

  def results(self) -> dict[str, dict]:
    return {i: r for i in self.oracle.trials if (r := self.result(i)) is not None}

  def on_trial_end(self, trial):
    super().on_trial_end(trial)
    done = self.result(trial.trial_id)
    values = ", ".join(f"{k}={_fmt(v)}" for k, v in _shown(trial.hyperparameters.values).items())
    if done and trial.status == "COMPLETED":
      d = done
      self._say(f"trial {trial.trial_id}: {values} -> eval {self._config.tuner.objective} "
                f"{d['objective']:.4f} ({d['steps']} steps, {d['seconds']:.0f}s)")
    else:
      reason = (trial.message or "").strip().splitlines()
      self._say(f"trial {trial.trial_id}: {values} -> {trial.status.lower()}"
                + (f": {reason[-1][:200]}" if reason else ""))

  def on_search_end(self):
    super().on_search_end()
    if self._is_worker():
      return  # the chief writes the table, once
    tc = self._config.tuner
    table = report.rows(list(self.oracle.trials.values()), self.results())
    with open(os.path.join(self.project_dir, "trials.csv"), "w") as f:
      f.write(report.to_csv(table))
    with open(os.path.join(self.project_dir, "trials.png"), "wb") as f:
      f.write(report.to_png(table, tc.objective, tc.direction))
    self._say(f"{len(table)} trial(s): {os.path.join(self.project_dir, 'trials.csv')} and "
              "trials.png")

  # KerasTuner's banners go to the run log, not the console.
  def search_space_summary(self, extended=False):
    log.info("search space: %s", self.oracle.get_space().get_config())

  def results_summary(self, num_trials=10):
    log.info("best trials: %s", [(t.trial_id, t.score) for t in
                                 self.oracle.get_best_trials(num_trials)])


def _shown(values: dict) -> dict:
  return {k: v for k, v in values.items() if not k.startswith("tuner/")}


def _fmt(v) -> str:
  return f"{v:.3g}" if isinstance(v, float) else str(v)
