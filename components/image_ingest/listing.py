"""Which images a run reads, their labels and splits, and whether each one can be
decoded. No TensorFlow: the pre-flight check uses this as the Ingest executor does,
so it prints the splits Ingest writes and refuses the same broken files."""
from __future__ import annotations

import collections
import csv
import dataclasses
import hashlib
import io
import os
from typing import Iterable, Optional

from components.errors import DataError
from components.csv_ingest.splits import SplitCounts, SplitSpec, Splitter

# What the model's decoder reads (tf.io.decode_image), by extension as
# keras.utils.image_dataset_from_directory picks files.
EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_FORMATS = {"BMP", "GIF", "JPEG", "PNG", "MPO"}  # MPO: a JPEG with extra frames
CSV_COLUMNS = ("path", "label")


@dataclasses.dataclass(frozen=True)
class Source:
  dir: Optional[str] = None
  csv: Optional[str] = None
  per_class: Optional[int] = None

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: dict) -> "Source":
    per_class = d.get("per_class")
    return cls(d.get("dir"), d.get("csv"), int(per_class) if per_class else None)

  def describe(self) -> str:
    where = (f"class sub-folders of {self.dir}" if self.dir else
             f"the images listed in {self.csv}" if self.csv else
             "scikit-learn's 8x8 digits (the built-in sample)")
    return where + (f", at most {self.per_class} training images per class"
                    if self.per_class else "")


@dataclasses.dataclass(frozen=True)
class Image:
  key: str  # the path relative to the data root: what the split hashes
  label: str
  path: Optional[str] = None  # None: a built-in sample, whose bytes come with it


def list_images(source: Source) -> list[Image]:
  if source.dir:
    return _from_directory(source.dir)
  if source.csv:
    return _from_csv(source.csv)
  from components.image_ingest import digits  # scikit-learn, only for the sample
  return [Image(key, label) for key, label in digits.labelled_keys()]


def _from_directory(root: str) -> list[Image]:
  if not os.path.isdir(root):
    raise DataError(f"{root}: image directory does not exist")
  classes = sorted(d for d in os.listdir(root)
                   if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
  if len(classes) < 2:
    raise DataError(f"{root}: needs one sub-folder per class, at least two "
                    f"(found {len(classes)})")
  images = []
  for label in classes:
    found = []
    for folder, _, files in os.walk(os.path.join(root, label)):
      found += [os.path.join(folder, f) for f in files
                if f.lower().endswith(EXTENSIONS) and not f.startswith(".")]
    if not found:
      raise DataError(f"{os.path.join(root, label)}: no images ({', '.join(EXTENSIONS)})")
    images += [Image(os.path.relpath(p, root), label, p) for p in sorted(found)]
  return images


def _from_csv(path: str) -> list[Image]:
  if not os.path.isfile(path):
    raise DataError(f"{path}: image list does not exist")
  root = os.path.dirname(os.path.abspath(path))
  images = []
  with open(path, newline="", encoding="utf-8-sig") as f:
    reader = csv.reader(f)
    header = [c.strip() for c in next(reader, [])]
    if tuple(header[:2]) != CSV_COLUMNS:
      raise DataError(f"{path}: the header must be 'path,label', not {','.join(header)!r}")
    for line, row in enumerate(reader, start=2):
      if not any(c.strip() for c in row):
        continue
      if len(row) < 2 or not row[0].strip() or not row[1].strip():
        raise DataError(f"{path}:{line}: needs a path and a label, got {','.join(row)!r}")
      image = os.path.join(root, row[0].strip())
      if not os.path.isfile(image):
        raise DataError(f"{path}:{line}: column 'path': no such file {row[0].strip()!r}")
      images.append(Image(row[0].strip(), row[1].strip(), image))
  if not images:
    raise DataError(f"{path}: no images listed")
  return images


def fingerprint(source: Source) -> str:
  """Changes when any listed image is added, removed, renamed, relabelled or
  rewritten (by size and modification time): it keys TFX's cache of the step."""
  digest = hashlib.sha256(repr(source.to_dict()).encode())
  for image in list_images(source):
    stat = os.stat(image.path) if image.path else None
    digest.update(f"{image.key}\0{image.label}\0{stat.st_size if stat else 0}\0"
                  f"{stat.st_mtime_ns if stat else 0}\n".encode())
  return digest.hexdigest()[:16]


def read_bytes(image: Image) -> bytes:
  with open(image.path, "rb") as f:
    return f.read()


def check_image(name: str, data: bytes) -> None:
  """Raises DataError naming the file when it is not an image the model can decode."""
  from PIL import Image as PILImage, UnidentifiedImageError
  try:
    with PILImage.open(io.BytesIO(data)) as img:
      kind = img.format
      img.load()  # decodes every pixel: a truncated file fails here
  except UnidentifiedImageError:
    raise DataError(f"{name}: not a readable image (unknown format, or damaged at the "
                    f"start)") from None
  except (OSError, SyntaxError, ValueError) as e:
    reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise DataError(f"{name}: not a readable image ({reason})") from None
  if kind not in _FORMATS:
    raise DataError(f"{name}: a {kind} image; the model reads JPEG, PNG, BMP and GIF")


def assign_splits(images: Iterable[Image], spec: SplitSpec, per_class: Optional[int]
                  ) -> tuple[list[tuple[int, Image]], SplitCounts]:
  """(split index, image) for every image kept, and the counts per split and class.
  An image goes by a hash of its relative path. per_class keeps, in the first
  (training) split only, the images of each class that come first in the order of
  another hash of the path: a fixed pseudo-random sample (files are often sorted
  by who or when, which the first N by name would inherit), and the sample for a
  smaller N is part of the sample for a larger one."""
  splitter = Splitter(SplitSpec(buckets=spec.buckets), [], ())
  kept, taken = [], collections.Counter()
  counts = SplitCounts(spec)
  order = lambda i: (i.label, hashlib.sha256(b"per_class:" + i.key.encode()).digest())  # noqa: E731
  for image in sorted(images, key=order):
    split = splitter.split_of([image.key])
    if split == 0 and per_class is not None:
      if taken[image.label] >= per_class:
        continue
      taken[image.label] += 1
    kept.append((split, image))
    counts.add(split, image.label)
  return kept, counts
