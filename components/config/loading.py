"""Reading a config: the YAML file (or the defaults), dotted overrides from the
command line, and a hyperparameters file; every problem is one ConfigError line
naming the file and the key.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import pydantic
import yaml

from components.config.pipeline import PipelineConfig
from components.config.search_values import from_values
from components.config.trainer import HyperParameters
from components.errors import ConfigError

# Keys holding paths: in a config file they are relative to the file, not the cwd.
_PATH_KEYS = (("data", "dir"), ("data", "schema_file"), ("tuner", "hyperparameters_file"),
              (None, "run_dir"), (None, "serving_dir"), (None, "checkpoint_dir"))


def load_config(path: Optional[str | os.PathLike] = None,
                overrides: Optional[dict] = None) -> PipelineConfig:
  """Reads a YAML config (or the defaults), raising ConfigError with one line."""
  source = str(path) if path else "default config"
  raw = _read_yaml(path) if path else {}
  for dotted, value in (overrides or {}).items():
    holder = raw
    *parents, leaf = dotted.split(".")
    for p in parents:
      holder = holder.setdefault(p, {})
    holder[leaf] = value
  if "beam_workers" in raw:  # renamed when Beam learned to run in process
    raise ConfigError(f"{source}: beam_workers is now beam.workers (beam.mode chooses "
                      f"between in process and worker processes)")
  if raw.get("step_view") is not None:  # (null: a `tpctl config` of an older version)
    raise ConfigError(f"{source}: step_view is set by the pipeline, not in a config")
  try:
    config = PipelineConfig.model_validate(raw)
  except pydantic.ValidationError as e:
    raise ConfigError(f"{source}: {_describe(e.errors()[0])}") from None
  return _with_hyperparameters_file(config)


def _read_yaml(path: str | os.PathLike) -> dict:
  """The file's mapping of keys, with its relative paths made absolute."""
  try:
    text = Path(path).read_text()
  except OSError as e:
    raise ConfigError(f"{path}: cannot read config: {e.strerror}") from None
  try:
    raw = yaml.safe_load(text) or {}
  except yaml.YAMLError as e:
    mark = getattr(e, "problem_mark", None)
    line = f":{mark.line + 1}" if mark else ""
    raise ConfigError(f"{path}{line}: invalid YAML") from None
  if not isinstance(raw, dict):
    raise ConfigError(f"{path}: expected a mapping of keys at the top level")
  base = Path(path).resolve().parent
  for section, key in _PATH_KEYS:
    holder = raw.get(section) if section else raw
    if isinstance(holder, dict) and isinstance(holder.get(key), str):
      holder[key] = str((base / holder[key]).resolve())
  return raw


def _describe(error: dict) -> str:
  where = ".".join(str(p) for p in error["loc"])
  if error["type"] == "extra_forbidden":
    return f"unknown key {where!r}"
  message = error["msg"].removeprefix("Value error, ")
  # Whole-config checks name their keys in the message themselves.
  return f"{where}: {message}" if where else message


def _with_hyperparameters_file(config: PipelineConfig) -> PipelineConfig:
  """With the tuner off, a hyperparameters file overrides trainer.hyperparameters.

  It holds either HyperParameters fields, or a Tuner's best_hyperparameters.txt
  (KerasTuner's {"space": ..., "values": ...}), so an earlier search can be reused.
  """
  path = config.tuner.hyperparameters_file
  if not path or config.tuner.enabled:
    return config
  try:
    values = json.loads(Path(path).read_text())
  except OSError as e:
    raise ConfigError(f"{path}: cannot read hyperparameters file: {e.strerror}") from None
  except json.JSONDecodeError as e:
    raise ConfigError(f"{path}:{e.lineno}: invalid JSON") from None
  base = config.trainer.hyperparameters
  try:
    if isinstance(values, dict) and "values" in values:
      hp = from_values(values["values"], base)
    else:
      hp = HyperParameters.model_validate({**base.model_dump(), **values})
  except (pydantic.ValidationError, TypeError, ValueError) as e:
    errors = e.errors() if isinstance(e, pydantic.ValidationError) else None
    raise ConfigError(f"{path}: {_describe(errors[0]) if errors else e}") from None
  trainer = config.trainer.model_copy(update={"hyperparameters": hp})
  return config.model_copy(update={"trainer": trainer})
