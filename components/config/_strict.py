"""The base of every config section: unknown keys are errors, values are frozen.

A misspelt `train_steps` that silently falls back to its default is the kind of
mistake that costs a night of GPU time, so every section refuses keys it does not
know. Frozen, because each step reads the same config back from its JSON: nothing
may change it on the way.
"""
import pydantic


class Strict(pydantic.BaseModel):
  model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
