"""The checks that span sections of the config (components/config/cross_checks.py):
an image task's keys go together, a simulator fixes the columns, a TFJob's replica
counts suit the strategy. Each refusal is one line naming the key to change; the
memorize mode's refusals are in tests/test_memorize_config.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from components.config import ConfigError, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "pipelines" / "configs"
TRANSFER = CONFIGS / "transfer_digits.yaml"
PROJECTILE = CONFIGS / "memorize_projectile.yaml"


def _refused(path, overrides, fragment):
  with pytest.raises(ConfigError) as e:
    load_config(path, overrides) if path else load_config(overrides=overrides)
  message = str(e.value)
  assert fragment in message, message
  assert "\n" not in message and (str(path) if path else "default config") in message


@pytest.mark.parametrize("override", [
    {"model.base": "mobilenet_v1_imagenet"}, {"features.image": "image"},
    {"data.images": {"per_class": 5}}])
def test_any_image_key_alone_asks_for_all_three(override):
  _refused(None, override, "an image task needs data.images (where the images are), "
                           "features.image (their column) and model.base")


def test_an_image_task_without_its_base_is_refused():
  _refused(TRANSFER, {"model.base": None}, "an image task needs data.images")


@pytest.mark.parametrize("override, fragment", [
    ({"data.dir": "somewhere"}, "give data.images, or data.dir / data.simulator, not both"),
    ({"features.numeric": ["x"]}, "an image task reads the image alone; set "
                                  "features.numeric, categorical and coordinates to []"),
    ({"features.coordinates": ["x"]}, "an image task reads the image alone"),
    ({"task.type": "binary"}, "an image task is a classification: set task.type to "
                              "multiclass"),
    ({"trainer.polish_steps": 10}, "trainer.polish_steps is for memorizing"),
])
def test_an_image_task_refuses_what_it_cannot_use(override, fragment):
  _refused(TRANSFER, override, fragment)


@pytest.mark.parametrize("transfer, stages", [("fine_tune", 2), ("progressive", 4)])
def test_each_training_stage_needs_a_checkpoint(transfer, stages):
  overrides = {"model.transfer": transfer, "trainer.num_checkpoints": stages - 1}
  _refused(TRANSFER, overrides, f"trainer.num_checkpoints ({stages - 1}) must be at least "
                                f"the number of training stages of {transfer} ({stages})")
  config = load_config(TRANSFER, {**overrides, "trainer.num_checkpoints": stages})
  assert config.model.stage_layers()[0] == 0 and len(config.model.stage_layers()) == stages


@pytest.mark.parametrize("override, fragment", [
    ({"task.type": "multiclass"}, "a simulator's output is a number, so task.type must be "
                                  "regression"),
    ({"features.categorical": ["c"]}, "set features.numeric to ['angle', 'speed'] and "
                                      "categorical/coordinates to []"),
    ({"data.simulator.name": "tests.test_simulators:_square_sum",
      "data.simulator.axes": {"x": {"start": 0, "stop": 1, "step": 1}}},
     "data.simulator.output: name the output column of 'tests.test_simulators:_square_sum'"),
])
def test_a_simulator_fixes_the_task_and_the_columns(override, fragment):
  _refused(PROJECTILE, override, fragment)


def test_a_task_other_than_binary_names_its_blessing_threshold():
  _refused(None, {"task.type": "multiclass"},
           "evaluator.lower_bound or evaluator.upper_bound is required for a multiclass task")
  assert load_config(overrides={"task.type": "multiclass", "evaluator.lower_bound": 0.5})


@pytest.mark.parametrize("override, fragment", [
    ({"kubeflow.trainer": {"workers": 2, "ps": 1}},
     "kubeflow.trainer.ps is 1: parameter servers need strategy parameter_server (not auto)"),
    ({"trainer.strategy": "mirrored", "kubeflow.trainer": {"workers": 2}},
     "kubeflow.trainer.workers is 2, but strategy mirrored trains on one host"),
    ({"trainer.strategy": "parameter_server", "trainer.ps": 1,
      "kubeflow.trainer": {"workers": 2, "ps": 0}},
     "strategy parameter_server needs kubeflow.trainer.ps >= 1"),
])
def test_the_tfjob_replicas_must_suit_the_strategy(override, fragment):
  _refused(None, override, fragment)

