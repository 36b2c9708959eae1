"""ExampleGen executor for labelled images: each image is read and checked (in
parallel, with Beam) and written as a tf.Example of its encoded bytes and label,
in TFX's Examples layout. A file that does not decode stops the step with its
name. Beside the splits: split_counts.json, and an empty spans.json, so that
steps reading spans treat the images as one fixed dataset."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import apache_beam as beam
import tensorflow as tf
from absl import logging
from tfx import types
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs

from components import example_gen_config, progress
from components.csv_ingest.executor import COUNTS_FILE, SPANS_FILE
from components.csv_ingest.splits import SplitSpec
from components.image_ingest import listing

_PROGRESS_EVERY = 500
_say = progress.speaker("ingest")


def make_custom_config(source: listing.Source, split_spec: SplitSpec, image_column: str,
                       label_column: str, code: str = "") -> example_gen_pb2.CustomConfig:
  return example_gen_config.pack({
      "source": source.to_dict(), "splits": split_spec.to_dict(), "code": code,
      "image_column": image_column, "label_column": label_column})


class _ReadImage(beam.DoFn):
  """(split, image) -> (split, tf.Example), after checking that it decodes."""

  def __init__(self, image_column: str, label_column: str, total: int):
    self._image, self._label, self._total = image_column, label_column, total

  def setup(self):
    self._done = 0

  def process(self, item):
    split, image = item
    if image.path is None:
      from components.image_ingest import digits
      data = digits.png(digits.index_of(image.key))
    else:
      data = listing.read_bytes(image)
    listing.check_image(image.path or image.key, data)
    self._done += 1
    if self._done % _PROGRESS_EVERY == 0:  # progress inside the step
      _say(f"images: {self._done:,} read and checked in this worker ({self._total:,} in all)")
    feature = {self._image: tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
               self._label: tf.train.Feature(bytes_list=tf.train.BytesList(
                   value=[image.label.encode()]))}
    yield split, tf.train.Example(features=tf.train.Features(feature=feature))


class Executor(BaseExampleGenExecutor):

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    raise NotImplementedError("GenerateExamplesByBeam reads the images itself")

  def GenerateExamplesByBeam(self, pipeline: beam.Pipeline,
                             exec_properties: Dict[str, Any]) -> Dict[str, beam.PCollection]:
    d = example_gen_config.unpack(exec_properties)
    source, spec = listing.Source.from_dict(d["source"]), SplitSpec.from_dict(d["splits"])
    # Listing, labels and split sizes are checked before any image is read.
    kept, self._counts = listing.assign_splits(listing.list_images(source), spec,
                                               source.per_class)
    for split in spec.names:
      logging.info("Ingest split %s", self._counts.describe(split))
    self._counts.check_learnable("class", source.dir or source.csv or "the digits sample")
    for warning in self._counts.check():  # raises for a split that is too small
      logging.warning("Ingest: %s", warning)
    _say(f"{len(kept):,} images from {source.describe()}")
    read = (pipeline
            | "Images" >> beam.Create(kept)
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(_ReadImage(d["image_column"], d["label_column"], len(kept))))
    parts = read | "Split" >> beam.Partition(lambda r, n: r[0], len(spec.names))
    return {name: parts[i] | f"Examples[{name}]" >> beam.Map(lambda r: r[1])
            for i, name in enumerate(spec.names)}

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    examples = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.EXAMPLES_KEY])
    super().Do(input_dict, output_dict, exec_properties)
    source = listing.Source.from_dict(example_gen_config.unpack(exec_properties)["source"])
    with fileio.open(os.path.join(examples.uri, COUNTS_FILE), "w") as f:
      f.write(json.dumps(self._counts.to_dict(), sort_keys=True))
    with fileio.open(os.path.join(examples.uri, SPANS_FILE), "w") as f:
      f.write(json.dumps({"data_dir": source.dir or source.csv or "images:digits",
                          "spans": [], "files": []}, indent=2))
    examples.set_json_value_custom_property("spans", [])
    examples.set_json_value_custom_property(
        "split_rows", {s: self._counts.total(s) for s in self._counts.spec.names})
