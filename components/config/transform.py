"""The `transform` section: how Transform turns columns into model inputs."""
from __future__ import annotations

import pydantic

from components.config._strict import Strict


class TransformConfig(Strict):
  vocab_size: int = pydantic.Field(1000, ge=1)
  oov_buckets: int = pydantic.Field(10, ge=1)
  coordinate_buckets: int = pydantic.Field(10, ge=2)
