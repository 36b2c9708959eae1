"""Every step of the pipeline has TFX's two-file shape: the node comes from its
package's component.py (`build`) and the work is in that package's executor.py,
whichever kind of node it is (a custom component class, a function component, or a
stock TFX component that calls our module function)."""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from components.config import load_config
from pipelines.pipeline import create_pipeline

CONFIGS = Path(__file__).resolve().parent.parent / "pipelines" / "configs"
# Stock TFX steps that run none of our code.
STOCK = {"StatisticsGen", "SchemaGen", "ImportSchemaGen"}


def _nodes(config_file):
  config = load_config(CONFIGS / config_file if config_file else None)
  return create_pipeline(config, data_dir="/data", pipeline_root="/root",
                         serving_dir="/serving", checkpoint_root="/ckpt").components


def work_module(node) -> str:
  """The module that does the node's work."""
  functions = [v for k, v in node.exec_properties.items() if k.endswith("_fn") and v]
  if functions:  # Transform, Trainer, Tuner: TFX's executor calls our function
    [function] = functions
    return function.rpartition(".")[0]
  module = node.executor_spec.executor_class.__module__
  if module.endswith(".component"):  # a function component: its body hands over
    package = module.rpartition(".")[0]
    source = inspect.getsource(importlib.import_module(module))
    assert "executor." in source, f"{module} does its work itself"
    return package + ".executor"
  return module


@pytest.mark.parametrize("config_file", [None, "memorize_heated_rod.yaml",
                                         "transfer_digits.yaml"])
def test_every_step_is_a_package_with_component_and_executor(config_file):
  for node in _nodes(config_file):
    if node.id in STOCK:
      continue
    work = work_module(node)
    package, _, name = work.rpartition(".")
    assert package.startswith("components.") and name == "executor", (node.id, work)
    importlib.import_module(work)
    component = importlib.import_module(package + ".component")
    assert callable(getattr(component, "build", None)), f"{package}.component has no build()"
