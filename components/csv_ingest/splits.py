"""Train/eval/test splits: which split a row goes to, and whether each split is
big enough to train and judge a model on.

The pre-flight check and the Ingest executor both call these functions, so the
split sizes the pre-flight prints are the ones Ingest writes. A row goes by a hash
of its split-key cell (any column kind: the cell's text is hashed), or of the whole
row when there is no split key or the row's key is missing. No TensorFlow import.
"""
from __future__ import annotations

import bisect
import collections
import dataclasses
import hashlib
from typing import Mapping, Optional, Sequence

from components.errors import DataError

# Distinct split-key values remembered for the "too few keys" hint; beyond this
# many the key is not the problem.
_KEYS_TRACKED = 1000


@dataclasses.dataclass(frozen=True)
class SplitSpec:
  buckets: tuple[tuple[str, int], ...]  # (split name, hash buckets), in order
  key: Optional[str] = None  # None: hash the whole row
  min_rows: int = 0  # per split
  min_class_rows: int = 0  # per split and class (classification only)
  per_class: bool = False  # classification: count and check rows per class
  # Binary tasks: the label value that is the positive class; every other value is
  # the negative one. (None: each label value is a class of its own.)
  positive_class: Optional[str] = None

  def to_dict(self) -> dict:
    return {"buckets": [list(b) for b in self.buckets], "key": self.key,
            "min_rows": self.min_rows, "min_class_rows": self.min_class_rows,
            "per_class": self.per_class, "positive_class": self.positive_class}

  @classmethod
  def from_dict(cls, d: Mapping) -> "SplitSpec":
    return cls(buckets=tuple((str(n), int(b)) for n, b in d["buckets"]), key=d.get("key"),
               min_rows=int(d["min_rows"]), min_class_rows=int(d["min_class_rows"]),
               per_class=bool(d["per_class"]), positive_class=d.get("positive_class"))

  def model_class(self, label: str) -> str:
    """The class a label value is to the model: itself, or (binary) the positive
    value or 'not <positive value>'."""
    if self.positive_class is None:
      return label
    return label if label == self.positive_class else f"not {self.positive_class}"

  @property
  def names(self) -> list[str]:
    return [name for name, _ in self.buckets]


