"""Full-state checkpoints in one stable directory, with crash-safe resume.

A checkpoint `ckpt-<step>` holds everything exact continuation needs: model
weights, optimizer slots and iteration count (which is also the learning-rate
schedule's position), the global step and the virtual epoch. TensorFlow writes
the data files first and the `.index` file last, so a checkpoint without its
index was cut off mid-write and is ignored. A checkpoint that has an index but
cannot be read (truncated, corrupted) is moved aside with a warning, and the
previous one is used instead.
"""
from __future__ import annotations

import json
import os
import re
from typing import Callable, Iterable, Optional

import tensorflow as tf

_PREFIX = re.compile(r"ckpt-(\d+)\.index$")
_PARTIAL = re.compile(r"ckpt-\d+_temp")
STATE_FILE = "training_state.json"


class CheckpointStore:

  def __init__(self, directory: str, checkpoint: tf.train.Checkpoint, step: tf.Variable,
               warn: Callable[[str], None] = print, read_only: bool = False):
    """read_only: restore only, never move files (workers other than the chief)."""
    self.directory = directory
    self._checkpoint = checkpoint
    self._step = step
    self._warn = warn
    self._read_only = read_only
    if not read_only:
      tf.io.gfile.makedirs(directory)

  def path(self, step: int) -> str:
    return os.path.join(self.directory, f"ckpt-{step}")

  def steps(self) -> list[int]:
    """Steps of the checkpoints whose write finished (their index exists)."""
    return list_steps(self.directory)

  def save(self, step: int) -> str:
    prefix = self._checkpoint.write(self.path(step))
    self._write_state_file()
    return prefix

  def restore_latest(self) -> Optional[int]:
    """Restores the newest readable checkpoint; returns its step, or None."""
    self._clear_partial_writes()
    for step in reversed(self.steps()):
      try:
        self._checkpoint.read(self.path(step)).assert_existing_objects_matched()
        if int(self._step.numpy()) != step:
          raise ValueError(f"it holds step {int(self._step.numpy())}")
        return step
      # Damage shows up as many types (OpError, IndexError "Read less bytes than
      # requested", AssertionError from mismatched objects...): any of them means
      # this checkpoint cannot be trusted.
      except Exception as e:  # pylint: disable=broad-except
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        self._warn(f"WARNING: checkpoint {self.path(step)} is unreadable ({reason}); "
                   f"falling back to the previous one")
        if not self._read_only:
          self._quarantine(step)
    return None

  def retain(self, keep_last: Optional[int], protect: Iterable[int] = ()) -> list[int]:
    """Deletes all but the newest `keep_last` checkpoints and the protected ones."""
    steps = self.steps()
    if keep_last is None or len(steps) <= keep_last:
      return []
    keep = set(steps[-keep_last:]) | set(protect)
    dropped = [s for s in steps if s not in keep]
    for step in dropped:
      for f in tf.io.gfile.glob(self.path(step) + ".*"):
        tf.io.gfile.remove(f)
    self._write_state_file()
    return dropped

  def _clear_partial_writes(self) -> None:
    """TF writes a checkpoint into `<prefix>_temp/` and then moves it into place;
    a leftover temp directory is a write that a crash cut off."""
    if not tf.io.gfile.isdir(self.directory):
      return
    for name in tf.io.gfile.listdir(self.directory):
      name = name.rstrip("/")
      if _PARTIAL.match(name):
        self._warn(f"WARNING: {os.path.join(self.directory, name)} is a checkpoint write "
                   f"cut off by a crash; ignored")
        if not self._read_only:
          tf.io.gfile.rmtree(os.path.join(self.directory, name))

  def _quarantine(self, step: int) -> None:
    for f in tf.io.gfile.glob(self.path(step) + ".*"):
      tf.io.gfile.rename(f, os.path.join(self.directory, "corrupt-" + os.path.basename(f)),
                         overwrite=True)
    self._write_state_file()

  def _write_state_file(self) -> None:
    """Keeps TF's `checkpoint` file (read by tf.train.latest_checkpoint and
    TensorBoard) in step; relative paths, so the directory can be moved."""
    steps = self.steps()
    if not steps:
      return
    lines = [f'model_checkpoint_path: "ckpt-{steps[-1]}"']
    lines += [f'all_model_checkpoint_paths: "ckpt-{s}"' for s in steps]
    _atomic_write(os.path.join(self.directory, "checkpoint"), "\n".join(lines) + "\n")


def size_bytes(prefix: str) -> int:
  """Bytes on disk of one checkpoint (its index and data files)."""
  return sum(tf.io.gfile.stat(f).length for f in tf.io.gfile.glob(prefix + ".*"))


def list_steps(directory: str) -> list[int]:
  names = tf.io.gfile.listdir(directory) if tf.io.gfile.isdir(directory) else []
  return sorted(int(m.group(1)) for m in map(_PREFIX.match, names) if m)


def read_state(directory: str) -> dict:
  """The training state beside the checkpoints: eval history, early stop, final step."""
  path = os.path.join(directory, STATE_FILE)
  if not tf.io.gfile.exists(path):
    return {}
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def write_state(directory: str, state: dict) -> None:
  _atomic_write(os.path.join(directory, STATE_FILE), json.dumps(state, indent=2))


def _atomic_write(path: str, text: str) -> None:
  """A kill mid-write leaves the previous file, never half of the new one."""
  with tf.io.gfile.GFile(path + ".tmp", "w") as f:
    f.write(text)
  tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
