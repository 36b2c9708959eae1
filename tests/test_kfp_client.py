"""tpctl submit / schedule / unschedule against a recording stand-in for the KFP API.

There is no Kubeflow backend here: tests/fakes/kfp_server.py answers the REST calls
that the real kfp.Client (not mocked) makes, and the tests check what would reach a
real server: paths, query strings, JSON bodies and the Authorization header.
"""
from __future__ import annotations

import json
import socket
import time

import kfp
import pytest

from pipelines import cli
from pipelines.kubeflow import client
from pipelines.kubeflow import cron as cron_check
from pipelines.kubeflow import kfp_api
from tests.fakes.kfp_server import API, FakeKfp

PIPELINE_TASKS = {"Ingest", "ProductionModel", "DriftGate", "StatisticsGen", "SchemaGen",
                  "Transform", "Tuner", "Trainer", "CheckpointEvaluator", "Evaluator", "Pusher"}
TOKEN = "test-token-3f9a0c"  # must reach the server, never the console
KFP_ENV = ("KFP_HOST", "KFP_TOKEN", "KFP_COOKIES", "KFP_CA_CERT", "KF_PIPELINES_ENDPOINT",
           "KF_PIPELINES_UI_ENDPOINT", "KF_PIPELINES_DEFAULT_EXPERIMENT_NAME",
           "KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME", "KF_PIPELINES_IAP_OAUTH2_CLIENT_ID",
           "KF_PIPELINES_APP_OAUTH2_CLIENT_ID", "KF_PIPELINES_APP_OAUTH2_CLIENT_SECRET")


@pytest.fixture(scope="session")
def package(tmp_path_factory):
  """The default config compiled once (TensorFlow import included: ~20 s)."""
  from components.config import load_config
  from pipelines.kubeflow.compiler import compile_pipeline
  return str(compile_pipeline(load_config(),
                              tmp_path_factory.mktemp("kfp") / "pipeline.yaml"))


@pytest.fixture(autouse=True)
def kfp_environment(monkeypatch, tmp_path):
  for name in KFP_ENV:
    monkeypatch.delenv(name, raising=False)
  # kfp.Client also reads a namespace and auth cookie from ~/.config/kfp/context.json;
  # point it at a file that does not exist, so a developer's own stays out of tests.
  monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "context.json"))


@pytest.fixture
def server():
  with FakeKfp() as fake:
    yield fake


def tpctl(capsys, *args):
  code = cli.main([str(a) for a in args])
  captured = capsys.readouterr()
  return code, captured.out, captured.err


def one_line_error(err: str) -> str:
  lines = err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("tpctl: error: "), err
  return lines[0]


# --- submit ------------------------------------------------------------------------

