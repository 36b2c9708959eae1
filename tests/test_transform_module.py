"""The preprocessing_fn, run by real tf.Transform on Beam over the taxi slice."""
from __future__ import annotations

import numpy as np
import tensorflow_transform as tft

from components import features
from components.trainer import data


def _all_rows(config, transform_dir, examples_dir, split):
  ds = data.make_dataset(data.split_pattern(examples_dir, split),
                         tft.TFTransformOutput(transform_dir), 10_000, training=False)
  feats, labels = next(iter(ds))
  return {k: v.numpy() for k, v in feats.items()}, labels.numpy()


def test_numeric_columns_are_z_scored_with_missing_at_the_mean(transformed):
  config, transform_dir, examples_dir = transformed
  feats, _ = _all_rows(config, transform_dir, examples_dir, "train")
  for name in config.features.numeric:
    values = feats[features.transformed_name(name)]
    assert np.all(np.isfinite(values)), name
    assert abs(values.mean()) < 0.05, name
    assert 0.9 < values.std() < 1.1, name


def test_categorical_ids_stay_inside_vocabulary_plus_oov(transformed):
  config, transform_dir, examples_dir = transformed
  tft_output = tft.TFTransformOutput(transform_dir)
  feats, _ = _all_rows(config, transform_dir, examples_dir, "eval")
  for name in config.features.categorical:
    size = tft_output.vocabulary_size_by_name(features.categorical_vocabulary_name(name))
    ids = feats[features.transformed_name(name)]
    assert ids.min() >= 0 and ids.max() < size + config.transform.oov_buckets, name
  payment = tft_output.vocabulary_by_name(features.categorical_vocabulary_name("payment_type"))
  assert b"Cash" in payment and b"Credit Card" in payment


def test_missing_coordinates_get_their_own_bucket(transformed):
  config, transform_dir, examples_dir = transformed
  feats, _ = _all_rows(config, transform_dir, examples_dir, "train")
  buckets = feats[features.transformed_name("pickup_latitude")]
  # The taxi data has trips without coordinates: they land in the extra bucket.
  assert (buckets == config.transform.coordinate_buckets).any()
  present = buckets[buckets != config.transform.coordinate_buckets]
  assert present.min() >= 0 and present.max() < config.transform.coordinate_buckets
  assert len(np.unique(present)) >= config.transform.coordinate_buckets // 2


def test_binary_label_is_zero_or_one_with_the_taxi_base_rate(transformed):
  config, transform_dir, examples_dir = transformed
  _, labels = _all_rows(config, transform_dir, examples_dir, "train")
  assert set(np.unique(labels)) == {0, 1}
  # About 22% of trips tip more than 20% of the fare (shared notes).
  assert 0.1 < labels.mean() < 0.4
