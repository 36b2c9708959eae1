"""The `model` section: transfer learning from a pre-trained base, for image tasks."""
from __future__ import annotations

from typing import Literal, Optional

import pydantic

from components.config._strict import Strict


class ModelConfig(Strict):
  """Transfer learning, for image tasks: a pre-trained base cut at its bottleneck
  (the layer before its own classifier), under a new head for this task."""
  # Where the pre-trained part comes from:
  #   mobilenet_v1_imagenet   the packaged ImageNet MobileNet v1 (see README)
  #   keras.applications.<Architecture>, with `weights`: a weights file on disk
  #   a .keras / .h5 model file, or a model directory this pipeline pushed
  base: Optional[str] = None
  weights: Optional[str] = None
  # The layer whose output is the bottleneck; default: found automatically (the
  # last layer with a spatial output, then global average pooling).
  bottleneck: Optional[str] = None
  # Images are resized to input_size x input_size; default: the base's own size.
  input_size: Optional[int] = pydantic.Field(None, ge=32)
  # How pixels are scaled for the base (keras.applications' preprocess modes);
  # default: the base's own (tf, -1..1, for MobileNets).
  preprocessing: Optional[Literal["tf", "torch", "caffe"]] = None
  #   feature_extraction: the base is frozen; its bottleneck features are computed
  #     once, cached, and only the head trains.
  #   fine_tune: the head first, then the top `unfreeze` layers too, at
  #     learning rate x fine_tune_lr_factor (BatchNorm stays in inference mode).
  #   progressive: `stages` layers unfrozen in turn, each stage judged on eval
  #     data; a stage that does not beat the best before it ends the training.
  #   scratch: the same network from random weights, everything trained (the
  #     baseline transfer is measured against).
  transfer: Literal["feature_extraction", "fine_tune", "progressive", "scratch"] = (
      "feature_extraction")
  # Layers with weights, counted from the top of the base; BatchNorm layers are
  # not counted and stay frozen.
  unfreeze: int = pydantic.Field(4, ge=1)
  stages: tuple[int, ...] = (0, 2, 4, 8)
  fine_tune_lr_factor: float = pydantic.Field(0.1, gt=0, le=1)

  @pydantic.field_validator("stages")
  @classmethod
  def _stages_grow(cls, stages):
    if len(stages) < 2 or stages[0] != 0 or list(stages) != sorted(set(stages)):
      raise ValueError("stages: increasing layer counts, starting at 0 (the head alone), "
                       "e.g. [0, 2, 4, 8]")
    return stages

  def stage_layers(self) -> tuple[int, ...]:
    """Layers of the base unfrozen at each stage of training."""
    if self.transfer == "fine_tune":
      return (0, self.unfreeze)
    if self.transfer == "progressive":
      return self.stages
    return (0,)
