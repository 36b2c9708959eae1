"""The model registry: TF Serving's versioned layout, atomic pushes, pruning and
rollback, checked with real SavedModels (loaded and called, as a server would)."""
from __future__ import annotations

import filecmp
import json
import os
import threading
import time

import pytest
import tensorflow as tf

from components.registry import store
from components.registry.store import Registry, RegistryError

WEIGHTS = (1.0, 2.0, 3.0, 4.0)


class _Constant(tf.Module):
  def __init__(self, weight: float):
    super().__init__()
    self.weight = tf.Variable(weight)  # a variable, so the model has variables/ files too

  @tf.function(input_signature=[])
  def serve(self):
    return {"weight": self.weight}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
  """{weight: SavedModel directory}, one tiny real model per weight."""
  out = {}
  for w in WEIGHTS:
    m = _Constant(w)
    path = str(tmp_path_factory.mktemp("savedmodel") / f"w{w:g}")
    tf.saved_model.save(m, path, signatures={"serving_default": m.serve})
    out[w] = path
  return out


def served(path: str) -> float:
  """What a server loading this version directory would answer."""
  loaded = tf.saved_model.load(path)
  return float(loaded.signatures["serving_default"]()["weight"].numpy())


def push(reg: Registry, model_dir: str, weight: float, keep: int = 10, **kw) -> store.Entry:
  return reg.push(model_dir, run_id=f"run-{weight:g}", metrics={"weight": weight, "auc": 0.5},
                  spans=[f"2024-0{int(weight)}", f"2024-0{int(weight) + 1}"],
                  checkpoint_step=100 * int(weight),
                  checkpoint_path=f"/ckpt/ckpt-{100 * int(weight)}", keep=keep, **kw)


def numbered_dirs(root) -> list:
  return sorted(int(n) for n in os.listdir(root) if n.isdigit())


def index_versions(root) -> list:
  with open(os.path.join(root, "index.json")) as f:
    return [e["version"] for e in json.load(f)["versions"]]


def hidden_leftovers(root) -> list:
  return [n for n in os.listdir(root) if n.startswith((".incoming-", ".trash-"))]


def test_push_numbers_versions_records_metadata_and_never_reuses(tmp_path, models):
  schema = tmp_path / "schema.pbtxt"
  schema.write_text("feature { name: 'x' }\n")
  reg = Registry(str(tmp_path / "reg"))
  assert reg.current() is None and reg.versions() == [] and reg.table() == []

  first = push(reg, models[1.0], 1.0, extra={"warm_start": None},
               extra_files={"assets.extra/schema.pbtxt": str(schema)})
  second = push(reg, models[2.0], 2.0)
  assert (first.version, second.version) == (1, 2)
  assert os.path.isfile(os.path.join(reg.path(1), "saved_model.pb"))
  assert os.path.isfile(os.path.join(reg.path(2), "saved_model.pb"))
  with open(os.path.join(reg.path(1), "assets.extra", "schema.pbtxt")) as f:
    assert f.read() == schema.read_text()
  e1 = reg.entry(1)
  assert e1.metrics == {"weight": 1.0, "auc": 0.5}
  assert e1.spans == ["2024-01", "2024-02"]
  assert (e1.checkpoint_step, e1.checkpoint_path) == (100, "/ckpt/ckpt-100")
  assert e1.run_id == "run-1" and e1.extra == {"warm_start": None} and e1.rollback_of is None
  assert e1.pushed_at.endswith("Z") and len(e1.pushed_at) == len("2024-01-01T00:00:00Z")
  assert reg.current().version == 2 and served(reg.path(2)) == 2.0
  # Only what TF Serving may see: numbered directories, plus dot-files it ignores.
  assert set(os.listdir(reg.root)) == {"1", "2", "index.json", ".lock"}

  push(reg, models[3.0], 3.0, keep=1)
  assert reg.versions() == [3]
  assert push(reg, models[4.0], 4.0, keep=1).version == 4  # not 1, 2 or 3 again
  assert reg.versions() == [4]


