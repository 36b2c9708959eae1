"""Builds what the Trainer gets from the pipeline, without running the pipeline:
raw gzip TFRecord splits (as Ingest writes them) and a tf.Transform output made by
real tft_beam (as the Transform component writes it). For the tests, the benchmarks,
and trying the training loop on a CSV without the rest of the pipeline."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

from components import features
from components.transform import executor as transform_executor
from components.csv_ingest import executor, rows
from components.config import PipelineConfig


def _to_instance(example: tf.train.Example, kinds) -> dict:
  out = {}
  for name, kind in kinds.items():
    feature = example.features.feature[name]
    out[name] = (list(feature.float_list.value) if kind == rows.FLOAT
                 else list(feature.bytes_list.value))
  return out


def build(config: PipelineConfig, csv_path: Path, out_dir: Path) -> tuple[str, str]:
  """Returns (transform_output_dir, raw_examples_dir); 80/20 train/eval split."""
  spec = features.column_spec(config)
  examples = list(executor.examples_in_file(str(csv_path), spec))
  cut = len(examples) * 4 // 5
  examples_dir = str(out_dir / "examples")
  for split, part in (("train", examples[:cut]), ("eval", examples[cut:])):
    os.makedirs(os.path.join(examples_dir, f"Split-{split}"))
    path = os.path.join(examples_dir, f"Split-{split}", "data_tfrecord-00000-of-00001.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as w:
      for e in part:
        w.write(e.SerializeToString())

  raw_spec = {name: tf.io.VarLenFeature(tf.float32 if kind == rows.FLOAT else tf.string)
              for name, kind in spec.kinds.items()}
  metadata = dataset_metadata.DatasetMetadata.from_feature_spec(raw_spec)
  fn = functools.partial(transform_executor.preprocessing_fn,
                         custom_config={"config": config.to_json()})
  transform_dir = str(out_dir / "transform_graph")
  # As the pipeline runs Transform: in process, in the same TF mode. (The runner
  # is named: Beam's default would first try to download the Prism runner.)
  with beam.Pipeline(runner="FnApiRunner") as p, tft_beam.Context(
      temp_dir=str(out_dir / "tmp"),
      force_tf_compat_v1=transform_executor.tf_compat_v1(config)):
    train = p | beam.Create([_to_instance(e, spec.kinds) for e in examples[:cut]])
    transform_fn = (train, metadata) | tft_beam.AnalyzeDataset(fn)
    _ = transform_fn | tft_beam.WriteTransformFn(transform_dir)
  # The raw schema, which TFX's Transform writes too; parsing uses it.
  metadata_io.write_metadata(
      metadata, os.path.join(transform_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
  return transform_dir, examples_dir
