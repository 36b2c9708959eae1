"""Choosing Flink for the Beam steps, without a cluster: the config's checks, the
Beam arguments every step gets (locally and in the compiled Kubeflow pipeline),
and an unreachable cluster stopping a run before any step."""
from __future__ import annotations

import pytest
import yaml

from components.config import BeamConfig, ConfigError, load_config
from pipelines import beam_runner
from tests.conftest import REPO, run_tpctl

FLINK = {"beam.runner": "flink", "beam.address": "10.0.0.5:8081"}


@pytest.mark.parametrize("overrides, message", [
    ({"beam.runner": "flink"}, "beam.runner flink needs beam.address"),
    ({**FLINK, "beam.environment": "process"}, "'external', 'loopback' or 'docker'"),
    ({**FLINK, "beam.address": "flink.example.com"}, "beam.address 'flink.example.com' is not host:port"),
    ({**FLINK, "beam.worker_pool": "localhost"}, "beam.worker_pool 'localhost' is not host:port"),
    ({**FLINK, "beam.environment": "docker"}, "beam.environment docker needs beam.sdk_image"),
    ({**FLINK, "beam.parallelism": 0}, "beam.parallelism"),
    ({"beam.runner": "spark"}, "'direct' or 'flink'"),
])
def test_a_bad_beam_section_is_one_line_naming_the_key(overrides, message):
  with pytest.raises(ConfigError) as e:
    load_config(overrides=overrides)
  assert message in str(e.value) and "\n" not in str(e.value)


def test_flink_arguments_name_the_cluster_the_workers_and_the_run():
  beam = load_config(overrides={**FLINK, "beam.parallelism": 4,
                                "beam.extra_args": ["--max_parallelism=8"]}).beam
  choice = beam_runner.choose(beam, 10**12, job_name="tp-20261202-101500")
  args = choice.args()
  assert args[0] == "--runner=FlinkRunner"
  for expected in ("--flink_master=10.0.0.5:8081", "--job_endpoint=10.0.0.5:8099",
                   "--parallelism=4", "--job_name=tp-20261202-101500",
                   "--environment_type=EXTERNAL", "--environment_config=127.0.0.1:50000"):
    assert expected in args
  assert args[-1] == "--max_parallelism=8"  # extra args last, as given
  # The size-based choice of the direct runner does not apply.
  assert not any("direct" in a for a in args)
  assert "flink at 10.0.0.5:8081" in choice.describe()
  assert "parallelism 4" in choice.describe()


def test_each_environment_gets_its_own_arguments():
  loopback = beam_runner.choose(BeamConfig(runner="flink", address="h:1",
                                           environment="loopback"), 1).args()
  assert "--environment_type=LOOPBACK" in loopback
  assert not any(a.startswith("--environment_config") for a in loopback)
  docker = beam_runner.choose(BeamConfig(runner="flink", address="h:1", environment="docker",
                                         sdk_image="registry.example.com/tp:1"), 1).args()
  assert "--environment_config=registry.example.com/tp:1" in docker
  # The image has the code; only the local environments skip staging it.
  assert not any(a.startswith("--sdk_container_image") for a in docker)
  job_server = BeamConfig(runner="flink", address="h:8081", job_server="js:9000")
  assert "--job_endpoint=js:9000" in beam_runner.choose(job_server, 1).args()


def test_the_compiled_pipeline_sends_every_beam_step_to_flink(tmp_path):
  """With the shipped config for k8s/flink (whose names tests/test_k8s_flink.py ties
  to the manifests)."""
  config = REPO / "pipelines" / "configs" / "flink_on_kubernetes.yaml"
  out = tmp_path / "pipeline.yaml"
  proc = run_tpctl("compile", "--config", str(config), "-o", str(out), cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr[-2000:]
  spec = next(yaml.safe_load_all(out.read_text()))  # then the platform config
  executors = spec["deploymentSpec"]["executors"]
  flink_steps = {name for name, spec in executors.items()
                 if "--runner=FlinkRunner" in spec["container"].get("args", [])}
  # Ingest, StatisticsGen, Transform and the Evaluator (TFX passes the same Beam
  # arguments to every step; only these use them).
  for step in ("Ingest", "StatisticsGen", "Transform", "Evaluator"):
    assert any(step in name for name in flink_steps), (step, sorted(flink_steps))
  for name in flink_steps:
    args = executors[name]["container"]["args"]
    assert "--job_endpoint=training-patterns-beam-job-server:8099" in args
    assert "--environment_config=localhost:50000" in args
    assert "--job_name=training-patterns" in args
    assert not any("direct_running_mode" in a for a in args)


def test_an_unreachable_cluster_stops_the_run_before_any_step(tmp_path):
  proc = run_tpctl("run", "--run-dir", str(tmp_path / "run"), "--flink", "127.0.0.1:9",
                   cwd=tmp_path)
  assert proc.returncode == 2
  [line] = proc.stderr.strip().splitlines()
  assert "Flink at 127.0.0.1:9 does not answer" in line and "tpctl flink up" in line
  assert "[1/" not in proc.stdout  # no step started
  assert not (tmp_path / "run" / "pipeline_root").exists()
  assert not (tmp_path / "run" / "metadata.sqlite").exists()


def _job(jid, state, finished, start_ms=1_000_000, name="training-patterns"):
  return {"jid": jid, "name": name, "state": state, "start-time": start_ms,
          "tasks": {"finished": finished, "running": 4, "total": 80}}


def test_progress_inside_a_flink_step_says_how_far_the_job_is_and_when_it_restarts():
  from pipelines.flink.progress import JobProgress
  said, step = [], ["Transform"]
  watch = JobProgress("unused:1", "training-patterns", since_ms=1_000_000, say=said.append,
                      step=lambda: step[0], every_s=30)
  other = _job("e" * 32, "RUNNING", 1, name="someone-else")
  earlier = _job("d" * 32, "RUNNING", 1, start_ms=999_999)  # before this run
  watch.observe([other, earlier], now_ms=1_065_000, now=0)
  assert said == []  # neither is this run's
  watch.observe([_job("a" * 32, "RUNNING", 10)], now_ms=1_065_000, now=0)
  assert said == ["  Transform: flink job aaaaaaaa running 1m05s: 10/80 tasks done, 4 running"]
  watch.observe([_job("a" * 32, "RUNNING", 20)], now_ms=1_075_000, now=10)
  assert len(said) == 1  # progress, but within 30 s of the last line
  watch.observe([_job("a" * 32, "RESTARTING", 20)], now_ms=1_080_000, now=15)
  assert said[-1].startswith("  Transform: flink job aaaaaaaa restarting")  # at once
  watch.observe([_job("a" * 32, "RUNNING", 20)], now_ms=1_090_000, now=25)
  watch.observe([_job("a" * 32, "RUNNING", 20)], now_ms=1_200_000, now=120)
  assert len(said) == 3  # running again; then no progress, nothing to say
  watch.observe([_job("a" * 32, "RUNNING", 70)], now_ms=1_210_000, now=130)
  assert said[-1].endswith("70/80 tasks done, 4 running") and len(said) == 4
  step[0] = None  # between steps
  watch.observe([_job("b" * 32, "RUNNING", 1)], now_ms=1_300_000, now=200)
  watch.observe([_job("b" * 32, "FINISHED", 80)], now_ms=1_300_000, now=200)
  assert len(said) == 4
