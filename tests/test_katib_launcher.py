"""The Katib launcher against a fake Kubernetes API: the Experiment it sends (valid
for Katib's schemas), how it follows the search and returns the best trial, and that
it always deletes the Experiment. No TensorFlow."""
from __future__ import annotations

import json
import re
import shlex

import pytest
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from components.config import SearchParameter, StepResources, Toleration, VolumeMount
from components.launchers import katib
from components.launchers.katib import ExperimentFailed, ExperimentSpec, build_manifest
from tests.fakes.k8s_api import EXPERIMENTS, FakeK8s

NAME, NS = "tune-abc", "default"
EXPERIMENT = EXPERIMENTS.format(namespace=NS) + f"/{NAME}"
WHERE = f"Experiment {NS}/{NAME}"
POLL = 0.01
GPU = "nvidia.com/gpu"
OWNER = {"apiVersion": "v1", "kind": "Pod", "name": "step-pod", "uid": "1234-abcd"}
CONFIG_JSON = json.dumps({"pipeline_name": "p", "trainer": {"train_steps": 50}})
COMMAND = ["python", "-m", "components.trainer.job", "--config-json", CONFIG_JSON,
           "--examples", "/mnt/pipeline-root/examples/7",
           "--transform-graph", "/mnt/pipeline-root/transform_graph/8"]
SPACE = {
    "learning_rate": SearchParameter(type="float", min=1e-4, max=3e-2, sampling="log"),
    "dropout": SearchParameter(type="float", min=0.0, max=0.5),
    "num_layers": SearchParameter(type="int", min=1, max=3),
    "units": SearchParameter(type="choice", values=(32, 64, 128)),
}
PLACEHOLDER = re.compile(r"\$\{trialParameters\.([^}]+)\}")


def make_spec(**overrides) -> ExperimentSpec:
  fields = {"name": NAME, "namespace": NS, "image": "registry.example.com/tp:1",
            "trial_command": COMMAND, "search_space": SPACE, "max_trials": 6,
            "parallel_trials": 2, "max_failed_trials": 2}
  return ExperimentSpec(**{**fields, **overrides})


