"""tf.data input pipeline over the transformed, gzip TFRecord examples.

Files are read in parallel and interleaved, records are parsed in batches, and the
next batches are prefetched, so that an accelerator does not wait on input.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional

import tensorflow as tf

from components import features


# Evaluation has no gradients to fit in memory: large batches, fewer calls.
EVAL_BATCH_SIZE = 1024


def split_pattern(examples_uri: str, split: str) -> str:
  return os.path.join(examples_uri, f"Split-{split}", "*")


def make_dataset(file_pattern: str, feature_spec: Mapping[str, tf.io.FixedLenFeature],
                 batch_size: int, *, training: bool, seed: int = 0,
                 input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
  """(features, label) batches. Training data is shuffled and repeats forever.

  Training length is a step budget ("virtual epochs"), so the dataset never ends
  and adding data changes neither the step count nor the checkpoint schedule.
  """
  files = tf.io.gfile.glob(file_pattern)
  if not files:
    raise FileNotFoundError(f"no examples match {file_pattern}")
  ds = tf.data.Dataset.from_tensor_slices(sorted(files))
  if training:
    ds = ds.shuffle(len(files), seed=seed)
  ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
                     cycle_length=min(len(files), 8), num_parallel_calls=tf.data.AUTOTUNE,
                     deterministic=True)
  if input_context and input_context.num_input_pipelines > 1:
    # Records, not files: small datasets have fewer files than workers.
    ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
  if training:
    ds = ds.shuffle(10_000, seed=seed, reshuffle_each_iteration=True).repeat()
  ds = ds.batch(batch_size, drop_remainder=training)
  spec = dict(feature_spec)

  def parse(serialized):
    parsed = tf.io.parse_example(serialized, spec)
    label = parsed.pop(features.LABEL_KEY)
    return parsed, label

  return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
