"""The checkpoints pattern with real processes and real kills: crash-safe resume,
fallback from a corrupt checkpoint, selection of the best checkpoint, early
stopping, retention and fine-tuning from an earlier checkpoint."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow_transform as tft

from components.checkpoint_evaluator import scoring
from components.trainer import checkpoint_dirs, checkpoints, data, loop
from components.trainer.inputs import TrainInputs
from components.trainer.train_record import TrainRecord
from components.config import PipelineConfig
from components.trainer import standalone_inputs
from tests.conftest import REPO


def _with(config: PipelineConfig, **trainer) -> PipelineConfig:
  return config.model_copy(update={"trainer": config.trainer.model_copy(update=trainer)})


def _job(config, transform_dir, examples_dir, ckpt_dir) -> subprocess.Popen:
  return subprocess.Popen(
      [sys.executable, "-m", "tests.train_job", config.to_json(), transform_dir, examples_dir,
       str(ckpt_dir)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
      env={**os.environ, "PYTHONPATH": str(REPO)})


def _finish(proc) -> tuple[dict, str]:
  out, _ = proc.communicate(timeout=600)
  assert proc.returncode == 0, out[-3000:]
  record = json.loads(out.split("RECORD ", 1)[1])
  return record, out


@pytest.fixture(scope="module")
def reference_run(transformed, tmp_path_factory):
  """An uninterrupted run of 400 steps with a checkpoint every 40."""
  config, transform_dir, examples_dir = transformed
  config = _with(config, train_steps=400, num_checkpoints=10)
  record, _ = _finish(_job(config, transform_dir, examples_dir,
                           tmp_path_factory.mktemp("reference") / "ckpt"))
  return config, record


def _kill_when(proc, crashed, moment, epoch_seconds: float = 0.0) -> None:
  """SIGKILL the training process at `moment`: `(epochs, fraction)` kills it `fraction`
  of an epoch after it reports `epochs` finished epochs; "during a checkpoint write"
  kills it the instant TF is seen writing into `ckpt-N_temp/`."""
  deadline = time.monotonic() + 300
  if isinstance(moment, tuple):
    epochs, fraction = moment
    while "training from step" not in proc.stdout.readline():
      assert proc.poll() is None, "training ended before it could be killed"
    for _ in range(epochs):
      while not proc.stdout.readline().startswith("step "):
        assert proc.poll() is None, "training ended before it could be killed"
    time.sleep(fraction * epoch_seconds)
  else:
    while not any(n.endswith("_temp") for n in (os.listdir(crashed) if crashed.is_dir()
                                                  else [])):
      assert proc.poll() is None, "training ended before a checkpoint write was seen"
      assert time.monotonic() < deadline
  assert proc.poll() is None, "training ended before it could be killed"
  proc.send_signal(signal.SIGKILL)
  proc.wait()


@pytest.mark.parametrize("moment", ["random", "during a checkpoint write"])
def test_sigkill_at_any_moment_loses_at_most_one_interval(transformed, reference_run,
                                                           tmp_path, moment):
  _, transform_dir, examples_dir = transformed
  config, reference = reference_run
  # A random moment of the training loop, seeded per run and printed on failure so
  # that it can be replayed: after 0-8 of the 10 epochs, then up to half an epoch
  # more. Counting epochs from the job's own progress lines (rather than seconds of
  # the reference run) keeps the kill inside the loop however fast this run goes.
  seed = int(os.environ.get("KILL_SEED", time.time_ns() % 10**6))
  rng = random.Random(seed)
  at = (rng.randrange(0, 9), rng.uniform(0.0, 0.5)) if moment == "random" else moment
  crashed = tmp_path / "crashed"
  proc = _job(config, transform_dir, examples_dir, crashed)
  _kill_when(proc, crashed, at, reference["seconds"] / 10)
  complete_at_kill = (checkpoints.list_steps(str(crashed)) or [0])[-1]
  cut_off = [n for n in os.listdir(crashed) if n.endswith("_temp")] if crashed.is_dir() else []

  resumed, out = _finish(_job(config, transform_dir, examples_dir, crashed))
  when = (f"{at[1]:.2f} of an epoch after epoch {at[0]}, KILL_SEED={seed}"
          if moment == "random" else moment)
  where = f"(killed {when}; {len(cut_off)} write(s) cut off)"
  print(where)  # with -s: which moment this run hit
  assert resumed["start_step"] == complete_at_kill, where
  assert resumed["start_step"] % 40 == 0, where  # checkpoints land on epoch boundaries
  assert resumed["final_step"] == 400, where
  if complete_at_kill:
    assert f"resumed from {crashed}/ckpt-{complete_at_kill}" in out, where
  for name in cut_off:  # a write the kill cut off is reported and cleared
    assert f"{name} is a checkpoint write cut off by a crash" in out, where
    assert not (crashed / name).exists(), where
  # Same seed, same batches per virtual epoch, full optimizer state: the resumed
  # run ends where the uninterrupted one did (tolerance: float reduction order).
  ref_eval = reference["history"][-1]["eval"]
  got_eval = resumed["history"][-1]["eval"]
  assert got_eval["loss"] == pytest.approx(ref_eval["loss"], abs=1e-3), where
  assert got_eval["auc"] == pytest.approx(ref_eval["auc"], abs=1e-3), where
  assert [h["step"] for h in resumed["history"]] == list(range(40, 401, 40)), where


def test_corrupt_newest_checkpoint_falls_back_to_the_previous(transformed, tmp_path):
  config, transform_dir, examples_dir = transformed
  first, _ = _finish(_job(config, transform_dir, examples_dir, tmp_path / "ckpt"))
  assert first["final_step"] == 60
  data_file = tmp_path / "ckpt" / "ckpt-60.data-00000-of-00001"
  data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 3])
  # What a kill during a checkpoint write leaves behind (TF writes into <prefix>_temp).
  partial = tmp_path / "ckpt" / "ckpt-80_temp"
  partial.mkdir()
  (partial / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 100)

  second, out = _finish(_job(config, transform_dir, examples_dir, tmp_path / "ckpt"))
  assert "ckpt-80_temp is a checkpoint write cut off by a crash" in out
  assert not partial.exists()
  assert "WARNING: checkpoint" in out and "ckpt-60 is unreadable" in out
  assert second["start_step"] == 40 and second["final_step"] == 60
  assert (tmp_path / "ckpt" / "corrupt-ckpt-60.index").exists()
  assert checkpoints.list_steps(str(tmp_path / "ckpt")) == [20, 40, 60]


def test_selection_picks_the_eval_minimum_of_an_overfitting_run(taxi_slice, tmp_path):
  """Pure-noise labels, a wide model, no regularization: eval loss first falls (the
  base rate is learnt), then rises (the noise is memorized)."""
  rng = np.random.default_rng(0)
  lines = (taxi_slice / "data.csv").read_text().splitlines()
  header = lines[0].split(",")
  li = header.index("big_tipper")
  noisy = [lines[0]]
  for line in lines[1:]:
    cells = line.split(",")
    cells[li] = str(int(rng.random() < 0.3))
    noisy.append(",".join(cells))
  (tmp_path / "noisy.csv").write_text("\n".join(noisy) + "\n")
  from components.config import load_config
  config = load_config(overrides={
      "trainer.train_steps": 1500, "trainer.num_checkpoints": 15,
      "trainer.per_replica_batch_size": 64, "trainer.base_batch_size": 64,
      "trainer.hyperparameters.learning_rate": 0.01,
      "trainer.hyperparameters.hidden_units": [256, 256],
      "trainer.hyperparameters.embedding_dim": 16})
  transform_dir, examples_dir = standalone_inputs.build(config, tmp_path / "noisy.csv", tmp_path)
  tft_output = tft.TFTransformOutput(transform_dir)
  record = TrainRecord(**_finish(_job(config, transform_dir, examples_dir,
                                      tmp_path / "ckpt"))[0])
  scores = scoring.score(config, record, tft_output, data.split_pattern(examples_dir, "eval"),
                         progress=lambda _: None)
  losses = [s.metrics["loss"] for s in scores]
  chosen = scoring.select(scores, "loss", "min")
  assert chosen.metrics["loss"] == min(losses)
  assert chosen.step != scores[-1].step, f"eval loss never rose: {losses}"
  assert losses[-1] > chosen.metrics["loss"] + 0.02, losses


def test_early_stopping_records_why_and_a_rerun_does_not_continue(transformed, tmp_path):
  config, transform_dir, examples_dir = transformed
  config = _with(config, train_steps=400, num_checkpoints=20,
                 early_stopping={"enabled": True, "patience": 1, "min_delta": 10.0})
  record, out = _finish(_job(config, transform_dir, examples_dir, tmp_path / "ckpt"))
  # min_delta 10 cannot be met: it stops after `patience` checkpoints.
  assert record["final_step"] == 40 and record["stopped_early"]["step"] == 40
  assert "did not improve by more than 10.0" in record["stopped_early"]["reason"]
  assert "early stopping at step 40" in out
  again, out = _finish(_job(config, transform_dir, examples_dir, tmp_path / "ckpt"))
  assert again["final_step"] == 40 and "training had stopped early at step 40" in out


def test_retention_keeps_the_newest_k_and_the_best(transformed, tmp_path):
  config, transform_dir, examples_dir = transformed
  config = _with(config, train_steps=120, num_checkpoints=6, keep_checkpoints=2)
  record, _ = _finish(_job(config, transform_dir, examples_dir, tmp_path / "ckpt"))
  best = min(record["history"], key=lambda h: h["eval"]["loss"])["step"]
  assert checkpoints.list_steps(str(tmp_path / "ckpt")) == sorted({best, 100, 120})


def test_retention_keeps_an_old_best_checkpoint(tmp_path):
  """When the best checkpoint is older than the newest K, it is kept as well."""
  import tensorflow as tf
  step = tf.Variable(0, dtype=tf.int64)
  store = checkpoints.CheckpointStore(str(tmp_path), tf.train.Checkpoint(step=step), step)
  for s in range(10, 70, 10):
    step.assign(s)
    store.save(s)
  assert store.retain(keep_last=2, protect={20}) == [10, 30, 40]
  assert checkpoints.list_steps(str(tmp_path)) == [20, 50, 60]
  assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-60")


def test_resume_from_an_earlier_checkpoint_with_a_new_learning_rate(transformed, tmp_path):
  config, transform_dir, examples_dir = transformed
  root = tmp_path / "checkpoints" / config.pipeline_name
  earlier = root / "earlier-run"
  _finish(_job(config, transform_dir, examples_dir, earlier))  # steps 20, 40, 60

  source = checkpoint_dirs.resolve_resume_from("40", str(root), exclude=str(root / "new"))
  assert source == str(earlier / "ckpt-40")
  assert checkpoint_dirs.resolve_resume_from("latest", str(root),
                                             str(root / "new")).endswith("ckpt-60")
  with pytest.raises(ValueError, match=r"checkpoints at steps \[20, 40, 60\]"):
    checkpoint_dirs.resolve_resume_from("30", str(root), str(root / "new"))

  tuned = _with(config, train_steps=100, resume_from="40", resume_learning_rate=0.0005)
  logs = []
  record = loop.train(TrainInputs(
      tuned, tuned.trainer.hyperparameters, tft.TFTransformOutput(transform_dir),
      data.split_pattern(examples_dir, "train"), data.split_pattern(examples_dir, "eval"),
      str(root / "new"), str(tmp_path / "logs"), progress=logs.append, warm_start=source))
  assert record.start_step == 40 and record.final_step == 100
  scale = config.trainer.per_replica_batch_size / config.trainer.base_batch_size
  assert record.learning_rate == pytest.approx(0.0005 * scale)
  assert record.resumed_from == source
  assert any(f"fine-tuning from {source} at step 40" in m for m in logs)
  # The new run has its own directory; the earlier run is untouched.
  assert checkpoints.list_steps(str(earlier)) == [20, 40, 60]
  assert checkpoints.list_steps(str(root / "new"))[-1] == 100
