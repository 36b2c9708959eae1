"""The TFJob launcher against a fake Kubernetes API: the objects it sends, how it
follows a job's status and logs, and that it always deletes the job. No TensorFlow."""
from __future__ import annotations

import pytest
from kubernetes import client as k8s_client

from components.config import StepResources, Toleration, VolumeMount
from components.launchers import tfjob
from components.launchers.tfjob import TFJobFailed, TFJobSpec, build_manifest
from tests.fakes.k8s_api import PODS, TFJOBS, FakeK8s

NAME, NS = "train-abc", "default"
JOB = TFJOBS.format(namespace=NS) + f"/{NAME}"
POLL = 0.01
GPU = "nvidia.com/gpu"
OWNER = {"apiVersion": "v1", "kind": "Pod", "name": "step-pod", "uid": "1234-abcd"}
COMMAND = ["python", "-m", "components.trainer.job", "--config", "/etc/tp/config.yaml"]


def make_spec(**overrides) -> TFJobSpec:
  fields = {"name": NAME, "namespace": NS, "image": "registry.example.com/tp:1",
            "command": COMMAND, "workers": 2}
  return TFJobSpec(**{**fields, **overrides})


def replicas(manifest: dict) -> dict:
  return manifest["spec"]["tfReplicaSpecs"]


def pod_spec(manifest: dict, kind: str) -> dict:
  return replicas(manifest)[kind]["template"]["spec"]


def container(manifest: dict, kind: str) -> dict:
  [c] = pod_spec(manifest, kind)["containers"]
  return c


@pytest.fixture
def k8s():
  with FakeK8s() as server:
    yield server


def launch(k8s: FakeK8s, spec: TFJobSpec | None = None, **kwargs):
  """Runs the launcher; returns (result or exception, progress lines)."""
  lines: list[str] = []
  kwargs = {"progress": lines.append, "poll_seconds": POLL, **kwargs}
  try:
    result = tfjob.run(spec or make_spec(), api_client=k8s.api_client(), **kwargs)
  except TFJobFailed as e:
    result = e
  return result, lines


class Scripted:
  """An operator that takes the next step at each poll of the job's status."""

  def __init__(self, *steps):
    self.steps = list(steps)

  def __call__(self, server: FakeK8s, job: dict) -> None:
    server.before_request = self._tick

  def _tick(self, server: FakeK8s, request) -> None:
    if (request.method, request.path) == ("GET", JOB) and self.steps:
      self.steps.pop(0)(server)


def finishes_at_once(server: FakeK8s, job: dict) -> None:
  server.add_condition(job["metadata"]["name"], "Created")
  server.add_condition(job["metadata"]["name"], "Succeeded")


def deleted(k8s: FakeK8s) -> list:
  return [r.body for r in k8s.calls("DELETE", JOB)]


# --- the manifest ----------------------------------------------------------------------
@pytest.mark.parametrize("workers, ps, chief, expected", [
    (1, 0, False, {"Worker": 1}),
    (4, 0, False, {"Worker": 4}),
    (3, 2, False, {"Worker": 3, "PS": 2}),
    (2, 0, True, {"Chief": 1, "Worker": 2}),
    (2, 1, True, {"Chief": 1, "Worker": 2, "PS": 1}),
])
def test_replica_counts(workers, ps, chief, expected):
  manifest = build_manifest(make_spec(workers=workers, ps=ps, chief=chief))
  assert {k: r["replicas"] for k, r in replicas(manifest).items()} == expected
  assert {r["restartPolicy"] for r in replicas(manifest).values()} == {"OnFailure"}


def test_the_body_sent_is_the_manifest(k8s):
  k8s.operator = finishes_at_once
  spec = make_spec(chief=True, ps=1, owner=OWNER)
  launch(k8s, spec)
  [sent] = k8s.created()
  assert sent == build_manifest(spec)
  assert (sent["apiVersion"], sent["kind"]) == ("kubeflow.org/v1", "TFJob")
  assert sent["metadata"]["name"] == NAME and sent["metadata"]["namespace"] == NS
  assert k8s.calls("POST")[0].path == TFJOBS.format(namespace=NS)


