"""The built-in image sample: scikit-learn's bundled 8x8 handwritten digits (1,797
images of 10 classes, from the UCI optical recognition set), as PNG files in
memory. A real labelled image set that needs no download; tiny, so a run stays
fast, and unlike anything in ImageNet, so it shows what transfer carries over."""
from __future__ import annotations

import io
from typing import Optional

_KEY = "digits/{label}/{index:04d}.png"


def labelled_keys() -> list[tuple[str, str]]:
  """(key, label) of every image: plain pairs, so that listing.py, which lists
  every kind of source, imports this module and not the other way round."""
  from sklearn.datasets import load_digits
  return [(_KEY.format(label=label, index=i), str(label))
          for i, label in enumerate(load_digits().target)]


def png(index: int, _cache: Optional[dict] = {}) -> bytes:  # noqa: B006 (a cache)
  """One digit as an 8-bit grey PNG (pixel values 0..16 scaled to 0..255)."""
  if "images" not in _cache:
    from sklearn.datasets import load_digits
    _cache["images"] = load_digits().images
  from PIL import Image as PILImage
  pixels = (_cache["images"][index] * (255 / 16)).round().astype("uint8")
  buf = io.BytesIO()
  PILImage.fromarray(pixels, mode="L").save(buf, format="PNG")
  return buf.getvalue()


def index_of(key: str) -> int:
  return int(key.rsplit("/", 1)[1].split(".")[0])


def write_directory(root: str, per_class: Optional[int] = None) -> str:
  """The sample as a directory of class sub-folders (what a user's data looks
  like): for the README's walk-through and the serving demo."""
  import os
  for key, label in labelled_keys():
    i = index_of(key)
    folder = os.path.join(root, label)
    os.makedirs(folder, exist_ok=True)
    if per_class is not None and len(os.listdir(folder)) >= per_class:
      continue
    with open(os.path.join(folder, f"{i:04d}.png"), "wb") as f:
      f.write(png(i))
  return root
