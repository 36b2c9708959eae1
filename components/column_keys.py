"""Safe keys for a user's column names.

A CSV header may hold anything a spreadsheet lets a user type: `Payment Type`,
`Fare ($)`, `Größe`, `Distance/Time`, `2nd reading`. Inside the pipeline a column's
name becomes an identifier in places that accept far less: Keras layer names and
TensorFlow name scopes (letters, digits, `_`, `.`, `-`, `/`, `>`, and not
starting with `_`), tf.Transform's vocabulary files (a `/` is a directory) and the
transformed features the model reads. So those places use a key derived from the
name, while the raw name stays where the user sees it: the tf.Examples, the
statistics and schema, and the served model's input, which still parses the
user's own column names.

A name that is already safe is its own key, so existing configs, vocabularies and
checkpoints keep their names. Any other name keeps its safe characters and gets a
short hash of the whole name: two headers that differ only in the characters that
were replaced (`Fare ($)` and `Fare (€)`) get different keys. No TensorFlow import:
the config validation uses it to refuse the (astronomically unlikely) collision.
"""
from __future__ import annotations

import hashlib
import re

# What every place a key goes accepts: ASCII letters, digits and '_', starting
# with a letter.
_SAFE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9_]")
# Keys reserved by the pipeline itself: the transformed label is `label_xf`.
_RESERVED = {"label"}
# A long header stays readable in a layer name without making file names too long.
_MAX_STEM = 40


def column_key(column: str) -> str:
  """The safe key of a column name (see the module docstring)."""
  if _SAFE.match(column) and column not in _RESERVED and len(column) <= _MAX_STEM:
    return column
  stem = _UNSAFE_CHAR.sub("_", column)[:_MAX_STEM].strip("_") or "column"
  if not stem[0].isalpha():
    stem = "c_" + stem
  digest = hashlib.sha256(column.encode("utf-8")).hexdigest()[:8]
  return f"{stem}_{digest}"


def is_plain(column: str) -> bool:
  """An ASCII identifier: a name TensorFlow takes as it is everywhere, including as
  an argument name of a TF1 SavedModel's signature (tf.Transform's TF1 graph)."""
  return bool(_SAFE.match(column))


def colliding(columns) -> tuple[str, str] | None:
  """Two distinct column names with the same key, or None."""
  seen: dict[str, str] = {}
  for column in columns:
    key = column_key(column)
    if key in seen and seen[key] != column:
      return seen[key], column
    seen[key] = column
  return None