def test_every_replica_runs_the_command_in_a_tensorflow_container_without_tf_config():
  manifest = build_manifest(make_spec(chief=True, ps=2, env={"EXTRA": "1"}))
  for kind in ("Chief", "Worker", "PS"):
    c = container(manifest, kind)
    assert c["name"] == "tensorflow"
    assert c["command"] == COMMAND and c["image"] == "registry.example.com/tp:1"
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env == {"HOME": "/tmp", "EXTRA": "1"}  # the operator injects TF_CONFIG
  assert "TF_CONFIG" not in str(manifest)


def test_tf_config_in_env_is_refused():
  with pytest.raises(ValueError, match="TF_CONFIG"):
    make_spec(env={"TF_CONFIG": "{}"})


@pytest.mark.parametrize("overrides", [
    {"workers": 0}, {"ps": -1}, {"name": "Train_1"}, {"name": "x" * 60},
    {"command": []}, {"owner": {"kind": "Pod", "name": "p"}},
    {"volumes": (VolumeMount(pvc="a", mount_path="/tmp"),)},
])
def test_invalid_specs_are_refused(overrides):
  with pytest.raises(ValueError):
    make_spec(**overrides)


def test_gpus_go_to_workers_and_chief_only_with_requests_equal_to_limits():
  spec = make_spec(chief=True, ps=1, accelerator=GPU,
                   resources=StepResources(cpu="4", memory="16Gi", gpus=2),
                   node_selector={"nvidia.com/gpu.present": "true"},
                   tolerations=(Toleration(key=GPU, effect="NoSchedule"),))
  manifest = build_manifest(spec)
  for kind in ("Chief", "Worker"):
    resources = container(manifest, kind)["resources"]
    assert resources["requests"] == resources["limits"] == {
        "cpu": "4", "memory": "16Gi", GPU: "2"}
    assert pod_spec(manifest, kind)["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod_spec(manifest, kind)["tolerations"] == [
        {"key": GPU, "operator": "Exists", "effect": "NoSchedule"}]
  ps = container(manifest, "PS")["resources"]
  assert ps["requests"] == ps["limits"] == {"cpu": "4", "memory": "16Gi"}
  assert "nodeSelector" not in pod_spec(manifest, "PS")
  assert "tolerations" not in pod_spec(manifest, "PS")


