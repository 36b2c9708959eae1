"""The learning rate a run trains with: linear scaling with the global batch,
the optional linear warm-up, and the schedule after it."""
from __future__ import annotations

import math

import pytest

from components.config import load_config
from components.trainer import learning_rate


def _config(**trainer):
  return load_config(overrides={f"trainer.{k}": v for k, v in trainer.items()})


def test_rate_scales_linearly_with_the_global_batch():
  config = _config(per_replica_batch_size=64, base_batch_size=128)
  plan = learning_rate.plan(config, 0.01, replicas=8)
  assert plan.global_batch == 512
  assert math.isclose(plan.scaled, 0.04)
  assert plan.describe(64, 8, 128) == ("global batch 512 (64 per replica x 8 replica(s)), "
                                       "learning rate 0.04 (0.01 x 512/128)")


def test_warm_up_rises_linearly_to_the_scaled_rate_then_holds_it():
  config = _config(warmup_steps=100, train_steps=1000)
  plan = learning_rate.plan(config, 0.01, replicas=4)
  lr = learning_rate.schedule(config, plan)
  peak = plan.scaled
  assert math.isclose(float(lr(0)), peak / 100, rel_tol=1e-6)
  assert math.isclose(float(lr(49)), peak / 2, rel_tol=1e-6)
  assert math.isclose(float(lr(99)), peak, rel_tol=1e-6)
  assert math.isclose(float(lr(500)), peak, rel_tol=1e-6)
  assert "warmed up linearly over 100 steps" in plan.describe(128, 4, 128)


def test_warm_up_hands_over_to_the_cosine_decay():
  config = _config(warmup_steps=100, train_steps=1000, lr_schedule="cosine")
  plan = learning_rate.plan(config, 0.01, replicas=1)
  lr = learning_rate.schedule(config, plan)
  assert float(lr(50)) < float(lr(99)) <= plan.scaled * (1 + 1e-6)
  assert float(lr(100)) > float(lr(600)) > float(lr(999))  # decaying after the warm-up
  assert math.isclose(float(lr(999)), 0.1 * plan.scaled, rel_tol=0.02)  # alpha 0.1


def test_without_warm_up_a_constant_rate_stays_a_plain_number():
  """A float, so that fine-tuning can replace the rate a checkpoint restores."""
  config = _config()
  assert learning_rate.schedule(config, learning_rate.plan(config, 0.003, 1)) == 0.003


def test_a_warm_up_as_long_as_the_budget_is_refused():
  from components.config import ConfigError
  with pytest.raises(ConfigError, match=r"warmup_steps \(2000\) must be below train_steps"):
    _config(warmup_steps=2000)
