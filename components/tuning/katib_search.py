"""The Tuner step on Kubeflow with `kubeflow.tuner.backend: katib`: the search runs
as a Katib Experiment whose trials run `components.trainer.job` (the Trainer's
loop) on the run's image; its best trial becomes the step's best_hyperparameters,
exactly as a local search's does."""
from __future__ import annotations

import logging
import os
import secrets
from typing import Callable, Optional

import keras_tuner as kt

from components import hyperparameters
from components.config import PipelineConfig, StepResources, Toleration, VolumeMount
from components.trainer import cluster
from components.tuning import search

log = logging.getLogger(__name__)


def katib_settings(config: PipelineConfig) -> Optional[dict]:
  """What the compiled Tuner step needs to create its Experiment (None: it
  searches in its own pod). JSON, because it travels in the step's custom_config."""
  if config.kubeflow.tuner.backend != "katib":
    return None
  return cluster.pod_settings(config)


class KatibSearch(kt.engine.base_tuner.BaseTuner):
  """A tuner whose search is a Katib Experiment; TFX's Tuner executor asks it for
  the best hyperparameters afterwards, as it asks any KerasTuner tuner."""

  def __init__(self, config: PipelineConfig, settings: dict, examples: str,
               transform_graph: str, directory: str, say: Callable[[str], None] = print,
               api_client=None):
    super().__init__(oracle=search.oracle(config), directory=directory, project_name="katib")
    self._config, self._settings = config, settings
    self._examples, self._transform_graph = examples, transform_graph
    self._say, self._api_client = say, api_client
    self._best: dict[str, str] = {}

  def search(self, *args, **kwargs):
    from components.launchers import katib
    tc = self._config.tuner
    examples, graph = cluster.stage_inputs(self._examples, self._transform_graph,
                                           os.path.join(self.project_dir, "inputs"))
    # Each trial trains tuner.steps_per_trial steps in its own checkpoint directory.
    trainer = self._config.trainer.model_copy(update={
        "train_steps": tc.steps_per_trial, "num_checkpoints": min(3, tc.steps_per_trial),
        "keep_checkpoints": 1, "workers": 1, "ps": 0})
    trial_config = self._config.model_copy(update={
        "trainer": trainer, "checkpoint_dir": os.path.join(self.project_dir, "trials")})
    s = self._settings
    namespace = cluster.namespace(s)
    spec = katib.ExperimentSpec(
        name=f"{self._config.pipeline_name[:24]}-tune-{secrets.token_hex(3)}",
        namespace=namespace, image=s["image"],
        trial_command=["python", "-m", "components.trainer.job", "--config-json",
                       trial_config.to_json(), "--examples", examples,
                       "--transform-graph", graph],
        search_space=dict(tc.search_space), algorithm=tc.algorithm, objective=tc.objective,
        direction=tc.direction, max_trials=tc.max_trials,
        parallel_trials=tc.parallel_trials, max_failed_trials=tc.max_trials,
        resources=StepResources(**s["resources"]), accelerator=s["accelerator"],
        volumes=tuple(VolumeMount(**v) for v in s["volumes"]),
        node_selector=s["node_selector"],
        tolerations=tuple(Toleration(**t) for t in s["tolerations"]),
        owner=cluster.own_pod())
    self._say(f"Katib Experiment {namespace}/{spec.name}: {tc.algorithm}, "
              f"{tc.max_trials} trials, {tc.parallel_trials} at a time")
    best = katib.run(spec, api_client=self._api_client, progress=self._say)
    self._best = best["parameters"]
    self._say(f"best trial {best['trial']}: "
              + ", ".join(f"{k}={v}" for k, v in self._best.items())
              + f" ({', '.join(f'{k} {v}' for k, v in best['observation'].items())})")

  def get_best_hyperparameters(self, num_trials: int = 1):
    hp = kt.HyperParameters()
    hyperparameters.declare(hp, self._config.tuner.search_space)
    for name, text in self._best.items():
      hp.values[name] = _typed(self._config.tuner.search_space[name], text)
    return [hp]

  # TFX's executor calls these; KerasTuner would print banners. Katib's UI shows
  # the space and the trials, and the best one is in the step's log.
  def search_space_summary(self, extended=False):
    log.info("search space: %s", dict(self._config.tuner.search_space))

  def results_summary(self, num_trials=10):
    log.info("best trial's values: %s", self._best)


def _typed(param, text: str):
  """Katib reports every assignment as a string."""
  if param.type == "int":
    return int(float(text))
  if param.type == "float":
    return float(text)
  for value in param.values:
    if str(value) == text:
      return value
  raise ValueError(f"Katib's best trial has {text!r}, not one of {list(param.values)}")
