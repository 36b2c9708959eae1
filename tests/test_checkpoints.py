"""The checkpoints pattern with real processes and real kills: crash-safe resume,
fallback from a corrupt checkpoint, selection of the best checkpoint, early
stopping, retention and fine-tuning from an earlier checkpoint."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow_transform as tft

from components.checkpoint_evaluator import scoring
from components.trainer import checkpoints, data, loop, module
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


def test_sigkill_at_any_moment_loses_at_most_one_interval(transformed, tmp_path):
  config, transform_dir, examples_dir = transformed
  config = _with(config, train_steps=400, num_checkpoints=10)  # a checkpoint every 40 steps
  reference, _ = _finish(_job(config, transform_dir, examples_dir, tmp_path / "reference"))

  crashed = tmp_path / "crashed"
  proc = _job(config, transform_dir, examples_dir, crashed)
  deadline = time.monotonic() + 300
  while len(checkpoints.list_steps(str(crashed))) < 2:
    assert proc.poll() is None, "training ended before it could be killed"
    assert time.monotonic() < deadline
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  complete_at_kill = checkpoints.list_steps(str(crashed))[-1]

  resumed, out = _finish(_job(config, transform_dir, examples_dir, crashed))
  assert resumed["start_step"] >= complete_at_kill
  assert resumed["start_step"] % 40 == 0  # checkpoints land on epoch boundaries
  assert resumed["final_step"] == 400
  assert f"resumed from {crashed}/ckpt-{resumed['start_step']}" in out
  # Same seed, same batches per virtual epoch, full optimizer state: the resumed
  # run ends where the uninterrupted one did (tolerance: float reduction order).
  ref_eval = reference["history"][-1]["eval"]
  got_eval = resumed["history"][-1]["eval"]
  assert got_eval["loss"] == pytest.approx(ref_eval["loss"], abs=1e-3)
  assert got_eval["auc"] == pytest.approx(ref_eval["auc"], abs=1e-3)
  assert [h["step"] for h in resumed["history"]] == list(range(40, 401, 40))


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
  """Pure-noise labels, a wide model, no regularisation: eval loss first falls (the
  base rate is learnt), then rises (the noise is memorised)."""
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
  record = loop.TrainRecord(**_finish(_job(config, transform_dir, examples_dir,
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


def test_resume_from_an_earlier_checkpoint_with_a_new_learning_rate(transformed, tmp_path):
  config, transform_dir, examples_dir = transformed
  root = tmp_path / "checkpoints" / config.pipeline_name
  earlier = root / "earlier-run"
  _finish(_job(config, transform_dir, examples_dir, earlier))  # steps 20, 40, 60

  source = module.resolve_resume_from("40", str(root), exclude=str(root / "new"))
  assert source == str(earlier / "ckpt-40")
  assert module.resolve_resume_from("latest", str(root), str(root / "new")).endswith("ckpt-60")
  with pytest.raises(ValueError, match=r"checkpoints at steps \[20, 40, 60\]"):
    module.resolve_resume_from("30", str(root), str(root / "new"))

  tuned = _with(config, train_steps=100, resume_from="40", resume_learning_rate=0.0005)
  logs = []
  record = loop.train(tuned, tuned.trainer.hyperparameters, tft.TFTransformOutput(transform_dir),
                      data.split_pattern(examples_dir, "train"),
                      data.split_pattern(examples_dir, "eval"), str(root / "new"),
                      str(tmp_path / "logs"), progress=logs.append, warm_start=source)
  assert record.start_step == 40 and record.final_step == 100
  scale = config.trainer.per_replica_batch_size / config.trainer.base_batch_size
  assert record.learning_rate == pytest.approx(0.0005 * scale)
  assert record.resumed_from == source
  assert any(f"fine-tuning from {source} at step 40" in m for m in logs)
  # The new run has its own directory; the earlier run is untouched.
  assert checkpoints.list_steps(str(earlier)) == [20, 40, 60]
  assert checkpoints.list_steps(str(root / "new"))[-1] == 100
