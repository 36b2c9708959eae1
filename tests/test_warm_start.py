"""Where a retraining starts, and how a warm start survives a changed vocabulary.

Real TensorFlow checkpoints and Keras variables; the production entry is the JSON
the ProductionModel step writes."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.config import load_config
from components.registry import production
from components.trainer import vocabularies, warm_start


@pytest.fixture()
def run(tmp_path):
  """A production training run (checkpoints at 100, 200, 300, of which 200 was
  selected and exported), its registry entry, and examples whose window holds one
  span production has not seen."""
  ckpt_dir = tmp_path / "ckpts"
  v = tf.Variable(1.0)
  for step in (100, 200, 300):
    tf.train.Checkpoint(v=v).write(str(ckpt_dir / f"ckpt-{step}"))
  model = tmp_path / "production"
  model.mkdir()
  entry = {"version": 4, "spans": ["2014-01", "2014-02"],
           "checkpoint_path": str(ckpt_dir / "ckpt-200")}
  (model / production.PRODUCTION_FILE).write_text(json.dumps(entry))
  examples = tmp_path / "examples"
  examples.mkdir()
  (examples / "spans.json").write_text(json.dumps(
      {"data_dir": "d", "spans": ["2014-02", "2014-03"], "files": []}))
  return ckpt_dir, model, examples


def _choose(model, examples, **overrides):
  config = load_config(overrides={"trainer.train_steps": 1000, "trainer.num_checkpoints": 10,
                                  "retrain.warm_start_steps": 200, **overrides})
  said = []
  return warm_start.choose(config, str(model), str(examples), said.append), said


def test_fresh_spans_start_from_productions_checkpoint_with_the_warm_budget(run):
  ckpt_dir, model, examples = run
  start, said = _choose(model, examples, **{"retrain.warm_start_learning_rate": 0.0005})
  # The checkpoint production was exported from, not the run's last one.
  assert start.checkpoint == str(ckpt_dir / "ckpt-200")
  assert start.description == "production version 4, step 200"
  t = start.config.trainer
  # 200 more steps past production's 200, with checkpoints as often as a whole
  # run of 200 steps and 10 checkpoints would have them.
  assert (t.train_steps, t.train_steps // t.num_checkpoints) == (400, 20)
  assert t.resume_learning_rate == 0.0005
  assert "1 new span(s)" in said[0]


def test_production_minus_k_goes_back_k_checkpoints(run):
  ckpt_dir, model, examples = run
  start, _ = _choose(model, examples, **{"retrain.warm_start": "production-minus-1"})
  assert start.checkpoint == str(ckpt_dir / "ckpt-100")
  assert start.config.trainer.train_steps == 300


@pytest.mark.parametrize("damage, reason", [
    ("missing", "its checkpoint {dir}/ckpt-200 is missing"),
    ("corrupt", "its checkpoint {dir}/ckpt-200 is unreadable"),
    ("too_far", "has 1 earlier checkpoint(s), not 2"),
])
def test_a_missing_or_unreadable_checkpoint_falls_back_to_cold_and_says_why(run, damage, reason):
  ckpt_dir, model, examples = run
  overrides = {}
  if damage == "missing":
    for f in ckpt_dir.glob("ckpt-200.*"):
      f.unlink()
  elif damage == "corrupt":
    (ckpt_dir / "ckpt-200.index").write_bytes(b"not a checkpoint index")
  else:
    overrides["retrain.warm_start"] = "production-minus-2"
  start, said = _choose(model, examples, **overrides)
  assert start.checkpoint is None
  assert start.config.trainer.train_steps == 1000  # the cold budget
  assert start.description.startswith("cold (production version 4: ")
  assert reason.format(dir=ckpt_dir) in start.description
  assert said[0].startswith("WARNING: cannot warm-start from production version 4")


def test_no_fresh_span_is_a_rerun_on_its_own_checkpoints_and_cold_is_honoured(run):
  _, model, examples = run
  (examples / "spans.json").write_text(json.dumps(
      {"data_dir": "d", "spans": ["2014-01", "2014-02"], "files": []}))
  start, _ = _choose(model, examples)
  assert start.checkpoint is None
  assert start.description == ("its own checkpoints (no span that production version 4 "
                               "has not seen)")
  (examples / "spans.json").write_text(json.dumps(
      {"data_dir": "d", "spans": ["2014-03"], "files": []}))
  start, _ = _choose(model, examples, **{"retrain.warm_start": "cold"})
  assert (start.checkpoint, start.description) == (None, "cold (retrain.warm_start: cold)")


def test_no_production_model_starts_cold(run, tmp_path):
  _, _, examples = run
  empty = tmp_path / "none"
  empty.mkdir()
  (empty / production.PRODUCTION_FILE).write_text("{}")
  start, _ = _choose(empty, examples)
  assert (start.checkpoint, start.description) == (None, "cold (no production model)")


def test_remapped_embeddings_follow_their_categories(transformed, tmp_path):
  """A source run whose vocabulary lists the categories in another order, lacks
  one and has one this run does not: each row moves to its category's new id."""
  config, transform_dir, _ = transformed
  tft_output = tft.TFTransformOutput(str(transform_dir))
  column = config.features.categorical[0]
  name = f"{column}_vocab"
  new_vocab = tft_output.vocabulary_by_name(name)
  old_vocab = [b"gone"] + list(reversed(new_vocab[1:]))  # new_vocab[0] is new
  source = tmp_path / "source"
  (source / vocabularies.DIRECTORY).mkdir(parents=True)
  (source / vocabularies.DIRECTORY / name).write_bytes(b"".join(t + b"\n" for t in old_vocab))
  for other in config.features.categorical[1:]:  # unchanged vocabularies
    tf.io.gfile.copy(tft_output.vocabulary_file_by_name(f"{other}_vocab"),
                     str(source / vocabularies.DIRECTORY / f"{other}_vocab"))
  maps = vocabularies.row_maps(config, tft_output, str(source / "ckpt-10"))
  layer = f"{column}_xf_embedding"
  assert list(maps) == [layer]

  oov = config.transform.oov_buckets
  old_rows, new_rows = len(old_vocab) + oov, len(new_vocab) + oov
  old_table = keras.layers.Embedding(old_rows, 2, name=layer)
  new_table = keras.layers.Embedding(new_rows, 2, name=layer)
  old_table.build((None,))
  new_table.build((None,))
  old_table.embeddings.assign(np.arange(old_rows * 2, dtype="float32").reshape(old_rows, 2))
  fresh = new_table.embeddings.numpy()
  vocabularies.copy_remapped([new_table.embeddings], [old_table.embeddings], maps)
  got, old = new_table.embeddings.numpy(), old_table.embeddings.numpy()
  for new_id, token in enumerate(new_vocab):
    if token in old_vocab:
      assert (got[new_id] == old[old_vocab.index(token)]).all(), token
  assert (got[0] == fresh[0]).all()  # a category new to this run: fresh initial values
  for j in range(oov):  # OOV buckets hash alike in both runs
    assert (got[len(new_vocab) + j] == old[len(old_vocab) + j]).all()


