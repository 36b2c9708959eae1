"""The Beam steps on a real Flink cluster (`tpctl flink up`: a JobManager, two
TaskManagers, the Beam job server and worker pool on 127.0.0.1), against the
direct runner on the same data: the same splits, statistics, schema and
transform. Then the cluster's own life: `up` twice starts nothing new, a killed
TaskManager is restarted by `up`, and `down` leaves no process behind.

One cluster for the file; if a developer's cluster was already up, it is used and
left up. Needs `make flink` (which `make test` runs)."""
from __future__ import annotations

import glob
import json
import os
import re
import socket
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from components.config import load_config
from pipelines.flink import cluster as cluster_lib, rest
from tests.conftest import REPO, SMALL_CONFIG, TPCTL, run_tpctl, write_config

pytestmark = pytest.mark.e2e

CLUSTER = cluster_lib.default_cluster()


def _status() -> dict:
  proc = run_tpctl("flink", "status", "--json", cwd=CLUSTER.state_dir.parent)
  return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def flink():
  """The cluster's status after `tpctl flink up` (started here unless it was up)."""
  was_up = CLUSTER.status()["ready"]
  proc = run_tpctl("flink", "up", "--json", cwd=CLUSTER.state_dir.parent.parent)
  assert proc.returncode == 0, proc.stderr[-2000:]
  yield json.loads(proc.stdout.splitlines()[-1]), was_up
  if was_up:  # as the developer had it
    run_tpctl("flink", "up", cwd=CLUSTER.state_dir.parent)
  else:
    run_tpctl("flink", "down", cwd=CLUSTER.state_dir.parent)


@pytest.fixture(scope="module")
def data_steps(flink, tmp_path_factory, taxi_slice):
  """The data steps (--until Transform) on the slice, once on Flink and once on the
  direct runner: {runner: (config, completed process)}."""
  out = {}
  for runner, extra in (("flink", ["--flink"]), ("direct", [])):
    workdir = tmp_path_factory.mktemp(f"steps-{runner}")
    (workdir / "data").symlink_to(taxi_slice)
    config_path = write_config(workdir, SMALL_CONFIG)
    proc = run_tpctl("run", "--config", str(config_path), "--until", "Transform", *extra,
                     cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out[runner] = (load_config(config_path), proc)
  return out


def _artifact(config, step: str, name: str) -> str:
  [uri] = glob.glob(os.path.join(config.pipeline_root, step, name, "*"))
  return uri


def _split_rows(examples_uri: str) -> dict[str, int]:
  counts = {}
  for split_dir in sorted(glob.glob(os.path.join(examples_uri, "Split-*"))):
    files = sorted(glob.glob(os.path.join(split_dir, "*")))
    counts[os.path.basename(split_dir)] = sum(
        1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))
  return counts