def test_keep_k_keeps_exactly_the_newest_k(tmp_path, models):
  reg = Registry(str(tmp_path))
  for i in range(5):
    push(reg, models[WEIGHTS[i % 4]], WEIGHTS[i % 4], keep=3)
  assert reg.versions() == [3, 4, 5]
  assert numbered_dirs(tmp_path) == [3, 4, 5]
  assert index_versions(tmp_path) == [3, 4, 5]
  assert hidden_leftovers(tmp_path) == []
  with pytest.raises(RegistryError, match="keep must be an integer >= 1"):
    push(reg, models[1.0], 1.0, keep=0)
  assert reg.versions() == [3, 4, 5]


def test_reader_loading_the_newest_version_never_fails_during_pushes(tmp_path, models,
                                                                    monkeypatch):
  """A reader loops tightly, loading whatever is newest, while pushes land and prune.

  Each copied file is slowed down so that a push lasts about as long as a load: a
  non-atomic push (files written straight into the numbered directory) fails here.
  Pacing: the next push waits until a load that *began* after the previous push has
  finished, so a version is never pruned (keep=2) under a load that picked it. That
  is the contract for any reader, TF Serving included: a version stays on disk for
  keep-1 further pushes. Everything else races freely."""
  real_copy = store._copy_file

  def slow_copy(src, dst):
    real_copy(src, dst)
    time.sleep(0.02)

  monkeypatch.setattr(store, "_copy_file", slow_copy)
  reg = Registry(str(tmp_path))
  push(reg, models[1.0], 1.0, keep=2)
  lock = threading.Condition()
  state = {"pushes": 0, "seen_after": -1, "stop": False, "pushing": False}
  loads, errors = [], []

  def reader():
    while True:
      with lock:
        if state["stop"]:
          return
        began_after = state["pushes"]
      try:
        # The registry's view, then TF Serving's (the highest number on disk; it
        # never reads the index): both must be complete and indexed.
        for version in (max(reg.versions()), max(numbered_dirs(tmp_path))):
          during_push = state["pushing"]
          value = served(reg.path(version))
          expected = reg.entry(version).metrics["weight"]
          loads.append((version, during_push))
          if value != expected:
            errors.append(f"version {version} served {value}, index says {expected}")
      except Exception as e:  # noqa: BLE001 - any failure is the finding
        errors.append(f"{type(e).__name__}: {e}")
      with lock:
        state["seen_after"] = began_after
        lock.notify_all()
      if errors:
        return

  thread = threading.Thread(target=reader, daemon=True)
  thread.start()
  try:
    for i in range(1, 9):
      w = WEIGHTS[i % 4]
      state["pushing"] = True
      push(reg, models[w], w, keep=2)
      state["pushing"] = False
      with lock:
        state["pushes"] = i
        assert lock.wait_for(lambda i=i: state["seen_after"] >= i or errors, timeout=20)
  finally:
    with lock:
      state["stop"] = True
    thread.join(timeout=20)
  assert errors == []
  assert len({v for v, _ in loads}) > 1
  assert sum(during for _, during in loads) >= 3  # the race really happened
  assert reg.versions() == [8, 9]
  assert hidden_leftovers(tmp_path) == []


def test_a_push_failing_mid_copy_leaves_no_trace(tmp_path, models, monkeypatch):
  reg = Registry(str(tmp_path))
  push(reg, models[1.0], 1.0)
  index_before = (tmp_path / "index.json").read_bytes()
  real_copy, copied = store._copy_file, []

  def failing_copy(src, dst):
    if len(copied) == 2:
      raise OSError(28, "No space left on device (injected)")
    real_copy(src, dst)
    copied.append(dst)

  monkeypatch.setattr(store, "_copy_file", failing_copy)
  with pytest.raises(OSError, match="injected"):
    push(reg, models[2.0], 2.0)
  assert len(copied) == 2 and all(".incoming-" in p for p in copied)  # it did fail midway
  assert numbered_dirs(tmp_path) == [1]
  assert hidden_leftovers(tmp_path) == []
  assert (tmp_path / "index.json").read_bytes() == index_before
  assert reg.current().version == 1 and served(reg.path(1)) == 1.0

  monkeypatch.setattr(store, "_copy_file", real_copy)
  assert push(reg, models[2.0], 2.0).version == 2


