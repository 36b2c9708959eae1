"""The training loop's inputs as one typed value (TFX hands its Trainer an
`FnArgs` the same way).

Everything `loop.train` reads arrives in a `TrainInputs`: whoever runs the loop
(the Trainer step, a distributed replica in job.py, a tuner trial, a benchmark)
builds one and hands it over, instead of relaying a dozen arguments through
every layer. Free of TensorFlow imports, so that a launcher can build one cheaply.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

from components.config import HyperParameters, PipelineConfig, TrainerConfig


@dataclasses.dataclass(frozen=True)
class TrainInputs:
  config: PipelineConfig
  hp: HyperParameters
  tft_output: Any  # tft.TFTransformOutput of the Transform step's graph (None: a launcher)
  train_pattern: str  # the Ingest step's Split-train files
  eval_pattern: str
  # The run's own directory (checkpoint_dirs.py chooses it): a rerun resumes there.
  checkpoint_dir: str
  log_dir: str  # TensorBoard's
  progress: Callable[[str], None] = print
  # Another run's checkpoint to start from when checkpoint_dir holds none (fine-tuning).
  warm_start: Optional[str] = None
  save_checkpoints: bool = True  # False only to measure what checkpoints cost (bench/)

  @property
  def trainer(self) -> TrainerConfig:
    return self.config.trainer