def _assert_same_transform(graph_a: str, graph_b: str, examples_uri: str) -> None:
  import tensorflow_transform as tft
  raw = next(iter(tf.data.TFRecordDataset(
      sorted(glob.glob(os.path.join(examples_uri, "Split-eval", "*"))),
      compression_type="GZIP").batch(256)))
  outputs = []
  for uri in (graph_a, graph_b):
    graph = tft.TFTransformOutput(uri)
    parsed = tf.io.parse_example(raw, graph.raw_feature_spec())
    # The Keras layer, as the Trainer applies it (a TF1 graph works eagerly too).
    outputs.append(graph.transform_features_layer()(parsed))
  assert outputs[0].keys() == outputs[1].keys() and outputs[0]
  for name in outputs[0]:
    a, b = (tf.sparse.to_dense(o[name]) if isinstance(o[name], tf.SparseTensor) else o[name]
            for o in outputs)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_the_data_steps_on_flink_match_the_direct_runner(data_steps):
  (flink_config, flink_run), (direct_config, _) = data_steps["flink"], data_steps["direct"]
  # Splits: the same rows in each (counted in the TFRecords themselves).
  flink_rows = _split_rows(_artifact(flink_config, "Ingest", "examples"))
  assert flink_rows == _split_rows(_artifact(direct_config, "Ingest", "examples"))
  assert sum(flink_rows.values()) == 2000 and len(flink_rows) == 2
  # Schema: the same features, each the same (Flink merges them in another order).
  from tensorflow_data_validation import load_schema_text
  features = [sorted((f.SerializeToString(deterministic=True) for f in load_schema_text(
      os.path.join(_artifact(c, "SchemaGen", "schema"), "schema.pbtxt")).feature))
      for c in (flink_config, direct_config)]
  assert features[0] == features[1] and len(features[0]) >= 10
  # Statistics: the same counts and means per split and feature.
  from tensorflow_data_validation import load_stats_binary
  for split in ("Split-train", "Split-eval"):
    stats = [load_stats_binary(os.path.join(_artifact(c, "StatisticsGen", "statistics"),
                                            split, "FeatureStats.pb")).datasets[0]
             for c in (flink_config, direct_config)]
    assert stats[0].num_examples == stats[1].num_examples > 0
    means = [{f.path.step[0]: f.num_stats.mean for f in s.features if f.HasField("num_stats")}
             for s in stats]
    assert means[0].keys() == means[1].keys() and means[0]
    for name, mean in means[0].items():
      assert mean == pytest.approx(means[1][name], rel=1e-6), name
  # Transform: both graphs turn the same raw examples into the same features.
  _assert_same_transform(_artifact(flink_config, "Transform", "transform_graph"),
                         _artifact(direct_config, "Transform", "transform_graph"),
                         _artifact(direct_config, "Ingest", "examples"))
  # The start-up line and the summary name the runner and the Flink jobs.
  assert "beam: flink at 127.0.0.1:8081" in flink_run.stdout
  assert "beam steps ran on: direct" not in flink_run.stdout
  # Inside each step (tens of seconds here), a line on its Flink job's progress.
  watched = set(re.findall(r"^  (\w+): flink job [0-9a-f]{8} [a-z]+ \d+m\d\ds: \d+/\d+ tasks done",
                           flink_run.stdout, re.M))
  assert {"Ingest", "StatisticsGen", "Transform"} <= watched, flink_run.stdout[-2000:]


def test_every_step_ran_as_a_flink_job_across_both_taskmanagers(data_steps, flink):
  status, _ = flink
  _, run = data_steps["flink"]
  jids = re.findall(r"^  ([0-9a-f]{32}) FINISHED", run.stdout, re.M)
  # Ingest, StatisticsGen, Transform: one Flink job each.
  assert len(jids) == 3, run.stdout[-2000:]
  registered = {tm["id"] for tm in rest.get(status["address"], "/taskmanagers")["taskmanagers"]}
  for jid in jids:
    job = rest.get(status["address"], f"/jobs/{jid}")
    assert job["state"] == "FINISHED"
    assert max(v["parallelism"] for v in job["vertices"]) == 2
    ran_on = set()
    for vertex in job["vertices"]:
      tms = rest.get(status["address"], f"/jobs/{jid}/vertices/{vertex['id']}/taskmanagers")
      ran_on.update(tm["taskmanager-id"] for tm in tms["taskmanagers"])
    assert len(ran_on) == 2 and ran_on <= registered, (jid, ran_on)
  # The direct run's summary names its runner instead.
  assert "beam steps ran on: direct" in data_steps["direct"][1].stdout


def _live_transform_graphs(config) -> int:
  from ml_metadata import metadata_store
  from ml_metadata.proto import metadata_store_pb2
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = config.metadata_path
  store = metadata_store.MetadataStore(connection)
  return sum(a.state == metadata_store_pb2.Artifact.LIVE
             for a in store.get_artifacts_by_type("TransformGraph"))


def _running_job(address: str, since_ms: int, timeout: float = 120) -> dict:
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    for job in rest.get(address, "/jobs/overview")["jobs"]:
      if job["start-time"] >= since_ms and job["state"] == "RUNNING":
        return job
    time.sleep(0.5)
  raise AssertionError("no Flink job started")


