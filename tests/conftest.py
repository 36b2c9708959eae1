"""Shared fixtures. The expensive one, `small_run`, runs the real pipeline once per
session on a 2,000-row slice of the embedded taxi data; several tests read it."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from components.csv_ingest import embedded_data  # noqa: E402
from components.config import load_config  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TPCTL = [sys.executable, "-m", "pipelines.cli"]

# Small but complete: a few hundred steps, three checkpoints. The shared run keeps
# the tuner's default search (4 trials of 300 steps): a rerun must resume with it.
SMALL_TRAINING = """\
trainer:
  train_steps: 300
  num_checkpoints: 3
"""
# For runs that test something other than the search.
ONE_TRIAL = """\
tuner:
  max_trials: 1
  steps_per_trial: 50
"""
SMALL_CONFIG = """\
run_dir: run
data:
  dir: data
""" + SMALL_TRAINING


# The longest files first (measured by `python -m bench.test_suite`): under
# pytest-xdist (`make test` runs two workers, --dist loadfile: a file's tests on
# one worker, so its module fixture runs once), the workers then finish together
# instead of one waiting for the last long file.
_LONGEST_FIRST = ["test_retraining.py", "test_pipeline_e2e.py", "test_flink_e2e.py",
                  "test_kubeflow_compiled.py",
                  "test_memorize_e2e.py", "test_transfer_e2e.py",
                  "test_tuner.py", "test_distributed.py", "test_shipped_configs.py",
                  "test_blessing.py",
                  "test_checkpoints.py", "test_own_csv_e2e.py", "test_user_headers_e2e.py",
                  "test_restored_learning_rate.py"]


# The files that read the session-wide `small_run`: they share a worker, so that it
# runs once rather than once per worker (see pytest_xdist_make_scheduler).
SMALL_RUN_FILES = {"test_pipeline_e2e.py", "test_blessing.py"}


def pytest_collection_modifyitems(items):
  rank = {name: i for i, name in enumerate(_LONGEST_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept
  strays = {item.path.name for item in items
            if "small_run" in item.fixturenames} - SMALL_RUN_FILES
  if strays:
    raise pytest.UsageError(f"add {', '.join(sorted(strays))} to SMALL_RUN_FILES in "
                            f"tests/conftest.py")


def pytest_xdist_make_scheduler(config, log):
  """`--dist loadfile` (what `make test` uses), with the SMALL_RUN_FILES as one
  unit. (xdist's own `loadgroup` does not group under pytest 9: the group it
  appends to a test's id is lost.)"""
  if config.getvalue("dist") != "loadfile":
    return None
  from xdist.scheduler import LoadScopeScheduling

  class FilesWithSharedRun(LoadScopeScheduling):
    def _split_scope(self, nodeid: str) -> str:
      path = nodeid.split("::", 1)[0]
      return "small_run" if os.path.basename(path) in SMALL_RUN_FILES else path

  return FilesWithSharedRun(config, log)


def write_config(directory: Path, text: str) -> Path:
  path = directory / "config.yaml"
  path.write_text(textwrap.dedent(text))
  return path


def run_tpctl(*args, cwd) -> subprocess.CompletedProcess:
  return subprocess.run([*TPCTL, *args], cwd=cwd, capture_output=True, text=True,
                        timeout=900, env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.fixture(scope="session")
def taxi_slice(tmp_path_factory) -> Path:
  """2,000 rows of the embedded data, with the big_tipper label."""
  return Path(embedded_data.materialize(tmp_path_factory.mktemp("taxi") / "data",
                                       max_rows=2000))


# Palmer penguins (palmerpenguins package, CC0 data): 344 rows, a string label with
# three classes, NA values, and no natural key column.
PENGUINS_CONFIG = """\
run_dir: run
data:
  dir: data
  split_key: null
task:
  type: multiclass
  label: species
evaluator:
  lower_bound: 0.8
features:
  numeric: [bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g]
  categorical: [island, sex]
  coordinates: []
"""


@pytest.fixture(scope="session")
def penguins_csv() -> Path:
  import palmerpenguins
  return Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, taxi_slice):
  """One real end-to-end `tpctl run` on the slice: (config, completed process)."""
  workdir = tmp_path_factory.mktemp("e2e")
  (workdir / "data").symlink_to(taxi_slice)
  config_path = write_config(workdir, SMALL_CONFIG)
  proc = run_tpctl("run", "--config", str(config_path), cwd=workdir)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return load_config(config_path), proc


@pytest.fixture(scope="session")
def transformed(tmp_path_factory, taxi_slice):
  """(config, TFTransformOutput dir, transformed examples dir) for the taxi slice."""
  from components.trainer import standalone_inputs
  config = load_config(overrides={"trainer.train_steps": 60, "trainer.num_checkpoints": 3,
                                  "trainer.per_replica_batch_size": 32})
  out = tmp_path_factory.mktemp("transformed")
  transform_dir, examples_dir = standalone_inputs.build(config, taxi_slice / "data.csv", out)
  return config, transform_dir, examples_dir