class Splitter:
  """Assigns the rows of one file (with this header) to splits."""

  def __init__(self, spec: SplitSpec, header: Sequence[str], null_values: Sequence[str]):
    self._key_index = list(header).index(spec.key) if spec.key else None
    self._null = set(null_values) | {""}
    self._bounds = []
    total = 0
    for _, n in spec.buckets:
      total += n
      self._bounds.append(total)

  def key_of(self, cells: Sequence[str]) -> Optional[str]:
    if self._key_index is None:
      return None
    value = cells[self._key_index].strip()
    return None if value in self._null else value

  def split_of(self, cells: Sequence[str]) -> int:
    """The index of the row's split in SplitSpec.buckets."""
    key = self.key_of(cells)
    text = key if key is not None else "\x1f".join(c.strip() for c in cells)
    digest = hashlib.sha256(text.encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % self._bounds[-1]
    return bisect.bisect(self._bounds, bucket)


class SplitCounts:
  """Rows per split and class, and (up to a point) the distinct split keys."""

  def __init__(self, spec: SplitSpec):
    self.spec = spec
    self.rows: dict[str, collections.Counter] = {n: collections.Counter() for n in spec.names}
    self._keys: set[str] = set()
    self.keys_overflowed = False

  def add(self, split: int, label: str, key: Optional[str] = None) -> None:
    self.rows[self.spec.names[split]][label if self.spec.per_class else ""] += 1
    if key is not None and not self.keys_overflowed:
      self._keys.add(key)
      self.keys_overflowed = len(self._keys) > _KEYS_TRACKED

  @property
  def distinct_keys(self) -> Optional[int]:
    """How many split-key values were seen; None if many, or no key."""
    return None if self.keys_overflowed or not self.spec.key else len(self._keys)

  def total(self, split: str) -> int:
    return sum(self.rows[split].values())

  def describe(self, split: str, max_classes: int = 6) -> str:
    """'eval  69 rows  (Adelie: 30 (44%), Gentoo: 25 (36%), ...)'."""
    n = self.total(split)
    line = f"{split:<6}{n:>9,} rows"
    if self.spec.per_class and n:
      top = self.rows[split].most_common()
      shown = ", ".join(f"{c}: {k:,} ({k / n:.0%})" for c, k in top[:max_classes])
      more = f", and {len(top) - max_classes} more classes" if len(top) > max_classes else ""
      line += f"  ({shown}{more})"
    return line

  def model_classes(self, split: Optional[str] = None) -> collections.Counter:
    """Rows per class as the model sees them, in one split or in all of them."""
    out: collections.Counter = collections.Counter()
    for name in [split] if split else self.spec.names:
      for label, n in self.rows[name].items():
        out[self.spec.model_class(label)] += n
    return out

  def check_learnable(self, label: str, where: str) -> None:
    """Raises DataError, naming `where` (the data) and the label values found, when a
    classification label gives the model a single class: such a model scores
    accuracy 1 and an undefined AUC, and is no model at all."""
    spec = self.spec
    if not spec.per_class:
      return
    values: collections.Counter = collections.Counter()
    for counter in self.rows.values():
      values.update(counter)
    found = ", ".join(f"{v!r} ({n:,} rows)" for v, n in values.most_common(5)) + (
        f" and {len(values) - 5} more" if len(values) > 5 else "")
    if spec.positive_class is not None:
      if spec.positive_class not in values:
        raise DataError(f"{where}: label {label!r} never has the value task.positive_class "
                        f"{spec.positive_class!r} (found {found}): every row would be "
                        "negative; set task.positive_class to the positive value")
      if len(values) == 1:
        raise DataError(f"{where}: label {label!r} has a single value, {found}: a binary "
                        "task needs rows of both classes (task.positive_class "
                        f"{spec.positive_class!r} and any other value)")
    elif len(values) == 1:
      raise DataError(f"{where}: label {label!r} has a single value, {found}: a "
                      "multiclass task needs at least two classes")

  def check(self) -> list[str]:
    """Raises DataError for a split too small to train or judge on; returns warnings."""
    spec = self.spec
    fix = self._fix_hint()
    for split in spec.names:
      n = self.total(split)
      if n < spec.min_rows:
        raise DataError(f"split {split!r} has {n} rows, fewer than data.min_split_rows "
                        f"({spec.min_rows}): {fix}")
    if not spec.per_class:
      return []
    trained = self.rows[spec.names[0]]
    for split in spec.names:
      for cls in sorted(trained):
        k = self.rows[split][cls]
        if k < spec.min_class_rows:
          raise DataError(f"split {split!r} has {k} rows of class {cls!r}, fewer than "
                          f"data.min_class_rows ({spec.min_class_rows}): {fix}, or "
                          "lower data.min_class_rows for a rare class")
    for split in spec.names[1:]:
      # Whatever min_class_rows allows: on one class no metric judges a model
      # (AUC is undefined, accuracy is the share of that class).
      held = self.model_classes(split)
      if len(held) == 1:
        [(cls, k)] = held.items()
        raise DataError(f"split {split!r} holds rows of one class only ({cls!r}: {k:,} "
                        f"rows): no metric can judge a model on it; {fix}")
    warnings = []
    for split in spec.names[1:]:
      for cls in sorted(set(self.rows[split]) - set(trained)):
        warnings.append(f"class {cls!r} appears only in the {split} split "
                        f"({self.rows[split][cls]} rows): the model never sees it in training")
    return warnings

  def _fix_hint(self) -> str:
    keys = self.distinct_keys
    if keys is not None and keys < 10 * sum(b for _, b in self.spec.buckets):
      return (f"the split key {self.spec.key!r} has only {keys} distinct values; use a "
              "key with more values, or split_key: null to hash whole rows")
    return "add rows, or give the split more hash buckets (data.*_buckets)"

  def merge(self, other: "SplitCounts") -> "SplitCounts":
    for split, counter in other.rows.items():
      self.rows[split].update(counter)
    self.keys_overflowed |= other.keys_overflowed
    if not self.keys_overflowed:
      self._keys |= other._keys
      self.keys_overflowed = len(self._keys) > _KEYS_TRACKED
    return self

  def to_dict(self) -> dict:
    return {"rows": {split: dict(counter) for split, counter in self.rows.items()},
            "keys": None if self.keys_overflowed else sorted(self._keys)}

  @classmethod
  def from_dict(cls, spec: SplitSpec, d: Mapping) -> "SplitCounts":
    counts = cls(spec)
    for split, per_class in d["rows"].items():
      counts.rows[split].update(per_class)
    counts.keys_overflowed = d["keys"] is None
    counts._keys = set(d["keys"] or ())
    return counts
