"""Splits: any column kind (or the whole row) as the key, and splits too small to
train or judge a model on are caught with a message that says what to change."""
from __future__ import annotations

import collections

import pytest

from components.csv_ingest import splits
from components.errors import DataError

HEADER = ["id", "size", "species"]
EIGHT_TWO = (("train", 8), ("eval", 2))
# SHA-256 of the key's text (or of the row's cells joined by \x1f), first 8 bytes,
# modulo the buckets: computed once, and pinned.
PINNED_KEYS = [0, 0, 0, 1, 0, 0, 1, 0]
PINNED_ROWS = [0, 0, 0, 0, 1, 0, 2, 0]


def _splitter(key=None, buckets=EIGHT_TWO):
  return splits.Splitter(splits.SplitSpec(buckets=buckets, key=key), HEADER, ("NA",))


def test_without_a_key_the_whole_row_decides_and_identical_rows_stay_together():
  s = _splitter(key=None)
  rows = [[str(i), f"{i * 0.5}", "Adelie"] for i in range(2000)]
  got = collections.Counter(s.split_of(r) for r in rows)
  assert 1500 < got[0] < 1700 and got[0] + got[1] == 2000  # about 8:2
  # Another row differing in one cell can go elsewhere; the same row never does.
  assert all(s.split_of(list(r)) == s.split_of(r) for r in rows[:50])
  assert len({s.split_of([r[0], r[1], "Gentoo"]) for r in rows[:50]}) == 2


def test_a_float_key_is_hashed_by_its_text():
  s = _splitter(key="size")
  rows = [["1", "2.5", "A"], ["2", "2.5", "B"], ["3", "2.50", "C"]]
  assert s.split_of(rows[0]) == s.split_of(rows[1])  # same key, same split
  assert s.key_of(rows[2]) == "2.50"


def test_rows_whose_key_is_missing_go_by_the_whole_row():
  keyed, unkeyed = _splitter(key="id"), _splitter(key=None)
  rows = [["NA", str(i), "A"] for i in range(200)] + [["", str(i), "B"] for i in range(200)]
  assert [keyed.split_of(r) for r in rows] == [unkeyed.split_of(r) for r in rows]
  assert len({keyed.split_of(r) for r in rows}) == 2  # not all piled into one split


def _counts(per_split, key_values=(), spec=None):
  spec = spec or splits.SplitSpec(buckets=EIGHT_TWO, key="island", min_rows=50,
                                  min_class_rows=5, per_class=True)
  counts = splits.SplitCounts(spec)
  for split, per_class in per_split.items():
    for cls, n in per_class.items():
      for j in range(n):
        counts.add(spec.names.index(split), cls,
                   key_values[j % len(key_values)] if key_values else None)
  return counts


def test_an_eval_split_of_11_rows_stops_the_run_and_blames_the_low_cardinality_key():
  counts = _counts({"train": {"Adelie": 200, "Gentoo": 133}, "eval": {"Adelie": 11}},
                   key_values=["Biscoe", "Dream", "Torgersen"])
  with pytest.raises(DataError) as e:
    counts.check()
  assert str(e.value) == (
      "split 'eval' has 11 rows, fewer than data.min_split_rows (50): the split key "
      "'island' has only 3 distinct values; use a key with more values, or split_key: "
      "null to hash whole rows")


def test_a_training_class_missing_from_eval_stops_the_run():
  counts = _counts({"train": {"Adelie": 200, "Chinstrap": 60}, "eval": {"Adelie": 70,
                                                                       "Chinstrap": 2}})
  with pytest.raises(DataError, match=r"split 'eval' has 2 rows of class 'Chinstrap', "
                     r"fewer than data.min_class_rows \(5\)"):
    counts.check()


def test_a_class_only_in_eval_is_a_warning_naming_it():
  counts = _counts({"train": {"Adelie": 200}, "eval": {"Adelie": 60, "Gentoo": 3}})
  assert counts.check() == ["class 'Gentoo' appears only in the eval split (3 rows): "
                            "the model never sees it in training"]


def test_regression_counts_rows_not_classes_and_zero_turns_checks_off():
  spec = splits.SplitSpec(buckets=EIGHT_TWO, min_rows=0, min_class_rows=0, per_class=False)
  counts = splits.SplitCounts(spec)
  counts.add(0, "3.25")
  counts.add(1, "7.5")
  assert counts.rows == {"train": {"": 1}, "eval": {"": 1}}
  assert counts.check() == []


def test_counts_merge_across_files_as_if_read_at_once():
  spec = splits.SplitSpec(buckets=EIGHT_TWO, key="k", per_class=True)
  whole, a, b = (splits.SplitCounts(spec) for _ in range(3))
  for i in range(30):
    for target in (whole, a if i < 12 else b):
      target.add(i % 2, f"c{i % 3}", f"key{i % 7}")
  merged = splits.SplitCounts.from_dict(spec, a.to_dict()).merge(
      splits.SplitCounts.from_dict(spec, b.to_dict()))
  assert merged.to_dict() == whole.to_dict()
  assert merged.distinct_keys == 7


