"""The `model` section: transfer learning from a pre-trained base, for image tasks."""
from __future__ import annotations

from typing import Literal, Optional

import pydantic

from components.config._strict import Strict


class ModelConfig(Strict):
  """Transfer learning, for image tasks: a pre-trained base cut at its bottleneck
  (the layer before its own classifier), under a new head for this task."""
  base: Optional[str] = pydantic.Field(
      None,
      description="Where the pre-trained part comes from: mobilenet_v1_imagenet (the "
                  "packaged ImageNet MobileNet v1, see README), keras.applications."
                  "<Architecture> with weights, a .keras / .h5 model file, or a model "
                  "directory this pipeline pushed. null: no transfer learning.")
  weights: Optional[str] = pydantic.Field(
      None, description="With base keras.applications.<Architecture>: the weights file on "
                        "disk to load into it.")
  bottleneck: Optional[str] = pydantic.Field(
      None, description="The layer whose output is the bottleneck; default: found "
                        "automatically (the last layer with a spatial output, then global "
                        "average pooling).")
  input_size: Optional[int] = pydantic.Field(
      None, ge=32, description="Images are resized to input_size x input_size; default: "
                               "the base's own size.")
  preprocessing: Optional[Literal["tf", "torch", "caffe"]] = pydantic.Field(
      None, description="How pixels are scaled for the base (keras.applications' preprocess "
                        "modes); default: the base's own (tf, -1..1, for MobileNets).")
  transfer: Literal["feature_extraction", "fine_tune", "progressive", "scratch"] = (
      pydantic.Field(
          "feature_extraction",
          description="feature_extraction: the base is frozen, its bottleneck features "
                      "computed once and cached, and only the head trains. fine_tune: the "
                      "head first, then the top `unfreeze` layers too, at learning rate x "
                      "fine_tune_lr_factor (BatchNorm stays in inference mode). progressive: "
                      "`stages` layers unfrozen in turn, each stage judged on eval data; a "
                      "stage that does not beat the best before it ends the training. "
                      "scratch: the same network from random weights, everything trained (the "
                      "baseline transfer is measured against)."))
  unfreeze: int = pydantic.Field(
      4, ge=1, description="fine_tune: layers with weights unfrozen, counted from the top of "
                           "the base; BatchNorm layers are not counted and stay frozen.")
  stages: tuple[int, ...] = pydantic.Field(
      (0, 2, 4, 8),
      description="progressive: layers unfrozen at each stage, increasing, starting at 0 "
                  "(the head alone); each stage ends with a checkpoint.")
  fine_tune_lr_factor: float = pydantic.Field(
      0.1, gt=0, le=1,
      description="fine_tune and progressive: once base layers are unfrozen, training "
                  "continues at the learning rate times this factor (ramped up after each "
                  "stage), so that the pre-trained layers move gently.")

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
