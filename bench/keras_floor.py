"""The floor for the local loop: the same job as `tpctl run --config
bench/taxi_like.yaml`, as one plain Keras script with no orchestration.

It reads the embedded taxi CSV, splits it by a hash of the same key, builds the
same features (z-scored numbers, vocabularies for categories, quantile buckets
for coordinates), trains the same model for 1000 steps of batch 40, evaluates
after each of the 10 virtual epochs and exports a SavedModel. No statistics,
schema, transform graph, checkpoint selection, TFMA or lineage: what the
pipeline adds on top of this is its overhead.

  python -m bench.keras_floor WORK_DIR
"""
from __future__ import annotations

import hashlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from components.config import load_config  # noqa: E402
from components.csv_ingest import embedded_data  # noqa: E402
from components.trainer import model as model_lib  # noqa: E402


def _features(frame: pd.DataFrame, train: pd.DataFrame, config) -> dict[str, np.ndarray]:
  f, t = config.features, config.transform
  out = {}
  for name in f.numeric:
    col = train[name].astype(float)
    out[f"{name}_xf"] = ((frame[name].astype(float) - col.mean()) / (col.std() or 1)
                         ).fillna(0.0).to_numpy("float32")
  for name in f.categorical:
    top = train[name].astype(str).value_counts().index[:t.vocab_size]
    index = {v: i for i, v in enumerate(top)}
    out[f"{name}_xf"] = frame[name].astype(str).map(
        lambda v: index.get(v, len(index))).to_numpy("int64")
  for name in f.coordinates:
    edges = np.nanquantile(train[name].astype(float),
                           np.linspace(0, 1, t.coordinate_buckets + 1)[1:-1])
    values = frame[name].astype(float).to_numpy()
    out[f"{name}_xf"] = np.where(np.isnan(values), t.coordinate_buckets,
                                 np.searchsorted(edges, values)).astype("int64")
  return out


def main(work: str) -> None:
  config = load_config(os.path.join(os.path.dirname(__file__), "taxi_like.yaml"))
  t = config.trainer
  csv = os.path.join(embedded_data.materialize(os.path.join(work, "data")), "data.csv")
  frame = pd.read_csv(csv).dropna(subset=[config.task.label])
  # The pipeline's split: 8 of 10 hash buckets of the key's text go to train.
  bucket = frame[config.data.split_key].astype(str).map(
      lambda k: int.from_bytes(hashlib.sha256(k.encode()).digest()[:8], "big") % 10)
  train, evaluation = frame[bucket < 8], frame[bucket >= 8]
  label = lambda df: (df[config.task.label].astype(str) == "1").to_numpy("float32")  # noqa: E731
  x_train, x_eval = _features(train, train, config), _features(evaluation, train, config)
  sizes = {f"{n}_xf": config.transform.vocab_size + 1 for n in config.features.categorical}
  sizes.update({f"{n}_xf": config.transform.coordinate_buckets + 1
                for n in config.features.coordinates})

  tf.keras.utils.set_random_seed(t.seed)
  model = model_lib.build_model(config, t.hyperparameters, sizes)
  model.compile(optimizer=tf.keras.optimizers.Adam(t.hyperparameters.learning_rate),
                loss=model_lib.loss_fn(config), metrics=[tf.keras.metrics.AUC(from_logits=True)])
  data = tf.data.Dataset.from_tensor_slices((x_train, label(train))).shuffle(
      10_000, seed=t.seed).repeat().batch(t.per_replica_batch_size)
  model.fit(data, steps_per_epoch=t.train_steps // t.num_checkpoints,
            epochs=t.num_checkpoints, validation_data=(x_eval, label(evaluation)), verbose=0)
  model.export(os.path.join(work, "serving"), verbose=False)
  print(f"eval: {dict(zip(model.metrics_names, model.evaluate(x_eval, label(evaluation), verbose=0)))}")


if __name__ == "__main__":
  main(*sys.argv[1:])
