"""Bad input: one clear line naming the file, column or value; exit code 2;
nothing pushed and no pipeline started."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import run_tpctl, write_config


def _setup(tmp_path: Path, taxi_slice: Path, extra: str = "") -> Path:
  data = tmp_path / "data"
  data.mkdir()
  shutil.copy(taxi_slice / "data.csv", data / "data.csv")
  return write_config(tmp_path, f"run_dir: run\ndata:\n  dir: data\n{extra}")


def _edit_csv(tmp_path: Path, edit) -> None:
  """Applies edit(lines) to the copied data.csv, in place."""
  csv = tmp_path / "data" / "data.csv"
  lines = csv.read_text().splitlines()
  edit(lines)
  csv.write_text("\n".join(lines) + "\n")


def _assert_clean_failure(proc, tmp_path: Path, *fragments: str) -> None:
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = [l for l in proc.stderr.splitlines() if l.startswith("tpctl: error:")]
  assert len(lines) == 1, proc.stderr[-2000:]
  for fragment in fragments:
    assert fragment in lines[0]
  assert not (tmp_path / "run" / "serving").exists()
  assert not (tmp_path / "run" / "pipeline_root").exists()


def test_missing_data_directory(tmp_path):
  config = write_config(tmp_path, "run_dir: run\ndata:\n  dir: nowhere\n")
  proc = run_tpctl("run", "--config", str(config), cwd=tmp_path)
  _assert_clean_failure(proc, tmp_path, "nowhere", "does not exist")


def test_empty_csv(tmp_path, taxi_slice):
  config = _setup(tmp_path, taxi_slice)
  (tmp_path / "data" / "data.csv").write_text("")
  proc = run_tpctl("run", "--config", str(config), cwd=tmp_path)
  _assert_clean_failure(proc, tmp_path, "data.csv", "empty")


def test_csv_without_label_column(tmp_path, taxi_slice):
  config = _setup(tmp_path, taxi_slice)

  def rename_label(lines):
    lines[0] = lines[0].replace("big_tipper", "tipped")
  _edit_csv(tmp_path, rename_label)
  proc = run_tpctl("run", "--config", str(config), cwd=tmp_path)
  _assert_clean_failure(proc, tmp_path, "data.csv", "label column 'big_tipper'")


def test_non_numeric_value_in_numeric_column(tmp_path, taxi_slice):
  config = _setup(tmp_path, taxi_slice)

  def spoil_fare(lines):
    cells = lines[5].split(",")
    cells[lines[0].split(",").index("fare")] = "twelve"
    lines[5] = ",".join(cells)
  _edit_csv(tmp_path, spoil_fare)
  proc = run_tpctl("run", "--config", str(config), cwd=tmp_path)
  _assert_clean_failure(proc, tmp_path, "data.csv:6", "'fare'", "'twelve'")


@pytest.mark.parametrize("extra, fragment", [
    ("trainer:\n  trian_steps: 10\n", "unknown key 'trainer.trian_steps'"),
    ("colour: blue\n", "unknown key 'colour'"),
])
def test_unknown_config_key(tmp_path, taxi_slice, extra, fragment):
  config = _setup(tmp_path, taxi_slice, extra)
  proc = run_tpctl("run", "--config", str(config), cwd=tmp_path)
  _assert_clean_failure(proc, tmp_path, "config.yaml", fragment)


def test_resume_from_a_step_that_no_earlier_run_has(tmp_path, taxi_slice):
  config = _setup(tmp_path, taxi_slice)
  proc = run_tpctl("run", "--config", str(config), "--resume-from", "700", cwd=tmp_path)
  _assert_clean_failure(proc, tmp_path, "resume_from '700'", "no earlier training run")
