"""Bad input: one clear line naming the file, column, line or split; exit code 2;
nothing written or pushed, no pipeline started, and TensorFlow never imported."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PENGUINS_CONFIG, REPO, run_tpctl, write_config


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


def _assert_clean_failure(proc, tmp_path: Path, *fragments: str,
                          wrote_nothing: bool = True) -> None:
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = [l for l in proc.stderr.splitlines() if l.startswith("tpctl: error:")]
  assert len(lines) == 1, proc.stderr[-2000:]
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  assert not (tmp_path / "run" / "serving").exists()
  assert not (tmp_path / "run" / "pipeline_root").exists()
  if wrote_nothing:  # the pre-flight runs before the run directory is made
    assert not (tmp_path / "run").exists()


def _penguins(tmp_path: Path, penguins_csv: Path, extra: str = "",
              data: bytes | None = None) -> Path:
  (tmp_path / "data").mkdir()
  (tmp_path / "data" / "penguins.csv").write_bytes(data or penguins_csv.read_bytes())
  return write_config(tmp_path, PENGUINS_CONFIG + extra)


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
  # This check lists checkpoints through TensorFlow, so it runs after the log is opened.
  _assert_clean_failure(proc, tmp_path, "resume_from '700'", "no earlier training run",
                        wrote_nothing=False)


def test_low_cardinality_split_key_stops_the_run_before_training(tmp_path, penguins_csv):
  """Split by island (3 values): the eval split would be empty or one island."""
  config = _penguins(tmp_path, penguins_csv)
  text = config.read_text().replace("split_key: null", "split_key: island")
  config.write_text(text)
  proc = run_tpctl("run", "--config", str(config), cwd=tmp_path)
  _assert_clean_failure(proc, tmp_path, "split 'eval'", "data.min_split_rows (50)",
                        "split key 'island' has only 3 distinct values", "split_key: null")


def test_latin1_file_is_refused_with_line_and_byte_offset(tmp_path, taxi_slice):
  config = _setup(tmp_path, taxi_slice)
  csv = tmp_path / "data" / "data.csv"
  lines = csv.read_bytes().split(b"\n")
  lines[3] = lines[3].replace(b",", b",Caf\xe9 ", 1)  # latin-1 e-acute on line 4
  csv.write_bytes(b"\n".join(lines))
  offset = sum(len(l) + 1 for l in lines[:3]) + lines[3].index(b"\xe9")
  proc = run_tpctl("run", "--config", str(config), cwd=tmp_path)
  _assert_clean_failure(proc, tmp_path, f"data.csv:4: not UTF-8: byte 0xe9 at byte "
                        f"offset {offset}")


def test_utf16_export_without_bom_is_refused(tmp_path, penguins_csv):
  config = _penguins(tmp_path, penguins_csv,
                     data=penguins_csv.read_text().encode("utf-16-le"))
  proc = run_tpctl("run", "--config", str(config), cwd=tmp_path)
  _assert_clean_failure(proc, tmp_path, "penguins.csv:1: NUL byte", "UTF-16")


def test_files_with_different_headers_are_refused(tmp_path, taxi_slice):
  config = _setup(tmp_path, taxi_slice)
  text = (tmp_path / "data" / "data.csv").read_text()
  (tmp_path / "data" / "more.csv").write_text(text.replace("company", "operator", 1))
  proc = run_tpctl("run", "--config", str(config), cwd=tmp_path)
  _assert_clean_failure(proc, tmp_path, "more.csv: header differs from", "data.csv",
                        "only in", "operator", "company")


def test_unclosed_quote_names_the_line(tmp_path, taxi_slice):
  config = _setup(tmp_path, taxi_slice)

  def open_a_quote(lines):
    lines[9] = lines[9].replace(",", ',"', 1)
  _edit_csv(tmp_path, open_a_quote)
  proc = run_tpctl("run", "--config", str(config), cwd=tmp_path)
  _assert_clean_failure(proc, tmp_path, "data.csv:10:", "is never closed", "unbalanced")


def test_check_reads_a_utf16_export_and_a_float_split_key(tmp_path, penguins_csv):
  """A spreadsheet's UTF-16 export (with its byte-order mark) is read, and a numeric
  column works as the split key; `tpctl check` shows what the run would see."""
  config = _penguins(tmp_path, penguins_csv, data=penguins_csv.read_text().encode("utf-16"))
  config.write_text(config.read_text().replace("split_key: null",
                                               "split_key: bill_length_mm"))
  proc = run_tpctl("check", "--config", str(config), cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  out = proc.stdout
  assert "data: 344 rows in 1 file(s)" in out
  assert "penguins.csv: 344 rows, UTF-16 LE" in out
  assert "splits: by a hash of column 'bill_length_mm'" in out
  assert "ok: a run would start with this data" in out
  assert not (tmp_path / "run").exists()


_NO_TF = """
import sys
from pipelines import cli
code = cli.main(sys.argv[1:])
heavy = sorted(m for m in ("tensorflow", "tfx", "apache_beam") if m in sys.modules)
print("exit", code, "imported", heavy)
"""


@pytest.mark.parametrize("case", ["config error", "data error", "check"])
def test_preflight_answers_without_importing_tensorflow(tmp_path, taxi_slice, case):
  config = _setup(tmp_path, taxi_slice, "trainer:\n  trian_steps: 10\n"
                  if case == "config error" else "")
  if case == "data error":
    _edit_csv(tmp_path, lambda lines: lines.__setitem__(3, lines[3] + ",extra"))
  command = "check" if case == "check" else "run"
  proc = subprocess.run([sys.executable, "-c", _NO_TF, command, "--config", str(config)],
                        cwd=tmp_path, capture_output=True, text=True, timeout=120,
                        env={**os.environ, "PYTHONPATH": str(REPO)})
  assert proc.stdout.splitlines()[-1] == (f"exit {0 if case == 'check' else 2} imported []")
  assert "tensorflow" not in proc.stderr.lower()  # no C++ start-up lines either


# -- A label that cannot be learned: one class, as the model would see it.

def test_a_binary_label_with_a_single_value_is_refused(tmp_path, taxi_slice):
  config = _setup(tmp_path, taxi_slice)
  header = (tmp_path / "data" / "data.csv").read_text().splitlines()[0].split(",")
  label = header.index("big_tipper")

  def every_trip_tips(lines):
    for i in range(1, len(lines)):
      cells = lines[i].split(",")
      if len(cells) == len(header):  # (a quoted comma would shift cells: none here)
        cells[label] = "1"
        lines[i] = ",".join(cells)
  _edit_csv(tmp_path, every_trip_tips)
  proc = run_tpctl("run", "--config", str(config), cwd=tmp_path)
  _assert_clean_failure(proc, tmp_path, "data.csv: label 'big_tipper' has a single value, "
                        "'1' (", "a binary task needs rows of both classes")


def test_a_binary_label_without_the_positive_value_is_refused(tmp_path, taxi_slice):
  config = _setup(tmp_path, taxi_slice, "task:\n  positive_class: 'yes'\n")
  proc = run_tpctl("run", "--config", str(config), cwd=tmp_path)
  _assert_clean_failure(proc, tmp_path, "data.csv: label 'big_tipper' never has the value "
                        "task.positive_class 'yes' (found '0' (", "'1' (",
                        "set task.positive_class")


def test_a_multiclass_label_with_a_single_class_is_refused(tmp_path, penguins_csv):
  lines = penguins_csv.read_text().splitlines()
  only_adelie = [lines[0]] + [l for l in lines[1:] if ",Adelie," in f",{l},"]
  config = _penguins(tmp_path, penguins_csv, data="\n".join(only_adelie).encode() + b"\n")
  proc = run_tpctl("run", "--config", str(config), cwd=tmp_path)
  _assert_clean_failure(proc, tmp_path, "penguins.csv: label 'species' has a single value, "
                        f"'Adelie' ({len(only_adelie) - 1} rows)",
                        "a multiclass task needs at least two classes")


def test_an_eval_split_of_one_class_is_refused_whatever_min_class_rows(tmp_path):
  """Both classes exist, but every positive row's key hashes into train: with
  min_class_rows 0 nothing else stops it, and on eval AUC would be undefined."""
  from components.csv_ingest import splits
  spec = splits.SplitSpec(buckets=(("train", 8), ("eval", 2)), key="id")
  splitter = splits.Splitter(spec, ["id", "x", "y"], ())
  rows, positives = [], 0
  for i in range(2000):
    to_train = splitter.split_of([f"k{i}", "", ""]) == 0
    label = 1 if to_train and positives < 100 else 0
    positives += label
    rows.append(f"k{i},{i % 7},{label}")
  (tmp_path / "data").mkdir()
  (tmp_path / "data" / "d.csv").write_text("id,x,y\n" + "\n".join(rows) + "\n")
  config = write_config(tmp_path, """\
      run_dir: run
      data: {dir: data, split_key: id, min_class_rows: 0}
      task: {label: y}
      features: {numeric: [x], categorical: [], coordinates: []}
      """)
  proc = run_tpctl("run", "--config", str(config), cwd=tmp_path)
  _assert_clean_failure(proc, tmp_path, "split 'eval' holds rows of one class only "
                        "('not 1': ", "no metric can judge a model on it")