def test_rollback_republishes_an_old_version_as_the_newest(tmp_path, models):
  reg = Registry(str(tmp_path))
  for w in (1.0, 2.0, 3.0):
    push(reg, models[w], w)
  entry = reg.rollback(1, keep=10)
  assert entry.version == 4 and entry.rollback_of == 1
  assert reg.current() == entry
  old = reg.entry(1)
  assert (entry.metrics, entry.spans, entry.checkpoint_step, entry.checkpoint_path, entry.run_id) == \
      (old.metrics, old.spans, old.checkpoint_step, old.checkpoint_path, old.run_id)
  cmp = filecmp.dircmp(reg.path(1), reg.path(4))
  assert not cmp.left_only and not cmp.right_only and not cmp.diff_files
  assert filecmp.cmpfiles(os.path.join(reg.path(1), "variables"), os.path.join(reg.path(4), "variables"),
                          os.listdir(os.path.join(reg.path(1), "variables")), shallow=False)[1:] == ([], [])
  assert served(reg.path(max(reg.versions()))) == 1.0

  with pytest.raises(RegistryError) as unknown:
    reg.rollback(7, keep=10)
  assert str(unknown.value) == f"model registry {reg.root}: no version 7 (versions: 1, 2, 3, 4)"
  with pytest.raises(RegistryError) as current:
    reg.rollback(4, keep=10)
  assert "version 4 is already current" in str(current.value) and "\n" not in str(current.value)
  assert reg.versions() == [1, 2, 3, 4]


def test_an_entry_without_its_directory_is_skipped_and_its_number_not_reused(tmp_path, models):
  reg = Registry(str(tmp_path))
  push(reg, models[1.0], 1.0)
  push(reg, models[2.0], 2.0)
  # A push that crashed after writing the index and before the rename.
  index = json.loads((tmp_path / "index.json").read_text())
  index["versions"].append({**index["versions"][-1], "version": 3})
  (tmp_path / "index.json").write_text(json.dumps(index))
  (tmp_path / ".incoming-crashed").mkdir()
  (tmp_path / ".incoming-crashed" / "saved_model.pb").write_bytes(b"partial")

  assert reg.versions() == [1, 2] and [e.version for e in reg.entries()] == [1, 2]
  assert reg.current().version == 2
  with pytest.raises(RegistryError, match="no version 3"):
    reg.entry(3)

  assert push(reg, models[4.0], 4.0).version == 4
  assert reg.versions() == [1, 2, 4]
  assert hidden_leftovers(tmp_path) == []  # the crashed push's directory was cleaned up


def test_table_lists_newest_first_and_marks_the_current_version(tmp_path, models):
  reg = Registry(str(tmp_path))
  for w in (1.0, 2.0, 3.0):
    push(reg, models[w], w)
  reg.rollback(2, keep=10)
  header, *rows = reg.table()
  assert "version" in header and "metrics" in header
  assert [row[1:].split()[0] for row in rows] == ["4", "3", "2", "1"]  # col 0: the mark
  assert rows[0].startswith("*") and not any(r.startswith("*") for r in rows[1:])
  assert "rollback of 2" in rows[0] and "rollback of" not in "".join(rows[1:])
  assert "weight=2" in rows[0] and "2024-02..2024-03 (2)" in rows[0] and "step 200" in rows[0]


def test_a_remote_root_is_refused_with_the_reason():
  with pytest.raises(RegistryError) as err:
    Registry("gs://bucket/models")
  message = str(err.value)
  assert "gs://bucket/models" in message and "local" in message and "rename" in message
  assert "\n" not in message
