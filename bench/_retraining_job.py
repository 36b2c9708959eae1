"""One measurement of bench.retraining, in a fresh process (each run must start cold:
no graph, strategy or cache left over from another run):

  python -m bench._retraining_job production CONFIG_JSON OLD_TF OLD_EXAMPLES NEW_TF NEW_EXAMPLES \
      WORK
  python -m bench._retraining_job train CONFIG_JSON NEW_TF NEW_EXAMPLES WORK [WARM_START]

production: trains on the old window, picks the checkpoint the checkpoint
evaluator would, exports it with its own transform graph and scores the new
window's raw eval examples through `serving_default` (the Evaluator's baseline).
train: trains on the new window, cold or from WARM_START, and reports each eval
with its time since training began. Prints one JSON line.
"""
from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _serving_auc(config, serving_dir: str, examples_dir: str) -> tuple[float, int]:
  """AUC of an exported model on raw eval examples, labels from its own
  transform_features signature, as TFMA gets them."""
  import keras
  import tensorflow as tf

  from components import features
  from components.trainer import data
  loaded = tf.saved_model.load(serving_dir)
  serve = loaded.signatures["serving_default"]
  transform = loaded.signatures["transform_features"]
  files = sorted(tf.io.gfile.glob(data.split_pattern(examples_dir, "eval")))
  auc, n = keras.metrics.AUC(), 0
  for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(1024):
    scores = serve(examples=batch)["scores"]
    labels = tf.reshape(tf.cast(transform(examples=batch)[features.LABEL_KEY], tf.float32),
                        [-1, 1])
    auc.update_state(labels, scores)
    n += int(tf.shape(batch)[0])
  return float(auc.result()), n


def production(config_json: str, old_tf: str, old_examples: str, new_tf: str,
               new_examples: str, work: str) -> dict:
  import tensorflow as tf
  import tensorflow_transform as tft

  from components.checkpoint_evaluator import scoring
  from components.config import PipelineConfig
  from components.trainer import data, evaluation, export, loop, restore, training_state
  from components.trainer.inputs import TrainInputs
  config = PipelineConfig.from_json(config_json)
  hp = config.trainer.hyperparameters
  old_tft, new_tft = tft.TFTransformOutput(old_tf), tft.TFTransformOutput(new_tf)
  began = time.monotonic()
  record = loop.train(TrainInputs(
      config, hp, old_tft, data.split_pattern(old_examples, "train"),
      data.split_pattern(old_examples, "eval"), os.path.join(work, "ckpt"),
      os.path.join(work, "logs"), progress=lambda _: None))
  train_seconds = time.monotonic() - began
  # As the checkpoint evaluator does: score every kept checkpoint, select, export.
  sel = config.checkpoint_selection
  scores = scoring.score(config, record, old_tft, data.split_pattern(old_examples, "eval"),
                         progress=lambda _: None)
  best = scoring.select(scores, sel.metric, sel.mode)
  serving_dir = os.path.join(work, "serving")
  export.export_serving_model(config, scoring.restore_model(config, record, old_tft, best.path),
                              old_tft, serving_dir)
  target, rows = _serving_auc(config, serving_dir, new_examples)

  # What a warm start holds before its first step: production's weights, rows
  # remapped to the new vocabularies, read through the new window's transform.
  notes = []
  strategy = tf.distribute.get_strategy()
  built = training_state.build(config, hp, new_tft, strategy, hp.learning_rate)
  # The loop's own warm-start restore, so that this is exactly its start.
  restore.restore_warm_start(config, hp, new_tft, strategy, hp.learning_rate, best.path, built,
                             notes.append)
  step0 = evaluation.EvalScorer(config, built.model, data.eval_batches(
      data.split_pattern(new_examples, "eval"), new_tft, config.trainer.eval_examples))()
  return {"checkpoint": best.path, "step": best.step, "selected_on": sel.metric,
          "own_window": best.metrics, "target_auc": target, "eval_rows": rows,
          "warm_step0": step0, "remap": notes, "train_seconds": train_seconds,
          "checkpoints": [{"step": s.step, **s.metrics} for s in scores]}


def train(config_json: str, new_tf: str, new_examples: str, work: str,
          warm_start: str | None = None) -> dict:
  import tensorflow_transform as tft

  from components.config import PipelineConfig
  from components.trainer import data, loop
  from components.trainer.inputs import TrainInputs
  config = PipelineConfig.from_json(config_json)
  tft_output = tft.TFTransformOutput(new_tf)
  marks: dict = {}
  evals: list = []

  def progress(line: str) -> None:
    # "training from ..." is said right before the first step; each "step N/M"
    # right after the eval (and checkpoint) that ends a virtual epoch.
    now = time.monotonic()
    if line.startswith("training from step"):
      marks["training"] = now
    elif line.startswith("step "):
      evals.append((int(line.split()[1].split("/")[0]), now))

  called = time.monotonic()
  record = loop.train(TrainInputs(
      config, config.trainer.hyperparameters, tft_output,
      data.split_pattern(new_examples, "train"), data.split_pattern(new_examples, "eval"),
      os.path.join(work, "ckpt"), os.path.join(work, "logs"), progress=progress,
      warm_start=warm_start))
  metrics = {h["step"]: h["eval"] for h in record.history}
  t0 = marks["training"]
  return {"start_step": record.start_step, "final_step": record.final_step,
          "setup_seconds": t0 - called, "train_seconds": record.seconds,
          "curve": [{"step": s, "extra_steps": s - record.start_step, "seconds": t - t0,
                     "auc": metrics[s]["auc"], "loss": metrics[s]["loss"]} for s, t in evals]}


if __name__ == "__main__":
  mode, *args = sys.argv[1:]
  if mode == "production":
    result = production(*args)
  elif mode == "train":
    result = train(*args)
  else:
    sys.exit(f"unknown mode {mode!r}")
  print(json.dumps(result))