def test_no_gpu_key_nor_gpu_placement_without_gpus():
  spec = make_spec(ps=1, resources=StepResources(cpu="1", memory="2Gi", gpus=0),
                   node_selector={"nvidia.com/gpu.present": "true"},
                   tolerations=(Toleration(key=GPU),))
  manifest = build_manifest(spec)
  for kind in ("Worker", "PS"):
    resources = container(manifest, kind)["resources"]
    assert resources["requests"] == resources["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert "nodeSelector" not in pod_spec(manifest, kind)
    assert "tolerations" not in pod_spec(manifest, kind)
  assert GPU not in str(manifest)


def test_volumes_and_mounts():
  spec = make_spec(ps=1, volumes=(
      VolumeMount(pvc="training-patterns-checkpoints", mount_path="/mnt/checkpoints"),
      VolumeMount(pvc="data.example", mount_path="/mnt/data")))
  manifest = build_manifest(spec)
  for kind in ("Worker", "PS"):
    volumes = {v["name"]: v for v in pod_spec(manifest, kind)["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container(manifest, kind)["volumeMounts"]}
    assert volumes[mounts["/tmp"]]["emptyDir"]
    claims = {path: volumes[name]["persistentVolumeClaim"]["claimName"]
              for path, name in mounts.items() if path != "/tmp"}
    assert claims == {"/mnt/checkpoints": "training-patterns-checkpoints",
                      "/mnt/data": "data.example"}


def test_pods_are_locked_down_labelled_and_out_of_the_mesh():
  manifest = build_manifest(make_spec(labels={"team": "ml"}, service_account="trainer"))
  template = replicas(manifest)["Worker"]["template"]
  assert template["metadata"]["labels"]["app.kubernetes.io/part-of"] == "training-patterns"
  assert template["metadata"]["labels"]["team"] == "ml"
  assert manifest["metadata"]["labels"]["team"] == "ml"
  assert template["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
  pod = template["spec"]
  assert pod["serviceAccountName"] == "trainer"
  assert pod["securityContext"]["runAsNonRoot"] is True
  assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
  security = container(manifest, "Worker")["securityContext"]
  assert security["readOnlyRootFilesystem"] is True
  assert security["allowPrivilegeEscalation"] is False
  assert security["runAsUser"] == 1000 and security["runAsNonRoot"] is True
  assert security["capabilities"] == {"drop": ["ALL"]}
  assert security["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_part_of_label_cannot_be_overridden():
  manifest = build_manifest(make_spec(labels={"app.kubernetes.io/part-of": "other"}))
  labels = replicas(manifest)["Worker"]["template"]["metadata"]["labels"]
  assert labels["app.kubernetes.io/part-of"] == "training-patterns"


def test_run_policy_and_default_success_policy():
  spec = build_manifest(make_spec())["spec"]
  assert spec["runPolicy"] == {"cleanPodPolicy": "Running", "backoffLimit": 3}
  assert "successPolicy" not in spec  # the chief, else worker 0, decides


def test_owner_reference_only_when_given():
  assert "ownerReferences" not in build_manifest(make_spec())["metadata"]
  assert build_manifest(make_spec(owner={**OWNER, "extra": "x"}))["metadata"][
      "ownerReferences"] == [OWNER]


# --- following the job -----------------------------------------------------------------
def test_conditions_and_worker_0_logs_are_reported_in_order_once(k8s):
  pods = {}

  def start(server):
    server.add_condition(NAME, "Running")
    pods["w0"] = server.add_pod(NAME, "Worker", 0, log="epoch 1\n")
    server.add_pod(NAME, "Worker", 1, log="worker 1 must not show\n")

  k8s.operator = Scripted(
      lambda s: s.add_condition(NAME, "Created"),
      start,
      lambda s: s.append_log(pods["w0"], "epoch 2\npartial"),
      lambda s: s.append_log(pods["w0"], " line\nepoch 3\n"),
      lambda s: None,  # nothing new: nothing printed
      lambda s: (s.append_log(pods["w0"], "done"),
                 s.add_condition(NAME, "Succeeded", message="TFJob default/train-abc "
                                 "successfully completed.")))
  result, lines = launch(k8s)
  assert lines == [
      f"TFJob {NS}/{NAME}: submitted (2 worker(s))",
      f"TFJob {NS}/{NAME}: Created (TFJobCreated)",
      f"TFJob {NS}/{NAME}: log of pod {pods['w0']}",
      "epoch 1",
      f"TFJob {NS}/{NAME}: Running (TFJobRunning)",
      "epoch 2",
      "partial line",
      "epoch 3",
      "done",
      (f"TFJob {NS}/{NAME}: Succeeded (TFJobSucceeded: TFJob default/train-abc "
       f"successfully completed.)"),
  ]
  assert result["metadata"]["name"] == NAME
  assert [c["type"] for c in result["status"]["conditions"]
          if c["status"] == "True"] == ["Created", "Succeeded"]
  assert deleted(k8s) == [{"propagationPolicy": "Background"}]
  assert k8s.tfjob(NAME) is None


def test_the_chief_logs_are_streamed_when_there_is_a_chief(k8s):
  def start(server):
    server.add_condition(NAME, "Running")
    server.add_pod(NAME, "Worker", 0, log="worker\n")
    server.add_pod(NAME, "Chief", 0, log="chief\n")

  k8s.operator = Scripted(start, lambda s: s.add_condition(NAME, "Succeeded"))
  _, lines = launch(k8s, make_spec(chief=True))
  assert "chief" in lines and "worker" not in lines
  pods = k8s.calls("GET", PODS.format(namespace=NS))
  [selector] = {r.query["labelSelector"] for r in pods}
  assert set(selector.split(",")) == {
      f"training.kubeflow.org/job-name={NAME}", "training.kubeflow.org/replica-type=chief",
      "training.kubeflow.org/replica-index=0"}


def test_logs_survive_pending_pods_restarts_and_json_lines(k8s):
  pods = {}

  def pending(server):
    server.add_condition(NAME, "Running")
    pods["w0"] = server.add_pod(NAME, "Worker", 0, log=None, phase="Pending")

  k8s.operator = Scripted(
      pending,
      lambda s: s.append_log(pods["w0"], '{"loss": 0.5}\n42\n'),
      lambda s: (s.append_log(pods["w0"], "crashing\n"), s.restart_container(pods["w0"]),
                 s.append_log(pods["w0"], "resumed\n"),
                 s.add_condition(NAME, "Restarting")),
      lambda s: s.add_condition(NAME, "Running"),
      lambda s: s.add_condition(NAME, "Succeeded"))
  result, lines = launch(k8s)
  assert not isinstance(result, Exception)
  logs = [line for line in lines if not line.startswith("TFJob")]
  # Printed verbatim (not parsed as JSON), the crashed container's tail included.
  assert logs == ['{"loss": 0.5}', "42", "crashing", "resumed"]
  assert f"TFJob {NS}/{NAME}: log of pod {pods['w0']} (container restart 1)" in lines
  conditions = [line.split(": ")[1].split(" ")[0] for line in lines
                if line.startswith("TFJob") and "log of pod" not in line]
  assert conditions == ["submitted", "Running", "Restarting", "Running", "Succeeded"]


def test_a_failed_job_raises_its_reason_on_one_line(k8s):
  def fail(server):
    pod = server.add_pod(NAME, "Worker", 0, log="Traceback\nValueError: boom\n")
    server.add_condition(NAME, "Failed", reason="TFJobFailed", message=(
        f"TFJob {NS}/{NAME} has failed because 1 Worker replica(s) failed.\n"
        "  exit code 1"))
    return pod

  k8s.operator = Scripted(lambda s: s.add_condition(NAME, "Running"), fail)
  error, lines = launch(k8s)
  assert isinstance(error, TFJobFailed)
  assert str(error) == (f"TFJobFailed: TFJob {NS}/{NAME} has failed because 1 Worker "
                        f"replica(s) failed. exit code 1")
  assert "ValueError: boom" in lines  # the logs come before the failure
  assert deleted(k8s) == [{"propagationPolicy": "Background"}]


def test_the_job_is_deleted_when_the_caller_is_interrupted(k8s):
  k8s.operator = Scripted(lambda s: s.add_condition(NAME, "Running"))

  def progress(line):
    if "Running" in line:
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    tfjob.run(make_spec(), api_client=k8s.api_client(), progress=progress,
              poll_seconds=POLL)
  assert deleted(k8s) == [{"propagationPolicy": "Background"}]
  assert k8s.tfjob(NAME) is None


def test_timeout_fails_and_deletes_the_job(k8s):
  k8s.operator = lambda server, job: server.add_condition(NAME, "Running")
  error, _ = launch(k8s, timeout_seconds=0.2)
  assert isinstance(error, TFJobFailed)
  assert str(error) == (f"TFJob {NS}/{NAME} did not finish within 0.2s "
                        f"(last condition: Running)")
  assert len(deleted(k8s)) == 1


def test_an_existing_job_of_that_name_is_replaced(k8s):
  stale = k8s.add_tfjob(build_manifest(make_spec()))
  k8s.deletion_lag = 2  # it stays visible for two GETs after its deletion
  k8s.operator = finishes_at_once
  result, lines = launch(k8s)
  assert result["metadata"]["uid"] != stale["metadata"]["uid"]
  assert [m for m, p in k8s.route() if p.startswith(JOB) or p == TFJOBS.format(
      namespace=NS)] == ["POST", "DELETE", "GET", "GET", "GET", "POST", "GET", "DELETE"]
  assert lines[0] == (f"TFJob {NS}/{NAME}: already exists (left by an earlier attempt); "
                      f"replacing it")


def test_a_conflict_that_persists_is_reported(k8s):
  k8s.fail("POST", TFJOBS.format(namespace=NS), 409,
           f'tfjobs.kubeflow.org "{NAME}" already exists', times=2)
  error, _ = launch(k8s)
  assert str(error) == (f"cannot create TFJob {NS}/{NAME} after deleting the earlier one: "
                        f'409 tfjobs.kubeflow.org "{NAME}" already exists')


def test_an_existing_job_that_cannot_be_deleted_is_reported(k8s):
  k8s.add_tfjob(build_manifest(make_spec()))
  k8s.fail("DELETE", JOB, 403, "forbidden", times=2)
  error, _ = launch(k8s)
  assert str(error) == f"cannot delete TFJob {NS}/{NAME}: 403 forbidden"
  assert k8s.tfjob(NAME) is not None
  assert [r.method for r in k8s.calls(path=JOB)] == ["DELETE", "DELETE"]


def test_an_api_error_on_create_is_one_line(k8s):
  k8s.fail("POST", TFJOBS.format(namespace=NS), 403,
           'tfjobs.kubeflow.org is forbidden: User "x" cannot create\nresource')
  error, _ = launch(k8s)
  assert str(error) == (f"cannot create TFJob {NS}/{NAME}: 403 tfjobs.kubeflow.org is "
                        f'forbidden: User "x" cannot create resource')


def test_transient_api_errors_are_retried(k8s):
  k8s.operator = finishes_at_once
  k8s.fail("GET", JOB, 503, "etcd leader changed", times=2)
  result, lines = launch(k8s)
  assert result["metadata"]["name"] == NAME
  assert lines.count(f"TFJob {NS}/{NAME}: API server unavailable (503 etcd leader "
                     f"changed); retrying") == 1


def test_a_job_deleted_by_someone_else_fails(k8s):
  k8s.operator = Scripted(lambda s: s.add_condition(NAME, "Running"),
                          lambda s: s.tfjobs.pop((NS, NAME)))
  error, _ = launch(k8s)
  assert "was deleted while running" in str(error)
  assert len(deleted(k8s)) == 1  # still attempted; its 404 is fine


def test_without_a_client_the_users_kubeconfig_is_loaded(k8s, monkeypatch, tmp_path):
  """Outside a cluster the launcher reads $KUBECONFIG when it runs (the client
  library fixes its default path when it is imported)."""
  from tests.fakes.tfjob_operator import kubeconfig
  monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # not in a cluster
  monkeypatch.setattr(k8s_client.Configuration, "_default", None)
  monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "kubeconfig", k8s.url)))
  k8s.operator = finishes_at_once
  result = tfjob.run(make_spec(), progress=lambda line: None, poll_seconds=POLL)
  assert result["metadata"]["name"] == NAME


@pytest.mark.parametrize("workers, ps, chief", [(2, 0, False), (2, 1, True), (4, 2, True)])
def test_manifests_validate_against_the_tfjob_crd_schema(workers, ps, chief):
  """The schema of the Training Operator's CRD (tests/schemas), strict: an unknown
  or misspelt field fails here as the API server would reject it."""
  from tests.test_k8s_manifests import (errors, kubernetes_schema_problems, tfjob_validator,
                                        wrapped_pod_templates)
  manifest = build_manifest(make_spec(
      workers=workers, ps=ps, chief=chief, resources=StepResources(gpus=1),
      volumes=(VolumeMount(pvc="training-patterns-checkpoints", mount_path="/mnt/c"),),
      node_selector={"nvidia.com/gpu.present": "true"},
      tolerations=(Toleration(key="nvidia.com/gpu", effect="NoSchedule"),),
      owner={"apiVersion": "v1", "kind": "Pod", "name": "step", "uid": "u-1"}))
  assert errors(tfjob_validator(), manifest) == []
  # Each replica's pod template against the full Kubernetes schema (the vendored
  # CRD schema abridges the PodSpec), strict: a misspelt pod field fails.
  pods = wrapped_pod_templates([manifest])
  assert len(pods) == 1 + (ps > 0) + chief
  assert kubernetes_schema_problems(pods) == []
  pods[0]["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"
  assert kubernetes_schema_problems(pods)