def test_submit_sends_spec_parameters_root_and_experiment(capsys, monkeypatch, server,
                                                          package):
  monkeypatch.setenv("KFP_TOKEN", TOKEN)
  code, out, err = tpctl(
      capsys, "submit", "--host", server.url, "--package", package, "--namespace",
      "team-a", "--experiment", "nightly", "--pipeline-root",
      "minio://mlpipeline/v2/artifacts", "--train-steps", 500, "--serving-dir",
      "/mnt/serving/taxi", "--run-name", "first")
  assert code == 0, err
  # With a namespace there is no health check: look up, create, run; nothing else.
  assert server.route() == [("GET", f"{API}/experiments"), ("POST", f"{API}/experiments"),
                            ("POST", f"{API}/runs")]
  lookup, create, run = server.requests
  assert lookup.query["namespace"] == "team-a"
  assert json.loads(lookup.query["filter"])["predicates"][0]["stringValue"] == "nightly"
  assert create.body == {"display_name": "nightly", "namespace": "team-a",
                         "description": create.body["description"]}
  [experiment_id] = server.experiments

  body = run.body
  assert body["experiment_id"] == experiment_id
  assert body["display_name"] == "first"
  spec = body["pipeline_spec"]
  assert set(spec) == {"pipeline_spec", "platform_spec"}
  tasks = spec["pipeline_spec"]["root"]["dag"]["tasks"]
  assert set(tasks) == PIPELINE_TASKS
  assert spec["pipeline_spec"]["pipelineInfo"]["name"] == "training-patterns"
  executors = spec["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
  assert set(executors) == {f"{t}_executor" for t in PIPELINE_TASKS}
  assert executors["Trainer_executor"]["tolerations"][0]["key"] == "nvidia.com/gpu"
  # Only the parameters given; data_dir keeps its compiled default.
  assert body["runtime_config"] == {
      "pipeline_root": "minio://mlpipeline/v2/artifacts",
      "parameters": {"train_args": '{"num_steps": 500}',
                     "push_destination":
                     '{"filesystem": {"base_directory": "/mnt/serving/taxi"}}'}}

  assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {TOKEN}"}
  [run_id] = server.runs
  assert f"id {run_id}" in out
  assert f"run details: {server.url}/#/runs/details/{run_id}" in out
  assert TOKEN not in out + err


def test_submit_without_token_reuses_the_experiment_and_sends_no_authorization(
    capsys, server, package):
  experiment_id = server.add_experiment("training-patterns")
  code, _out, err = tpctl(capsys, "submit", "--host", server.url, "--package", package,
                         "--data-dir", "/mnt/data/taxi")
  assert code == 0, err
  # No namespace: kfp asks /healthz whether the deployment is multi-user.
  assert server.route() == [("GET", f"{API}/healthz"), ("GET", f"{API}/experiments"),
                            ("POST", f"{API}/runs")]
  assert all("authorization" not in r.headers for r in server.requests)
  run = server.calls("POST", f"{API}/runs")[0].body
  assert run["experiment_id"] == experiment_id
  assert run["display_name"].startswith("training-patterns ")
  assert run["runtime_config"] == {"parameters": {"data_dir": "/mnt/data/taxi"}}


def test_submit_compiles_the_config_when_no_package_is_given(capsys, server, tmp_path,
                                                             package):
  # `package` first: TensorFlow is then imported already and compiling again is quick.
  config = tmp_path / "config.yaml"
  config.write_text("pipeline_name: churn\ntuner:\n  enabled: false\n")
  code, out, err = tpctl(capsys, "submit", "--host", server.url, "--config", config,
                         "--image", "registry.test/tp:7", "--namespace", "ns")
  assert code == 0, err
  assert "compiling the pipeline (image registry.test/tp:7)" in out
  spec = server.calls("POST", f"{API}/runs")[0].body["pipeline_spec"]["pipeline_spec"]
  assert spec["pipelineInfo"]["name"] == "churn"
  assert set(spec["root"]["dag"]["tasks"]) == PIPELINE_TASKS - {"Tuner"}
  images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
  assert images == {"registry.test/tp:7"}
  # The experiment defaults to the pipeline name.
  assert server.calls("POST", f"{API}/experiments")[0].body["display_name"] == "churn"


@pytest.mark.parametrize("args, expected", [
    (["--train-steps", "5"], "--train-steps 5: must be at least trainer.num_checkpoints"),
    (["--data-dir", "data/taxi"],
     "--data-dir 'data/taxi': give the directory as the pipeline's pods"),
    (["--serving-dir", "serving"], "--serving-dir 'serving': give the directory"),
])
def test_submit_rejects_bad_run_parameters_before_any_request(capsys, server, package,
                                                              args, expected):
  code, _out, err = tpctl(capsys, "submit", "--host", server.url, "--package", package,
                         *args)
  assert code == 2
  assert expected in one_line_error(err)
  assert server.requests == []


def test_submit_rejects_a_package_without_our_parameters(capsys, server, tmp_path):
  other = tmp_path / "other.yaml"
  other.write_text("pipelineInfo: {name: other}\nschemaVersion: 2.1.0\n"
                   "deploymentSpec: {}\nroot:\n  dag: {tasks: {}}\n")
  code, _out, err = tpctl(capsys, "submit", "--host", server.url, "--package", other,
                         "--train-steps", 500)
  assert code == 2
  assert "the pipeline has no parameter 'train_args'" in one_line_error(err)
  assert server.requests == []


def test_unreachable_host_is_one_line_and_exit_1(capsys, package):
  with socket.socket() as s:  # a port nothing listens on
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  code, _out, err = tpctl(capsys, "submit", "--host", f"http://127.0.0.1:{port}",
                         "--package", package)
  assert code == 1
  line = one_line_error(err)
  assert line.startswith(f"tpctl: error: http://127.0.0.1:{port}: connecting: "
                         f"cannot connect (Connection refused)"), line


def test_http_error_from_the_server_is_one_line_and_exit_1(capsys, monkeypatch, server,
                                                           package):
  monkeypatch.setenv("KFP_TOKEN", TOKEN)
  server.failures[("POST", f"{API}/runs")] = (403, "user is not authorized to create runs")
  code, out, err = tpctl(capsys, "submit", "--host", server.url, "--package", package,
                         "--namespace", "team-a")
  assert code == 1
  assert one_line_error(err) == (
      f"tpctl: error: {server.url}: creating the run: HTTP 403 Forbidden: user is not "
      f"authorized to create runs (credentials: $KFP_TOKEN, $KFP_COOKIES or kubeconfig)")
  assert TOKEN not in out + err


def test_no_host_and_no_kubeconfig_is_a_usage_error(capsys, monkeypatch, tmp_path,
                                                    package):
  monkeypatch.setenv("HOME", str(tmp_path))
  monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
  monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
  code, _out, err = tpctl(capsys, "submit", "--package", package)
  assert code == 2
  assert "no Kubeflow Pipelines endpoint: give --host URL or set $KFP_HOST" in \
      one_line_error(err)


def test_host_from_the_environment(capsys, monkeypatch, server, package):
  monkeypatch.setenv("KFP_HOST", server.url)
  code, _out, err = tpctl(capsys, "submit", "--package", package, "--namespace", "ns")
  assert code == 0, err
  assert len(server.calls("POST", f"{API}/runs")) == 1


# --- schedule -------------------------------------------------------------------------

def test_schedule_creates_the_recurring_run(capsys, monkeypatch, server, package):
  monkeypatch.setenv("KFP_TOKEN", TOKEN)
  code, out, err = tpctl(capsys, "schedule", "--host", server.url, "--package", package,
                         "--namespace", "team-a", "--cron", "0 0 3 * * *",
                         "--max-concurrency", 2, "--no-catchup", "--train-steps", 800)
  assert code == 0, err
  # No experiment yet, so nothing to collide with: look up, create it, schedule.
  assert server.route() == [("GET", f"{API}/experiments"), ("POST", f"{API}/experiments"),
                            ("POST", f"{API}/recurringruns")]
  [experiment_id] = server.experiments
  body = server.calls("POST", f"{API}/recurringruns")[0].body
  assert body["display_name"] == "training-patterns-retraining"
  assert body["experiment_id"] == experiment_id
  assert body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
  assert body["max_concurrency"] == 2
  assert body["no_catchup"] is True
  assert body["mode"] == "ENABLE"
  assert body["runtime_config"] == {"parameters": {"train_args": '{"num_steps": 800}'}}
  assert set(body["pipeline_spec"]["pipeline_spec"]["root"]["dag"]["tasks"]) == \
      PIPELINE_TASKS
  assert "platform_spec" in body["pipeline_spec"]
  assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {TOKEN}"}
  [rr_id] = server.recurring_runs
  assert f"id {rr_id}" in out
  assert f"{server.url}/#/recurringrun/details/{rr_id}" in out
  assert TOKEN not in out + err


def test_schedule_defaults_to_catchup_and_one_run_at_a_time(capsys, server, package):
  server.add_experiment("training-patterns")
  code, _out, err = tpctl(capsys, "schedule", "--host", server.url, "--package", package,
                         "--namespace", "ns", "--cron", "0 30 2 * * MON-FRI",
                         "--name", "weekdays")
  assert code == 0, err
  body = server.calls("POST", f"{API}/recurringruns")[0].body
  assert (body["display_name"], body["max_concurrency"], body["no_catchup"]) == \
      ("weekdays", 1, False)
  assert body["trigger"]["cron_schedule"]["cron"] == "0 30 2 * * MON-FRI"
  assert "runtime_config" not in body or not body["runtime_config"].get("parameters")


def test_schedule_refuses_a_second_recurring_run_of_the_same_name(capsys, server, package):
  experiment_id = server.add_experiment("training-patterns", namespace="ns")
  rr_id = server.add_recurring_run("training-patterns-retraining", experiment_id)
  code, _out, err = tpctl(capsys, "schedule", "--host", server.url, "--package", package,
                         "--namespace", "ns", "--cron", "0 0 3 * * *")
  assert code == 2
  line = one_line_error(err)
  assert f"'training-patterns-retraining' already exists in experiment " \
         f"'training-patterns' (namespace ns) (id {rr_id})" in line
  assert "tpctl unschedule --name training-patterns-retraining" in line
  assert server.calls("POST") == []
  assert list(server.recurring_runs) == [rr_id]


@pytest.mark.parametrize("cron, expected", [
    ("0 3 * * *", ("expected 6 fields (second minute hour day-of-month month "
                   "day-of-week), got 5; this looks like a Kubernetes/Unix cron: "
                   "prepend the seconds field: '0 0 3 * * *'")),
    ("0 60 3 * * *", "minute field '60': 60 is out of range; expected values 0-59"),
    ("0 0 3 * * 7", ("day-of-week field '7': 7 is out of range; expected values 0-6 "
                     "or SUN-SAT")),
    ("0 0 3 L * *", "day-of-month field 'L': 'L' is not a number"),
    ("@daily", "descriptors like @daily are not accepted"),
    ("0 0 3 * * * 2026", "expected 6 space-separated fields"),
])
def test_schedule_rejects_a_bad_cron_before_any_request(capsys, server, cron, expected):
  code, _out, err = tpctl(capsys, "schedule", "--host", server.url, "--cron", cron)
  assert code == 2
  line = one_line_error(err)
  assert line.startswith(f"tpctl: error: --cron {cron!r}: "), line
  assert expected in line
  assert server.requests == []


@pytest.mark.parametrize("n", [0, 11])
def test_schedule_rejects_max_concurrency_out_of_range(capsys, server, n):
  code, _out, err = tpctl(capsys, "schedule", "--host", server.url, "--cron",
                         "0 0 3 * * *", "--max-concurrency", n)
  assert code == 2
  assert f"--max-concurrency {n}: expected 1 to 10" in one_line_error(err)
  assert server.requests == []


@pytest.mark.parametrize("cron", [
    "0 0 3 * * *", "*/30 * * * * *", "0 0 9 ? * 2-6", "0 0 0 1 JAN,jul ?",
    "0 15,45 8-18/2 * * mon-fri", "59 59 23 31 12 6", "0 0 12 1/7 * *"])
def test_crons_kfp_accepts_pass(cron):
  assert cron_check.validate_cron(f"  {cron} ") == cron


@pytest.mark.parametrize("cron", [
    "0 0 3 * * ", "0 0 24 * * *", "0 0 3 0 * *", "0 0 3 * 13 *", "0 0 3 * * 1-",
    "0 0 3 * * 5-1", "0 */0 * * * *", "0 0 3 ? * ?x", "0 0 ? * * *", "0 0 3 * * 1,,2",
    "0 0 3 * * MON#2", "0 0 3 * * 1/2/3", "-1 0 3 * * *", "0 0 3 1-2-3 * *"])
def test_crons_kfp_rejects_fail(cron):
  with pytest.raises(client.ConfigError, match="--cron"):
    cron_check.validate_cron(cron)


# --- unschedule -----------------------------------------------------------------------

def test_unschedule_deletes_only_the_named_recurring_runs(capsys, server):
  experiment_id = server.add_experiment("training-patterns", namespace="ns")
  other_experiment = server.add_experiment("other", namespace="ns")
  keep = [server.add_recurring_run("nightly", experiment_id),
          server.add_recurring_run("training-patterns-retraining", other_experiment)]
  # Three of the same name (e.g. made in the UI before tpctl refused duplicates).
  doomed = [server.add_recurring_run("training-patterns-retraining", experiment_id)
            for _ in range(3)]
  code, out, err = tpctl(capsys, "unschedule", "--host", server.url, "--namespace", "ns")
  assert code == 0, err
  deleted = [r.path.rsplit("/", 1)[1] for r in server.calls("DELETE")]
  assert deleted == doomed
  assert sorted(server.recurring_runs) == sorted(keep)
  listing = server.calls("GET", f"{API}/recurringruns")[0].query
  assert listing["experiment_id"] == experiment_id
  assert json.loads(listing["filter"])["predicates"][0]["stringValue"] == \
      "training-patterns-retraining"
  for rr_id in doomed:
    assert f"deleted recurring run 'training-patterns-retraining': id {rr_id}" in out


def test_unschedule_never_deletes_another_name_even_if_the_server_ignores_filters(
    capsys, server):
  server.ignore_filters = True
  experiment_id = server.add_experiment("training-patterns")
  server.add_experiment("other")
  keep = server.add_recurring_run("nightly", experiment_id)
  doomed = server.add_recurring_run("training-patterns-retraining", experiment_id)
  code, _, err = tpctl(capsys, "unschedule", "--host", server.url)
  assert code == 0, err
  assert [r.path.rsplit("/", 1)[1] for r in server.calls("DELETE")] == [doomed]
  assert list(server.recurring_runs) == [keep]


def test_unschedule_follows_pages(capsys, server, monkeypatch):
  experiment_id = server.add_experiment("e")
  doomed = [server.add_recurring_run("r", experiment_id) for _ in range(3)]
  monkeypatch.setattr(kfp_api, "PAGE_SIZE", 2)
  code, _out, err = tpctl(capsys, "unschedule", "--host", server.url, "--experiment", "e",
                         "--name", "r")
  assert code == 0, err
  pages = server.calls("GET", f"{API}/recurringruns")
  assert [p.query.get("page_token", "") for p in pages] == ["", "2"]
  assert [r.path.rsplit("/", 1)[1] for r in server.calls("DELETE")] == doomed


def test_unschedule_when_none_exists_says_so_with_exit_2(capsys, server):
  experiment_id = server.add_experiment("training-patterns")
  server.add_recurring_run("something-else", experiment_id)
  code, _out, err = tpctl(capsys, "unschedule", "--host", server.url, "--name", "nightly")
  assert code == 2
  assert one_line_error(err) == ("tpctl: error: no recurring run named 'nightly' in "
                                 "experiment 'training-patterns'; nothing to remove")
  assert server.calls("DELETE") == []


def test_unschedule_without_the_experiment_says_so_with_exit_2(capsys, server):
  code, _out, err = tpctl(capsys, "unschedule", "--host", server.url, "--experiment",
                         "gone", "--namespace", "ns")
  assert code == 2
  assert "no recurring run named 'training-patterns-retraining' in experiment 'gone' " \
         "(namespace ns) (the experiment does not exist)" in one_line_error(err)
  assert server.route() == [("GET", f"{API}/experiments")]


def test_schedule_then_unschedule_round_trip(capsys, server, package):
  args = ["--host", server.url, "--namespace", "ns", "--name", "rt"]
  assert tpctl(capsys, "schedule", *args, "--package", package, "--cron",
               "0 0 3 * * *")[0] == 0
  assert tpctl(capsys, "schedule", *args, "--package", package, "--cron",
               "0 0 4 * * *")[0] == 2  # the same name again: refused
  assert len(server.recurring_runs) == 1
  assert tpctl(capsys, "unschedule", *args)[0] == 0
  assert server.recurring_runs == {}
  assert tpctl(capsys, "unschedule", *args)[0] == 2


def test_rejected_credentials_on_the_health_check_fail_at_once(capsys, monkeypatch, server,
                                                                package):
  # kfp.Client itself would retry /healthz 5 times, 5 s apart, printing tracebacks.
  monkeypatch.setenv("KFP_TOKEN", "expired")
  server.failures[("GET", f"{API}/healthz")] = (401, "token expired")
  started = time.monotonic()
  code, _out, err = tpctl(capsys, "unschedule", "--host", server.url)
  assert time.monotonic() - started < 4
  assert code == 1
  assert one_line_error(err) == (
      f"tpctl: error: {server.url}: connecting: HTTP 401 Unauthorized: token expired "
      f"(credentials: $KFP_TOKEN, $KFP_COOKIES or kubeconfig)")
  assert server.route() == [("GET", f"{API}/healthz")]