def trial_pod(manifest: dict) -> dict:
  return manifest["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]


def container(manifest: dict) -> dict:
  [c] = trial_pod(manifest)["containers"]
  return c


def script(manifest: dict) -> list[str]:
  """The trial's command line, as `sh -c` splits it."""
  command = container(manifest)["command"]
  assert command[:2] == ["sh", "-c"] and len(command) == 3
  return shlex.split(command[2])


@pytest.fixture
def k8s():
  with FakeK8s() as server:
    yield server


def launch(k8s: FakeK8s, spec: ExperimentSpec | None = None, **kwargs):
  """Runs the launcher; returns (result or exception, progress lines)."""
  lines: list[str] = []
  kwargs = {"progress": lines.append, "poll_seconds": POLL, **kwargs}
  try:
    result = katib.run(spec or make_spec(), api_client=k8s.api_client(), **kwargs)
  except ExperimentFailed as e:
    result = e
  return result, lines


class Scripted:
  """A Katib controller that takes the next step at each poll of the Experiment."""

  def __init__(self, *steps):
    self.steps = list(steps)

  def __call__(self, server: FakeK8s, experiment: dict) -> None:
    server.before_request = self._tick

  def _tick(self, server: FakeK8s, request) -> None:
    if (request.method, request.path) == ("GET", EXPERIMENT) and self.steps:
      self.steps.pop(0)(server)


def condition(type_: str, reason: str = "", message: str = ""):
  return lambda s: s.add_condition(NAME, type_, reason, message, plural="experiments")


def trials(succeeded: int = 0, failed: int = 0, running: int = 0):
  return lambda s: s.set_status(NAME, trials=succeeded + failed + running,
                                trialsSucceeded=succeeded, trialsFailed=failed,
                                trialsRunning=running)


def best(trial: str, loss: str, **parameters: str):
  return lambda s: s.set_optimal_trial(NAME, trial, parameters, {"eval_loss": loss})


def deleted(k8s: FakeK8s) -> list:
  return [r.body for r in k8s.calls("DELETE", EXPERIMENT)]


# --- the manifest ----------------------------------------------------------------------
@pytest.mark.parametrize("algorithm, katib_name", [
    ("random", "random"), ("bayesian", "bayesianoptimization"), ("tpe", "tpe")])
def test_algorithm_names_are_katibs(algorithm, katib_name):
  spec = build_manifest(make_spec(algorithm=algorithm))["spec"]
  assert spec["algorithm"] == {"algorithmName": katib_name}


def test_hyperband_is_refused_on_one_line():
  with pytest.raises(ValueError) as raised:
    make_spec(algorithm="hyperband")
  message = str(raised.value)
  assert "hyperband" in message and "--hp" in message and "\n" not in message


def test_an_unknown_algorithm_is_refused():
  with pytest.raises(ValueError, match="'grid'"):
    make_spec(algorithm="grid")


@pytest.mark.parametrize("direction, katib_type", [("min", "minimize"), ("max", "maximize")])
def test_objective(direction, katib_type):
  spec = build_manifest(make_spec(objective="auc", direction=direction))["spec"]
  assert spec["objective"] == {"type": katib_type, "objectiveMetricName": "eval_auc"}
  assert spec["metricsCollectorSpec"] == {"collector": {"kind": "StdOut"}}


def test_counts():
  spec = build_manifest(make_spec())["spec"]
  assert (spec["maxTrialCount"], spec["parallelTrialCount"],
          spec["maxFailedTrialCount"]) == (6, 2, 2)


def test_parameters_types_log_distribution_and_categorical_lists():
  parameters = {p["name"]: p for p in build_manifest(make_spec())["spec"]["parameters"]}
  assert parameters == {
      "learning_rate": {"name": "learning_rate", "parameterType": "double", "feasibleSpace": {
          "min": "0.0001", "max": "0.03", "distribution": "logUniform"}},
      "dropout": {"name": "dropout", "parameterType": "double",
                  "feasibleSpace": {"min": "0.0", "max": "0.5"}},
      "num_layers": {"name": "num_layers", "parameterType": "int",
                     "feasibleSpace": {"min": "1", "max": "3"}},
      "units": {"name": "units", "parameterType": "categorical",
                "feasibleSpace": {"list": ["32", "64", "128"]}},
  }


def test_a_conditional_parameter_is_refused_naming_it():
  space = {**SPACE, "units_3": SearchParameter(type="choice", values=(16, 32),
                                               when={"num_layers": (3,)})}
  with pytest.raises(ValueError) as raised:
    make_spec(search_space=space)
  message = str(raised.value)
  assert message.startswith("search_space.units_3: conditional") and "\n" not in message


def test_the_trial_runs_the_command_with_one_hp_per_parameter():
  manifest = build_manifest(make_spec())
  template = manifest["spec"]["trialTemplate"]
  assert template["primaryContainerName"] == container(manifest)["name"] == "training"
  args = script(manifest)
  assert args[:len(COMMAND)] == COMMAND  # the JSON survives the shell as one argument
  hps = args[len(COMMAND):]
  assert hps[::2] == ["--hp"] * len(SPACE)
  assert hps[1::2] == [f"{n}=${{trialParameters.{n}}}" for n in SPACE]
  assert container(manifest)["image"] == "registry.example.com/tp:1"


def test_trial_parameters_reference_the_parameters_and_every_placeholder():
  manifest = build_manifest(make_spec())
  template = manifest["spec"]["trialTemplate"]
  declared = {p["name"]: p["reference"] for p in template["trialParameters"]}
  assert declared == {n: n for n in SPACE}
  assert all(p["description"] for p in template["trialParameters"])
  assert set(PLACEHOLDER.findall(json.dumps(template["trialSpec"]))) == set(SPACE)


def test_the_trial_is_a_job_with_katibs_conditions_and_no_tf_config():
  manifest = build_manifest(make_spec())
  template = manifest["spec"]["trialTemplate"]
  trial = template["trialSpec"]
  assert (trial["apiVersion"], trial["kind"]) == ("batch/v1", "Job")
  assert "metadata" not in trial  # Katib names each trial's Job
  assert trial_pod(manifest)["restartPolicy"] == "Never"
  assert "Complete" in template["successCondition"]
  assert "Failed" in template["failureCondition"]
  assert "TF_CONFIG" not in json.dumps(manifest)
  assert {e["name"]: e["value"] for e in container(manifest)["env"]} == {"HOME": "/tmp"}


def test_trial_pods_are_locked_down_labelled_and_out_of_the_mesh():
  manifest = build_manifest(make_spec(labels={"team": "ml"}, service_account="tuner",
                                      owner=OWNER))
  template = manifest["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]
  assert template["metadata"]["labels"]["app.kubernetes.io/part-of"] == "training-patterns"
  assert template["metadata"]["labels"]["team"] == "ml"
  assert template["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
  assert manifest["metadata"]["ownerReferences"] == [OWNER]
  pod = template["spec"]
  assert pod["serviceAccountName"] == "tuner"
  assert pod["automountServiceAccountToken"] is False
  assert pod["securityContext"]["runAsNonRoot"] is True
  security = container(manifest)["securityContext"]
  assert security["readOnlyRootFilesystem"] is True
  assert security["allowPrivilegeEscalation"] is False
  assert security["capabilities"] == {"drop": ["ALL"]}


def test_gpus_and_gpu_placement_only_with_gpus():
  placement = {"node_selector": {"nvidia.com/gpu.present": "true"},
               "tolerations": (Toleration(key=GPU, effect="NoSchedule"),)}
  manifest = build_manifest(make_spec(
      resources=StepResources(cpu="4", memory="16Gi", gpus=1), **placement))
  resources = container(manifest)["resources"]
  assert resources["requests"] == resources["limits"] == {
      "cpu": "4", "memory": "16Gi", GPU: "1"}
  assert trial_pod(manifest)["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
  assert trial_pod(manifest)["tolerations"] == [
      {"key": GPU, "operator": "Exists", "effect": "NoSchedule"}]

  manifest = build_manifest(make_spec(
      resources=StepResources(cpu="1", memory="2Gi", gpus=0), **placement))
  resources = container(manifest)["resources"]
  assert resources["requests"] == resources["limits"] == {"cpu": "1", "memory": "2Gi"}
  assert "nodeSelector" not in trial_pod(manifest)
  assert "tolerations" not in trial_pod(manifest)
  assert GPU not in json.dumps(manifest)


def test_volumes_and_mounts():
  manifest = build_manifest(make_spec(volumes=(
      VolumeMount(pvc="training-patterns-pipeline-root", mount_path="/mnt/pipeline-root"),)))
  volumes = {v["name"]: v for v in trial_pod(manifest)["volumes"]}
  mounts = {m["mountPath"]: m["name"] for m in container(manifest)["volumeMounts"]}
  assert volumes[mounts["/tmp"]]["emptyDir"]
  assert volumes[mounts["/mnt/pipeline-root"]]["persistentVolumeClaim"] == {
      "claimName": "training-patterns-pipeline-root"}


@pytest.mark.parametrize("overrides", [
    {"name": "Tune_1"}, {"name": "x" * 50, "algorithm": "bayesian"},
    {"trial_command": []}, {"namespace": ""}, {"direction": "up"},
    {"objective": "eval loss"}, {"search_space": {}},
    {"max_trials": 2, "parallel_trials": 3}, {"max_trials": 2, "max_failed_trials": 3},
    {"owner": {"kind": "Pod", "name": "p"}},
    {"volumes": (VolumeMount(pvc="a", mount_path="/tmp"),)},
    {"search_space": {"units": SearchParameter(type="choice", values=("it's",))}},
    {"search_space": {"num_layers": SearchParameter(type="int", min=1.5, max=3)}},
])
def test_invalid_specs_are_refused(overrides):
  with pytest.raises(ValueError):
    make_spec(**overrides)


@pytest.mark.parametrize("overrides", [
    {}, {"algorithm": "bayesian", "direction": "max", "objective": "auc"},
    {"algorithm": "tpe", "resources": StepResources(gpus=1), "owner": OWNER,
     "volumes": (VolumeMount(pvc="training-patterns-checkpoints", mount_path="/mnt/c"),),
     "node_selector": {"nvidia.com/gpu.present": "true"},
     "tolerations": (Toleration(key=GPU, effect="NoSchedule"),)},
])
def test_manifests_validate_against_katibs_schemas(overrides):
  """Katib's CRD schema and the stricter one written from its Go types and
  admission checks (tests/schemas)."""
  from tests.test_k8s_manifests import (errors, experiment_validators,
                                        kubernetes_schema_problems, wrapped_pod_templates)
  manifest = build_manifest(make_spec(**overrides))
  validators = experiment_validators()
  assert len(validators) == 2
  for validator in validators:
    assert errors(validator, manifest) == []
  # The trial's Job, pod template included, against the full Kubernetes schema.
  (trial,) = wrapped_pod_templates([manifest])
  assert kubernetes_schema_problems([trial]) == []
  trial["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"
  assert kubernetes_schema_problems([trial])


# --- following the search --------------------------------------------------------------
def test_progress_and_the_best_trial_returned(k8s):
  k8s.operator = Scripted(
      condition("Created", "ExperimentCreated"),
      lambda s: (condition("Running", "ExperimentRunning")(s), trials(running=2)(s)),
      lambda s: None,  # nothing new: nothing printed
      lambda s: (trials(succeeded=1, running=2)(s),
                 best("tune-abc-1", "0.52", learning_rate="0.001", units="64")(s)),
      lambda s: (trials(succeeded=2, failed=1)(s),
                 best("tune-abc-2", "0.41", learning_rate="0.003", units="128")(s),
                 condition("Succeeded", "ExperimentMaxTrialsReached",
                           "Experiment has succeeded because max trial count has reached")(s)))
  result, lines = launch(k8s)
  assert result == {"trial": "tune-abc-2",
                    "parameters": {"learning_rate": "0.003", "units": "128"},
                    "observation": {"eval_loss": "0.41"}}
  assert lines == [
      f"{WHERE}: submitted (random, 6 trial(s), 2 at once, min eval_loss)",
      f"{WHERE}: Created (ExperimentCreated)",
      f"{WHERE}: Running (ExperimentRunning)",
      f"{WHERE}: trials: 0 succeeded, 0 failed, 2 running",
      f"{WHERE}: trials: 1 succeeded, 0 failed, 2 running; best tune-abc-1: eval_loss=0.52",
      (f"{WHERE}: Succeeded (ExperimentMaxTrialsReached: Experiment has succeeded because "
       f"max trial count has reached)"),
      f"{WHERE}: trials: 2 succeeded, 1 failed, 0 running; best tune-abc-2: eval_loss=0.41",
  ]
  assert deleted(k8s) == [{"propagationPolicy": "Background"}]
  assert k8s.experiment(NAME) is None


def test_the_body_sent_is_the_manifest(k8s):
  k8s.operator = Scripted(best("t", "0.5", units="64"), condition("Succeeded"))
  spec = make_spec(owner=OWNER)
  launch(k8s, spec)
  [sent] = k8s.created("experiments")
  assert sent == build_manifest(spec)
  assert (sent["apiVersion"], sent["kind"]) == ("kubeflow.org/v1beta1", "Experiment")
  assert k8s.calls("POST")[0].path == EXPERIMENTS.format(namespace=NS)


def test_a_failed_experiment_raises_its_reason_on_one_line(k8s):
  k8s.operator = Scripted(
      condition("Running"),
      lambda s: (trials(succeeded=1, failed=2)(s), condition(
          "Failed", "ExperimentFailed",
          "Experiment has failed because max failed count has reached\n")(s)))
  error, _ = launch(k8s)
  assert isinstance(error, ExperimentFailed)
  assert str(error) == (f"{WHERE} failed: ExperimentFailed: Experiment has failed because "
                        f"max failed count has reached (1 succeeded, 2 failed, 0 running)")
  assert deleted(k8s) == [{"propagationPolicy": "Background"}]


def test_success_without_an_optimal_trial_fails(k8s):
  k8s.operator = Scripted(lambda s: (
      trials(failed=1)(s), s.set_status(NAME, currentOptimalTrial={
          "bestTrialName": "", "parameterAssignments": [], "observation": {}}),
      condition("Succeeded")(s)))
  error, _ = launch(k8s)
  assert str(error) == (f"{WHERE} succeeded without an optimal trial "
                        f"(0 succeeded, 1 failed, 0 running)")
  assert len(deleted(k8s)) == 1


def test_the_experiment_is_deleted_when_the_caller_is_interrupted(k8s):
  k8s.operator = Scripted(condition("Running"))

  def progress(line):
    if "Running" in line:
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    katib.run(make_spec(), api_client=k8s.api_client(), progress=progress,
              poll_seconds=POLL)
  assert deleted(k8s) == [{"propagationPolicy": "Background"}]
  assert k8s.experiment(NAME) is None


def test_timeout_fails_and_deletes_the_experiment(k8s):
  k8s.operator = lambda server, obj: server.add_condition(NAME, "Running",
                                                          plural="experiments")
  error, _ = launch(k8s, timeout_seconds=0.2)
  assert str(error) == f"{WHERE} did not finish within 0.2s (last condition: Running)"
  assert len(deleted(k8s)) == 1


def test_an_existing_experiment_of_that_name_is_replaced(k8s):
  stale = k8s.add_experiment(build_manifest(make_spec()))
  gone: list[str] = []
  k8s.on_delete = lambda server, obj: gone.append(obj["metadata"]["uid"])
  k8s.operator = Scripted(best("t", "0.5", units="64"), condition("Succeeded"))
  result, lines = launch(k8s)
  assert result["parameters"] == {"units": "64"}
  assert [m for m, p in k8s.route() if p.startswith(EXPERIMENT)] == [
      "DELETE", "GET", "GET", "GET", "DELETE"]
  assert lines[0] == f"{WHERE}: already exists (left by an earlier attempt); replacing it"
  assert len(gone) == 2 and gone[0] == stale["metadata"]["uid"] != gone[1]


def test_transient_api_errors_are_retried(k8s):
  k8s.operator = Scripted(best("t", "0.5", units="64"), condition("Succeeded"))
  k8s.fail("GET", EXPERIMENT, 503, "etcd leader changed", times=2)
  result, lines = launch(k8s)
  assert result["trial"] == "t"
  assert lines.count(f"{WHERE}: API server unavailable (503 etcd leader changed); "
                     f"retrying") == 1


def test_a_create_error_is_one_line_and_nothing_is_left(k8s):
  k8s.fail("POST", EXPERIMENTS.format(namespace=NS), 403,
           'experiments.kubeflow.org is forbidden: User "x"\ncannot create')
  error, _ = launch(k8s)
  assert str(error) == (f"cannot create {WHERE}: 403 experiments.kubeflow.org is "
                        f'forbidden: User "x" cannot create')
  assert k8s.experiments == {}


def test_tfjobs_and_experiments_are_kept_apart(k8s):
  """The fake serves each kind at its own version only."""
  k8s.add_experiment(build_manifest(make_spec()))
  api = k8s_client.CustomObjectsApi(k8s.api_client())
  assert api.get_namespaced_custom_object("kubeflow.org", "v1beta1", NS, "experiments",
                                          NAME)["kind"] == "Experiment"
  for version, plural in (("v1", "experiments"), ("v1", "tfjobs")):
    with pytest.raises(ApiException) as raised:
      api.get_namespaced_custom_object("kubeflow.org", version, NS, plural, NAME)
    assert raised.value.status == 404
