"""Image sources: class sub-folders and path,label CSVs are listed and split as
documented, and a broken image is refused by name before anything runs."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from components.errors import DataError
from components.csv_ingest.splits import SplitSpec
from components.image_ingest import digits, listing
from tests.conftest import run_tpctl, write_config

SPEC = SplitSpec(buckets=(("train", 8), ("eval", 2)), per_class=True)


def _png(path: Path, value: int = 128) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(np.full((8, 8), value, np.uint8), mode="L").save(path, format="PNG")


def test_class_folders_are_listed_like_image_dataset_from_directory(tmp_path):
  _png(tmp_path / "cat" / "a.png")
  _png(tmp_path / "cat" / "deeper" / "b.PNG")
  _png(tmp_path / "dog" / "c.png")
  (tmp_path / "dog" / "notes.txt").write_text("not an image")
  images = listing.list_images(listing.Source(dir=str(tmp_path)))
  assert [(i.key, i.label) for i in images] == [
      ("cat/a.png", "cat"), (os.path.join("cat", "deeper", "b.PNG"), "cat"),
      ("dog/c.png", "dog")]


def test_a_directory_needs_two_classes_with_images(tmp_path):
  _png(tmp_path / "cat" / "a.png")
  with pytest.raises(DataError, match="one sub-folder per class, at least two"):
    listing.list_images(listing.Source(dir=str(tmp_path)))
  (tmp_path / "dog").mkdir()
  with pytest.raises(DataError, match=r"dog: no images"):
    listing.list_images(listing.Source(dir=str(tmp_path)))


def test_a_csv_of_paths_and_labels(tmp_path):
  _png(tmp_path / "img" / "one.png")
  _png(tmp_path / "img" / "two.png")
  (tmp_path / "labels.csv").write_text("path,label\nimg/one.png,yes\nimg/two.png,no\n")
  images = listing.list_images(listing.Source(csv=str(tmp_path / "labels.csv")))
  assert [(i.key, i.label) for i in images] == [("img/one.png", "yes"), ("img/two.png", "no")]
  (tmp_path / "bad.csv").write_text("path,label\nimg/one.png,yes\nimg/three.png,no\n")
  with pytest.raises(DataError, match=r"bad.csv:3: column 'path': no such file 'img/three.png'"):
    listing.list_images(listing.Source(csv=str(tmp_path / "bad.csv")))
  (tmp_path / "header.csv").write_text("file,class\nimg/one.png,yes\n")
  with pytest.raises(DataError, match="the header must be 'path,label'"):
    listing.list_images(listing.Source(csv=str(tmp_path / "header.csv")))


@pytest.mark.parametrize("damage, reason", [
    (lambda data: data[:len(data) // 2], "not a readable image"),
    (lambda data: b"GIF89a" + b"\x00" * 20, "not a readable image"),
    (lambda data: b"just text", r"not a readable image \(unknown format"),
])
def test_a_broken_image_is_refused_by_name(damage, reason):
  image = io.BytesIO()
  Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
      image, format="JPEG")
  listing.check_image("photos/ok.jpg", image.getvalue())
  with pytest.raises(DataError, match=rf"^photos/bad.jpg: {reason}"):
    listing.check_image("photos/bad.jpg", damage(image.getvalue()))


def test_a_format_the_model_cannot_decode_is_refused():
  tiff = io.BytesIO()
  Image.fromarray(np.zeros((4, 4), np.uint8)).save(tiff, format="TIFF")
  with pytest.raises(DataError, match="scan.tif: a TIFF image; the model reads JPEG, PNG"):
    listing.check_image("scan.tif", tiff.getvalue())


def test_per_class_limits_training_images_only_and_samples_are_nested():
  images = listing.list_images(listing.Source())  # the built-in digits
  full, counts = listing.assign_splits(images, SPEC, None)
  five, counts5 = listing.assign_splits(images, SPEC, 5)
  twenty, _ = listing.assign_splits(images, SPEC, 20)
  assert len(full) == 1797
  assert set(counts5.rows["train"].values()) == {5} and len(counts5.rows["train"]) == 10
  assert counts5.rows["eval"] == counts.rows["eval"]  # eval keeps every image
  train = lambda kept: {i.key for s, i in kept if s == 0}  # noqa: E731
  assert train(five) < train(twenty) < train(full)
  # Not simply the first files: the digits are sorted by writer.
  firsts = {i.key for i in sorted(images, key=lambda i: i.key) if i.label == "0"}
  assert sorted(k for k in train(five) if "/0/" in k) != sorted(firsts)[:5]


def test_check_refuses_a_broken_image_by_name_and_writes_nothing(tmp_path):
  for label in ("a", "b"):
    for k in range(40):
      _png(tmp_path / "data" / label / f"{k:02d}.png", value=k)
  broken = tmp_path / "data" / "b" / "17.png"
  broken.write_bytes(broken.read_bytes()[:30])
  config = write_config(tmp_path, """\
      run_dir: run
      data: {images: {dir: data}, min_split_rows: 5}
      task: {type: multiclass, label: label}
      features: {numeric: [], categorical: [], coordinates: [], image: image}
      model: {base: mobilenet_v1_imagenet}
      evaluator: {lower_bound: 0.5}
      """)
  for command in ("check", "run"):
    proc = run_tpctl(command, "--config", str(config), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{broken}: not a readable image" in lines[0], proc.stderr
  assert not (tmp_path / "run").exists()