def test_the_split_of_a_key_is_pinned():
  """Splits must not move between versions: a row that moved would change the data
  digest, and a rerun on unchanged data would train from scratch."""
  s = _splitter(key="id", buckets=(("train", 8), ("eval", 2)))
  assert [s.split_of([k, "1", "A"]) for k in ("a", "b", "c", "d", "e", "f", "g", "h")] == \
      PINNED_KEYS
  whole = _splitter(key=None, buckets=(("train", 3), ("eval", 1), ("test", 1)))
  assert [whole.split_of([str(i), "x", "y"]) for i in range(8)] == PINNED_ROWS


def test_keys_stop_being_tracked_past_a_thousand():
  spec = splits.SplitSpec(buckets=EIGHT_TWO, key="k")
  counts = splits.SplitCounts(spec)
  for i in range(1001):
    counts.add(0, "", f"key{i}")
  assert counts.distinct_keys is None and counts.to_dict()["keys"] is None
  small = splits.SplitCounts(spec)
  small.add(1, "", "only")
  merged = small.merge(counts)
  assert merged.distinct_keys is None and merged.total("train") == 1001
  assert merged.rows["eval"] == {"": 1}


def test_many_keys_blame_the_buckets_not_the_key():
  spec = splits.SplitSpec(buckets=EIGHT_TWO, key="k", min_rows=50)
  counts = splits.SplitCounts(spec)
  for i in range(120):
    counts.add(0, "", f"key{i}")
  counts.add(1, "", "other")
  with pytest.raises(DataError) as e:
    counts.check()
  assert str(e.value) == ("split 'eval' has 1 rows, fewer than data.min_split_rows (50): "
                          "add rows, or give the split more hash buckets (data.*_buckets)")


def test_describe_shows_rows_and_the_largest_classes():
  counts = _counts({"train": {"a": 6, "b": 3, "c": 1}, "eval": {}})
  assert counts.describe("train", max_classes=2) == (
      "train        10 rows  (a: 6 (60%), b: 3 (30%), and 1 more classes)")
  assert counts.describe("eval") == "eval          0 rows"


def _labelled(labels_by_split, positive_class=None, per_class=True):
  counts = splits.SplitCounts(splits.SplitSpec(buckets=EIGHT_TWO, per_class=per_class,
                                               positive_class=positive_class))
  for split, labels in enumerate(labels_by_split):
    for label in labels:
      counts.add(split, label)
  return counts


def test_a_label_with_one_value_is_refused_naming_the_data_and_the_value():
  counts = _labelled([["Adelie"] * 7, ["Adelie"] * 3])
  with pytest.raises(DataError) as e:
    counts.check_learnable("species", "penguins.csv")
  assert str(e.value) == ("penguins.csv: label 'species' has a single value, 'Adelie' "
                          "(10 rows): a multiclass task needs at least two classes")


def test_a_binary_label_needs_its_positive_class_and_another_value():
  with pytest.raises(DataError) as e:
    _labelled([["no", "maybe"], ["no"]], positive_class="yes").check_learnable("y", "d.csv")
  assert str(e.value) == ("d.csv: label 'y' never has the value task.positive_class 'yes' "
                          "(found 'no' (2 rows), 'maybe' (1 rows)): every row would be "
                          "negative; set task.positive_class to the positive value")
  with pytest.raises(DataError) as e:
    _labelled([["yes", "yes"], ["yes"]], positive_class="yes").check_learnable("y", "d.csv")
  assert str(e.value) == ("d.csv: label 'y' has a single value, 'yes' (3 rows): a binary "
                          "task needs rows of both classes (task.positive_class 'yes' and "
                          "any other value)")


def test_the_values_found_are_the_five_commonest_and_a_count_of_the_rest():
  labels = [f"v{i}" for i in range(8) for _ in range(10 - i)]
  with pytest.raises(DataError) as e:
    _labelled([labels, []], positive_class="yes").check_learnable("y", "d.csv")
  assert ("(found 'v0' (10 rows), 'v1' (9 rows), 'v2' (8 rows), 'v3' (7 rows), "
          "'v4' (6 rows) and 3 more)") in str(e.value)


@pytest.mark.parametrize("labels, positive_class, per_class", [
    ([["a", "b"], ["a"]], None, True),  # two classes
    ([["yes", "no"], []], "yes", True),  # both sides of a binary label
    ([["1.5"] * 4, ["1.5"]], None, False),  # regression: one value is a fine target
])
def test_labels_a_model_can_learn_pass(labels, positive_class, per_class):
  _labelled(labels, positive_class, per_class).check_learnable("y", "d.csv")
