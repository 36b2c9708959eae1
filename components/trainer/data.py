"""tf.data input pipeline: raw gzip TFRecords -> tf.Transform graph -> batches.

The Trainer reads the raw examples and applies the transform graph itself (the
same graph that is exported inside the served model), so nothing is
materialized twice and training cannot see other features than serving does.
Files are read in parallel and interleaved, records are parsed and transformed
in batches, and the next batches are prefetched, so an accelerator does not wait.
Small inputs are cached in memory after the first pass; each worker of a
multi-worker run reads its own shard (of the files when there are enough,
otherwise of the records).
"""
from __future__ import annotations

import hashlib
import os
from typing import Optional

import tensorflow as tf

from components import features

# Evaluation has no gradients to fit in memory: large batches, fewer calls.
EVAL_BATCH_SIZE = 1024
_SHUFFLE_BUFFER = 10_000
# Compressed input up to this size is cached in memory (serialized records take
# about 3-5x their gzip size), so later passes skip reading and decompressing.
CACHE_MAX_BYTES = 256 << 20


def split_pattern(examples_uri: str, split: str) -> str:
  return os.path.join(examples_uri, f"Split-{split}", "*")


def examples_of(pattern: str) -> str:
  """The examples artifact a split pattern is in (split_pattern's inverse)."""
  return os.path.dirname(os.path.dirname(pattern))  # <examples>/Split-train/*


def _files(file_pattern: str) -> list[str]:
  files = sorted(tf.io.gfile.glob(file_pattern))
  if not files:
    raise FileNotFoundError(f"no examples match {file_pattern}")
  return files


def make_dataset(file_pattern: str, tft_output, batch_size: int, *, training: bool,
                 seed: Optional[int] = 0,
                 input_context: Optional[tf.distribute.InputContext] = None,
                 transform=None) -> tf.data.Dataset:
  """(transformed features, label) batches.

  Training data is shuffled with `seed` and repeats, so a caller takes exactly the
  steps it wants: training length is a step budget, not passes over the data.
  The same seed gives the same batches, which is what makes resume exact.
  transform: the transform layer to apply (default: a new one from tft_output).
  """
  files = _files(file_pattern)
  shards, index = ((input_context.num_input_pipelines, input_context.input_pipeline_id)
                   if input_context else (1, 0))
  by_file = shards > 1 and len(files) >= shards
  if by_file:  # each worker reads only its files
    files = files[index::shards]
  ds = tf.data.Dataset.from_tensor_slices(files)
  if training:  # a new file order every virtual epoch (the seed changes)
    ds = ds.shuffle(len(files), seed=seed)
  ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
                     cycle_length=min(len(files), 8), num_parallel_calls=tf.data.AUTOTUNE,
                     deterministic=True)
  if shards > 1 and not by_file:  # fewer files than workers: every worker skips records
    ds = ds.shard(shards, index)
  if training:
    if sum(tf.io.gfile.stat(f).length for f in files) <= CACHE_MAX_BYTES:
      ds = ds.cache()
    # Reshuffled on every pass over the data, in the same order on every run.
    ds = ds.shuffle(_SHUFFLE_BUFFER, seed=seed).repeat()
  ds = ds.batch(batch_size, drop_remainder=training)
  raw_spec = tft_output.raw_feature_spec()
  transform = transform or tft_output.transform_features_layer()

  def parse_and_transform(serialized):
    transformed = transform(tf.io.parse_example(serialized, raw_spec))
    label = transformed.pop(features.LABEL_KEY)
    return transformed, label

  return ds.map(parse_and_transform, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True).prefetch(tf.data.AUTOTUNE)


def eval_batches(file_pattern: str, tft_output, max_examples: Optional[int]) -> list:
  """The first `max_examples` eval rows (None: all) in large batches, held in memory
  so that every checkpoint is scored on the same rows without reading them again."""
  ds = make_dataset(file_pattern, tft_output, EVAL_BATCH_SIZE, training=False)
  batches = list(ds.unbatch().take(-1 if max_examples is None else max_examples)
                 .batch(EVAL_BATCH_SIZE))
  if not batches:
    raise ValueError(f"{file_pattern}: no eval examples")
  return batches


def label_moments(file_pattern: str, tft_output, max_examples: int = 100_000
                  ) -> tuple[float, float]:
  """Mean and standard deviation of the (transformed) label over the first rows:
  a scale for the output layer, which need not be exact."""
  ds = make_dataset(file_pattern, tft_output, EVAL_BATCH_SIZE, training=False)
  labels = [tf.cast(y, tf.float64) for _, y in ds.unbatch().take(max_examples)
            .batch(EVAL_BATCH_SIZE)]
  values = tf.concat(labels, 0)
  return float(tf.reduce_mean(values)), float(tf.math.reduce_std(values))


def content_digest(file_pattern: str) -> str:
  """A digest of the records themselves, independent of file names, sharding and
  order: the same rows give the same digest on every rerun, any other rows do not.

  It is the sum (mod 2**256) of the records' SHA-256 values, so it can be computed
  in one streaming pass. Records are re-serialized deterministically first: the
  order of a tf.Example's feature map in the bytes differs from process to process.
  """
  total, count = 0, 0
  records = tf.data.TFRecordDataset(_files(file_pattern), compression_type="GZIP")
  for batch in records.batch(4096):
    for r in batch.numpy():
      canonical = tf.train.Example.FromString(r).SerializeToString(deterministic=True)
      total = (total + int.from_bytes(hashlib.sha256(canonical).digest(), "big")) % (1 << 256)
      count += 1
  return f"{count}:{total:064x}"
