"""The code digest that keys TFX's cache for our steps: an edit reruns the steps
whose code it touches, and only those."""
from __future__ import annotations

import shutil

import pytest

from pipelines import code_version
from tests.conftest import REPO


@pytest.fixture()
def scratch_package(tmp_path, monkeypatch):
  """A copy of components/ that the digest reads instead of the real one."""
  shutil.copytree(REPO / "components", tmp_path / "components",
                  ignore=shutil.ignore_patterns("__pycache__"))
  monkeypatch.setattr(code_version, "_root", lambda: tmp_path)
  code_version.closure.cache_clear()
  yield tmp_path / "components"
  code_version.closure.cache_clear()


def test_a_step_depends_on_the_modules_it_imports_and_no_others():
  transform = code_version.closure("components.transform.executor")
  assert {"components.transform.executor", "components.features",
          "components.config"} <= set(transform)
  assert not any(m.startswith("components.trainer") for m in transform)
  trainer = code_version.closure("components.trainer.executor")
  assert {"components.trainer.loop", "components.trainer.checkpoints"} <= set(trainer)
  assert "components.transform.executor" not in trainer


def test_an_edit_changes_the_digest_of_the_steps_that_run_it(scratch_package):
  before = {m: code_version.digest(m) for m in ("components.transform.executor",
                                                "components.trainer.executor")}
  loop = scratch_package / "trainer" / "loop.py"
  loop.write_text(loop.read_text() + "\n# an edit\n")
  code_version.closure.cache_clear()
  assert code_version.digest("components.trainer.executor") != before["components.trainer.executor"]
  assert code_version.digest("components.transform.executor") == \
      before["components.transform.executor"]