def test_an_unexplained_shape_change_is_an_error_not_a_silent_mix(tmp_path):
  a = keras.Variable(np.zeros((3, 2)), name="kernel")
  b = keras.Variable(np.zeros((4, 2)), name="kernel")
  with pytest.raises(ValueError, match=r"shape \(4, 2\) differs from the checkpoint's \(3, 2\)"):
    vocabularies.copy_remapped([b], [a], {"company_xf_embedding": np.arange(4)})


def test_a_production_checkpoint_of_another_architecture_falls_back_to_cold(transformed,
                                                                            tmp_path):
  """The model changed since production was trained (here: its hidden layers), so
  production's checkpoint cannot be restored into it: the Trainer says why and
  trains cold, instead of failing every retraining until someone edits the config."""
  from components.trainer import data, executor
  from components.trainer.inputs import TrainInputs
  config, transform_dir, examples_dir = transformed
  tft_output = tft.TFTransformOutput(transform_dir)
  examples = tmp_path / "examples"  # the fixture's examples, with a window of spans
  examples.mkdir()
  for split in ("train", "eval"):
    (examples / f"Split-{split}").symlink_to(f"{examples_dir}/Split-{split}")
  (examples / "spans.json").write_text(json.dumps({"data_dir": "d", "spans": ["2"], "files": []}))
  train, evals = data.split_pattern(str(examples), "train"), data.split_pattern(str(examples), "eval")

  narrow = config.trainer.hyperparameters.model_copy(update={"hidden_units": (8,)})
  old = executor.train(TrainInputs(config, narrow, tft_output, train, evals, "",
                                   str(tmp_path / "logs" / "old"), progress=lambda _: None),
                       executor.Launch(str(tmp_path / "ckpt")))
  model = tmp_path / "production"
  model.mkdir()
  (model / production.PRODUCTION_FILE).write_text(json.dumps(
      {"version": 1, "spans": ["1"],
       "checkpoint_path": f"{old.checkpoint_dir}/ckpt-{old.final_step}"}))
  said = []
  record = executor.train(TrainInputs(config, config.trainer.hyperparameters, tft_output, train,
                                      evals, "", str(tmp_path / "logs" / "new"),
                                      progress=said.append),
                          executor.Launch(str(tmp_path / "ckpt"), production_model=str(model)))
  assert record.started_from == (f"cold (production version 1, step {old.final_step}: "
                                 f"the checkpoint does not fit this model)")
  assert (record.start_step, record.final_step) == (0, config.trainer.train_steps)
  assert any(s.startswith("WARNING: ") and s.endswith("starting cold") for s in said), said
