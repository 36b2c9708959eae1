"""What a search hands back becomes the Trainer's hyperparameters
(components/config/search_values.py): the values a tuner trial or a Katib trial
reports, read by the Trainer and by tuner.hyperparameters_file. The end-to-end
test checks that the best trial's values reach the Trainer through this function;
these check what the function makes of them, value by value."""
from __future__ import annotations

import pytest

from components.config import HyperParameters
from components.config.search_values import from_values

BASE = HyperParameters(learning_rate=0.003, hidden_units=(64, 32), embedding_dim=8,
                       dropout=0.1, l2=0.0, batch_size=None)


def test_no_values_leave_the_base_as_it_is():
  assert from_values({}, BASE) == BASE


def test_scalars_are_taken_and_cast():
  got = from_values({"learning_rate": "0.01", "dropout": 0.25, "l2": 1e-4,
                     "embedding_dim": 16.0, "batch_size": "128"}, BASE)
  assert (got.learning_rate, got.dropout, got.l2) == (0.01, 0.25, 1e-4)
  assert (got.embedding_dim, got.batch_size) == (16, 128)
  assert isinstance(got.embedding_dim, int) and isinstance(got.batch_size, int)
  assert got.hidden_units == BASE.hidden_units


def test_absent_conditionals_and_keras_tuner_bookkeeping_are_ignored():
  # KerasTuner reports inactive conditionals as None and adds tuner/epochs etc.
  got = from_values({"dropout": None, "units_2": None, "tuner/epochs": 4,
                     "tuner/trial_id": "0003"}, BASE)
  assert got == BASE


def test_units_halve_at_each_next_layer_down_to_four():
  assert from_values({"num_layers": 3, "units": 64}, BASE).hidden_units == (64, 32, 16)
  assert from_values({"num_layers": 4, "units": 12}, BASE).hidden_units == (12, 6, 4, 4)


def test_units_alone_keep_the_base_layer_count():
  assert from_values({"units": 128}, BASE).hidden_units == (128, 64)


def test_num_layers_alone_keeps_the_base_sizes_then_halves_the_last():
  assert from_values({"num_layers": 1}, BASE).hidden_units == (64,)
  assert from_values({"num_layers": 4}, BASE).hidden_units == (64, 32, 16, 8)
  assert from_values({"num_layers": 5}, BASE.model_copy(update={"hidden_units": (8,)})
                     ).hidden_units == (8, 4, 4, 4, 4)


def test_a_layer_of_its_own_size_wins_over_the_halving():
  got = from_values({"num_layers": 3, "units": 64, "units_2": 48}, BASE)
  assert got.hidden_units == (64, 48, 16)
  assert from_values({"units_1": 100}, BASE).hidden_units == (100, 32)


@pytest.mark.parametrize("values", [{"learning_rate": -1.0}, {"dropout": 1.5}])
def test_values_the_schema_refuses_are_refused(values):
  with pytest.raises(ValueError, match=next(iter(values))):
    from_values(values, BASE)
