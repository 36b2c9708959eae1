"""The Transform step: TFX's stock Transform component, configured; the function
its executor calls (preprocessing_fn) is in executor.py."""
from __future__ import annotations

from typing import Callable

from tfx import v1 as tfx

from components.config import PipelineConfig
from components.transform import executor

# A module path, not a module file: the code is installed in the image, so nothing
# has to be staged to the pipeline root for the executor to import it.
PREPROCESSING_FN = f"{executor.__name__}.preprocessing_fn"


def build(config: PipelineConfig, *, examples, schema,
          code_of: Callable[[str], str]) -> tfx.components.Transform:
  """`code_of(module)`: the digest of a module's code, which keys TFX's cache."""
  return tfx.components.Transform(
      examples=examples, schema=schema, preprocessing_fn=PREPROCESSING_FN,
      custom_config={"config": config.for_step("transform").to_json(),
                     "code": code_of(executor.__name__)},
      # StatisticsGen already describes the raw data; skipping Transform's own
      # pre/post-transform statistics saves a third of its time.
      disable_statistics=True,
      # The Trainer applies the transform graph to raw examples itself.
      materialize=False, force_tf_compat_v1=executor.tf_compat_v1(config))
