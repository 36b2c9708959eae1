"""The Trainer step: TFX's stock Trainer component, configured; the function its
executor calls (run_fn) is in executor.py."""
from __future__ import annotations

from typing import Callable, Optional

from tfx import v1 as tfx

from components.config import PipelineConfig

# A module path, not a module file: the code is installed in the image, so nothing
# has to be staged to the pipeline root for the executor to import it. (Named, not
# imported: building the pipeline need not load the training code.)
RUN_FN = "components.trainer.executor.run_fn"


def build(config: PipelineConfig, *, examples, transform_graph, hyperparameters, base_model,
          checkpoint_root: str, code_of: Callable[[str], str], train_args=None,
          tfjob: Optional[dict] = None) -> tfx.components.Trainer:
  """`hyperparameters`: the Tuner's best (None: the config's); `base_model`: the
  production model, for a warm start; `train_args` (a Kubeflow run parameter)
  overrides the step budget; `tfjob` (Kubeflow with several workers): the step
  launches a TFJob. `code_of(module)`: the digest of a module's code, for TFX's cache."""
  return tfx.components.Trainer(
      run_fn=RUN_FN, examples=examples, transform_graph=transform_graph,
      hyperparameters=hyperparameters, base_model=base_model,
      train_args=train_args or tfx.proto.TrainArgs(num_steps=config.trainer.train_steps),
      eval_args=tfx.proto.EvalArgs(num_steps=0),
      custom_config={"config": config.for_step("trainer").to_json(),
                     "code": code_of(RUN_FN.rpartition(".")[0]),
                     "checkpoint_root": checkpoint_root,
                     **({"tfjob": tfjob} if tfjob else {})})
