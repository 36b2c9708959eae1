"""The `transform` section: how Transform turns columns into model inputs."""
from __future__ import annotations

import pydantic

from components.config._strict import Strict


class TransformConfig(Strict):
  """Sizes of what Transform learns from the train split."""
  vocab_size: int = pydantic.Field(
      1000, ge=1, description="Each categorical column keeps its this many most frequent "
                              "values; rarer ones share the out-of-vocabulary buckets.")
  oov_buckets: int = pydantic.Field(
      10, ge=1, description="Buckets shared, by hash, by the categorical values outside the "
                            "vocabulary (rare ones, and ones never seen in training).")
  coordinate_buckets: int = pydantic.Field(
      10, ge=2, description="Quantile buckets per coordinates column (plus one for a missing "
                            "value); more buckets resolve finer areas but need more rows.")