def test_a_taskmanager_killed_during_transform_loses_nothing(flink, data_steps):
  """Only Transform reruns (a changed transform setting that keeps the slice's
  vocabularies whole); one TaskManager is killed while its job runs. Flink's
  restart strategy recovers the job on the survivor's slots, or the step fails
  with one line, publishes nothing, and a rerun completes."""
  status, _ = flink
  config, _ = data_steps["flink"]
  workdir = config.run_path.parent
  config_path = workdir / "config-fault.yaml"
  config_path.write_text(SMALL_CONFIG + "transform:\n  vocab_size: 1001\n")
  live_before = _live_transform_graphs(config)
  command = [*TPCTL, "run", "--config", str(config_path), "--until", "Transform", "--flink"]
  env = {**os.environ, "PYTHONPATH": str(REPO)}
  proc = subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env)
  lines = []
  for line in proc.stdout:  # until Transform starts
    lines.append(line)
    if "] Transform ..." in line:
      break
  job = _running_job(status["address"], int(time.time() * 1000) - 1000)
  time.sleep(3)  # into the job's stages
  killed = CLUSTER.kill_taskmanager(1)
  rest_of_out, err = proc.communicate(timeout=600)
  out = "".join(lines) + rest_of_out
  # Only Transform ran again: the steps before it were reused.
  assert "Ingest cached" in out and "StatisticsGen cached" in out, out[-2000:]
  print(f"fault: the run exited {proc.returncode}")  # which branch (pytest -s)
  if proc.returncode == 0:  # recovered: the job failed over and finished
    history = rest.get(status["address"], f"/jobs/{job['jid']}/exceptions")
    assert history["exceptionHistory"]["entries"], "the kill caused no failover"
    assert rest.get(status["address"], f"/jobs/{job['jid']}")["state"] == "FINISHED"
  else:  # failed cleanly: one line, nothing published, and a rerun completes
    assert proc.returncode == 1 and err.strip().startswith("tpctl: error: Transform failed")
    assert len(err.strip().splitlines()) == 1
    assert _live_transform_graphs(config) == live_before
    run_tpctl("flink", "up", cwd=workdir)
    rerun = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=env,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
  assert _live_transform_graphs(config) == live_before + 1
  fault_config = load_config(str(config_path))
  graphs = sorted(glob.glob(os.path.join(fault_config.pipeline_root, "Transform",
                                         "transform_graph", "*")), key=os.path.getmtime)
  direct_config = data_steps["direct"][0]
  _assert_same_transform(graphs[-1], _artifact(direct_config, "Transform", "transform_graph"),
                         _artifact(direct_config, "Ingest", "examples"))
  # `up` restarts the killed TaskManager for the tests that follow.
  assert run_tpctl("flink", "up", cwd=workdir).returncode == 0
  assert CLUSTER.status()["pids"]["taskmanager-1"] not in (None, killed)


def test_up_twice_starts_nothing_and_status_is_honest(flink):
  before = _status()
  assert before["ready"] and all(before["pids"].values()) and len(before["pids"]) == 5
  again = run_tpctl("flink", "up", cwd=CLUSTER.state_dir.parent)
  assert again.returncode == 0 and "nothing started" in again.stdout
  assert _status()["pids"] == before["pids"]
  # A dead TaskManager: status says so (exit 1), and `up` starts just that one.
  killed = CLUSTER.kill_taskmanager(1)
  proc = run_tpctl("flink", "status", cwd=CLUSTER.state_dir.parent)
  assert proc.returncode == 1 and "NOT ready" in proc.stdout and "4/5 processes" in proc.stdout
  proc = run_tpctl("flink", "up", cwd=CLUSTER.state_dir.parent)
  assert proc.returncode == 0 and "started taskmanager-1\n" in proc.stdout
  after = _status()
  assert after["ready"] and after["pids"]["taskmanager-1"] not in (None, killed)
  assert {k: v for k, v in after["pids"].items() if k != "taskmanager-1"} == \
      {k: v for k, v in before["pids"].items() if k != "taskmanager-1"}


def test_down_leaves_no_process_and_no_open_port(flink):
  pids = _status()["pids"]
  groups = {name: cluster_lib.group_members(pid) for name, pid in pids.items()}
  assert all(groups.values())  # the pool's forkserver and workers are in its group
  proc = run_tpctl("flink", "down", cwd=CLUSTER.state_dir.parent)
  assert proc.returncode == 0
  for name, pid in pids.items():
    assert cluster_lib.group_members(pid) == [], name
  for port in (8081, 8099, 50000):
    with pytest.raises(OSError):
      socket.create_connection(("127.0.0.1", port), timeout=1).close()
  again = run_tpctl("flink", "down", cwd=CLUSTER.state_dir.parent)
  assert again.returncode == 0 and "nothing was running" in again.stdout
  status = run_tpctl("flink", "status", cwd=CLUSTER.state_dir.parent)
  assert status.returncode == 1 and "0/5 processes" in status.stdout
