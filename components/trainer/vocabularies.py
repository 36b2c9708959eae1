"""Warm starts across data windows: embeddings follow their categories, not their ids.

Transform assigns categorical ids by frequency in the data it saw, so a new window
of spans gives the same category a different id and a vocabulary of another size.
A checkpoint then cannot be restored as it is (its embedding tables have the old
shape), and restoring it by position would give every category another one's
vector. So each training run keeps the vocabularies its ids came from beside its
checkpoints, and a warm start remaps every embedding row (and the optimizer's
slots for it) from the old id of its category to the new one. Categories new to
this window start from the layer's fresh initial values; the OOV buckets hash the
same way in both runs and keep their rows.
"""
from __future__ import annotations

import os
import re
from typing import Optional

import numpy as np
import tensorflow as tf

from components import features
from components.config import PipelineConfig

DIRECTORY = "vocabularies"  # inside a checkpoint directory


def save(config: PipelineConfig, tft_output, checkpoint_dir: str) -> None:
  """Keeps this run's vocabularies beside its checkpoints (once, atomically)."""
  target = os.path.join(checkpoint_dir, DIRECTORY)
  if tf.io.gfile.isdir(target):
    return
  partial = target + ".partial"
  tf.io.gfile.makedirs(partial)
  for column in config.features.categorical:
    name = features.categorical_vocabulary_name(column)
    tf.io.gfile.copy(tft_output.vocabulary_file_by_name(name), os.path.join(partial, name),
                     overwrite=True)
  tf.io.gfile.rename(partial, target, overwrite=True)


def _read(path: str) -> list[bytes]:
  with tf.io.gfile.GFile(path, "rb") as f:
    return [line.rstrip(b"\n") for line in f]


def row_maps(config: PipelineConfig, tft_output, source_checkpoint: str
             ) -> Optional[dict[str, np.ndarray]]:
  """Per embedding layer whose vocabulary changed: for each new id, the old id of
  the same category (-1: new category). None when the source kept no vocabularies."""
  source = os.path.join(os.path.dirname(source_checkpoint), DIRECTORY)
  if not tf.io.gfile.isdir(source):
    return None
  oov = config.transform.oov_buckets
  maps = {}
  for column in config.features.categorical:
    name = features.categorical_vocabulary_name(column)
    old = _read(os.path.join(source, name))
    new = tft_output.vocabulary_by_name(name)
    if old == new:
      continue
    index = {token: i for i, token in enumerate(old)}
    rows = [index.get(token, -1) for token in new] + [len(old) + j for j in range(oov)]
    maps[f"{features.transformed_name(column)}_embedding"] = np.array(rows)
  return maps


def old_sizes(sizes: dict[str, int], maps: dict[str, np.ndarray], config: PipelineConfig,
              source_checkpoint: str) -> dict[str, int]:
  """The embedding sizes of the source run's model."""
  source = os.path.join(os.path.dirname(source_checkpoint), DIRECTORY)
  out = dict(sizes)
  for column in config.features.categorical:
    key = features.transformed_name(column)
    if f"{key}_embedding" in maps:
      name = features.categorical_vocabulary_name(column)
      out[key] = len(_read(os.path.join(source, name))) + config.transform.oov_buckets
  return out


def _remapped(old: np.ndarray, fresh: np.ndarray, rows: np.ndarray) -> np.ndarray:
  kept = rows >= 0
  out = fresh.copy()
  out[kept] = old[rows[kept]]
  return out


def _layer_of(path: str, maps: dict[str, np.ndarray]) -> Optional[str]:
  """The embedding layer a variable belongs to: its table is <layer>/embeddings,
  its Adam slots adam/<model>_<layer>_embeddings_<slot>. The longest name wins, so
  that a layer named like the end of another is not mistaken for it."""
  found = [k for k in maps if re.search(rf"(^|[/_]){re.escape(k)}[/_]embeddings", path)]
  return max(found, key=len) if found else None


def copy_remapped(new_vars, old_vars, maps: dict[str, np.ndarray]) -> int:
  """Assigns old values to new variables (built alike, so in the same order),
  remapping the rows of embedding tables and of their optimizer slots; a new
  category keeps the new variable's initial value. Returns the number of
  categories whose id changed or that are new (counted on the tables)."""
  moved = 0
  for new, old in zip(new_vars, old_vars):
    value = old.numpy()
    layer = _layer_of(new.path, maps)
    if layer is not None:
      rows = maps[layer]
      value = _remapped(value, new.numpy(), rows)
      if not new.path.startswith("adam/"):
        moved += int(np.sum(rows != np.arange(len(rows))))
    elif tuple(new.shape) != tuple(value.shape):
      raise ValueError(f"{new.path}: shape {tuple(new.shape)} differs from the checkpoint's "
                       f"{tuple(value.shape)}, and no vocabulary explains it")
    new.assign(value)
  return moved
