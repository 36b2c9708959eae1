"""Builds a real tf.Transform output from the taxi slice with tft_beam, in the same
layout the TFX Transform component writes, so trainer-level tests need no pipeline."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

from components import features, transform_module
from components.csv_ingest import rows
from pipelines.config import PipelineConfig


def _to_instance(example: tf.train.Example, kinds) -> dict:
  out = {}
  for name, kind in kinds.items():
    feature = example.features.feature[name]
    out[name] = (list(feature.float_list.value) if kind == rows.FLOAT
                 else list(feature.bytes_list.value))
  return out


def build(config: PipelineConfig, csv_path: Path, out_dir: Path) -> tuple[str, str]:
  """Returns (transform_output_dir, transformed_examples_dir)."""
  spec = features.column_spec(config)
  raw_spec = {name: tf.io.VarLenFeature(tf.float32 if kind == rows.FLOAT else tf.string)
              for name, kind in spec.kinds.items()}
  instances = [_to_instance(e, spec.kinds) for e in rows.iter_file(str(csv_path), spec)]
  cut = len(instances) * 4 // 5
  metadata = dataset_metadata.DatasetMetadata.from_feature_spec(raw_spec)
  fn = functools.partial(transform_module.preprocessing_fn,
                         custom_config={"config": config.to_json()})
  transform_dir, examples_dir = str(out_dir / "transform_graph"), str(out_dir / "examples")
  with beam.Pipeline() as p, tft_beam.Context(temp_dir=str(out_dir / "tmp")):
    train = p | "Train" >> beam.Create(instances[:cut])
    evals = p | "Eval" >> beam.Create(instances[cut:])
    (train_xf, train_meta), transform_fn = (
        (train, metadata) | tft_beam.AnalyzeAndTransformDataset(fn))
    eval_xf, _ = ((evals, metadata), transform_fn) | tft_beam.TransformDataset()
    _ = transform_fn | tft_beam.WriteTransformFn(transform_dir)
    for split, data in (("train", train_xf), ("eval", eval_xf)):
      coder = tft.coders.ExampleProtoCoder(train_meta.schema)
      _ = (data | f"Encode{split}" >> beam.Map(coder.encode)
           | f"Write{split}" >> beam.io.WriteToTFRecord(
               os.path.join(examples_dir, f"Split-{split}", "part"),
               file_name_suffix=".gz"))
  # The raw schema, which TFX's Transform writes too; serving parses with it.
  metadata_io.write_metadata(
      metadata, os.path.join(transform_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
  return transform_dir, examples_dir
