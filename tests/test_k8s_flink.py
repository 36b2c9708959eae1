"""k8s/flink: the Flink session cluster (Flink Kubernetes Operator) and the Beam job
server the Beam steps can run on. It builds with `kubectl kustomize`; the
FlinkDeployment validates against the operator's CRD schema (vendored in
tests/schemas/) and everything else, with the pods the operator makes from the
FlinkDeployment, against the Kubernetes schemas; the job server, the REST service
and the worker-pool sidecar agree on names and ports; the workers see the steps'
volumes; the NetworkPolicies (with k8s/base's) admit the Beam traffic and little
else; checkov and yamllint pass. No operator or cluster runs here."""
from __future__ import annotations

import collections
import copy
import functools
import re
import subprocess

import jsonschema
import pytest
import yaml

from components.config import KubeflowConfig
from tests import test_k8s_manifests as manifests
from tests.test_k8s_manifests import APP_LABEL, K8S, NAMESPACE, SCHEMAS, build, one

NAME = "training-patterns-flink"
JOB_SERVER = "training-patterns-beam-job-server"
FLINK_SA = "training-patterns-flink"
FLINK_IMAGE = "flink:1.19.3-scala_2.12-java17"
JOB_SERVER_IMAGE = "apache/beam_flink1.19_job_server:2.62.0"
MAIN = "flink-main-container"  # the operator's name for the Flink container
SIDECAR = "beam-worker-pool"
WORKER_POOL_PORT = 50000
EXPECTED_KINDS = collections.Counter({
    "ServiceAccount": 1, "Role": 1, "RoleBinding": 1, "FlinkDeployment": 1,
    "Deployment": 1, "Service": 1, "NetworkPolicy": 2})
# The label KFP v2 puts on every pod of a run (its Argo workflow's podMetadata).
KFP_STEP_LABELS = {"pipelines.kubeflow.org/v2_component": "true"}
# The operator's pods, labelled by its Helm chart.
OPERATOR_LABELS = {"app.kubernetes.io/name": "flink-kubernetes-operator"}
# checkov findings skipped with a reason in the manifests: k8s/base's two, and the
# JobManager's API token (it creates the TaskManager pods).
ALLOWED_SKIPS = {"CKV_K8S_38", "CKV_K8S_40", "CKV_K8S_43"}
FLINK_MEMORY = re.compile(r"^(\d+)\s*(b|k|kb|m|mb|g|gb|t|tb)$", re.IGNORECASE)


@functools.cache
def flink_deployment_validator() -> jsonschema.Draft7Validator:
  schema = yaml.safe_load((SCHEMAS / "flinkdeployment-v1beta1.crd-schema.yaml").read_text())
  return jsonschema.Draft7Validator(manifests.strict_crd_schema(schema))


def flink_bytes(size: str) -> int:
  """A Flink memory size ("384mb", "2048m", "4g"): m and mb are both MiB."""
  number, unit = FLINK_MEMORY.match(size.strip()).groups()
  return int(number) * 1024 ** "bkmgt".index(unit[0].lower())


def taskmanager_task_heap(conf: dict[str, str], process: int) -> float:
  """The task heap Flink's TaskManager memory model leaves from `process` bytes
  (taskManager.resource.memory), with Flink 1.19's defaults for what `conf` does
  not set. Flink refuses to start a TaskManager where this comes out negative."""
  mib = 2 ** 20

  def size(key: str, default: str) -> int:
    return flink_bytes(conf.get(key, default))
  overhead = min(max(process * 0.1, size("taskmanager.memory.jvm-overhead.min", "192m")),
                 size("taskmanager.memory.jvm-overhead.max", "1g"))
  flink = process - overhead - size("taskmanager.memory.jvm-metaspace.size", "256m")
  network = min(max(flink * 0.1, size("taskmanager.memory.network.min", "64m")),
                size("taskmanager.memory.network.max", "1t"))
  managed = flink * float(conf.get("taskmanager.memory.managed.fraction", "0.4"))
  return (flink - 128 * mib - 128 * mib  # framework heap and off-heap
          - size("taskmanager.memory.task.off-heap.size", "0m") - managed - network)


def args_of(container: dict) -> dict[str, str]:
  return dict(a[2:].split("=", 1) for a in container["args"])


def containers(spec: dict) -> dict[str, dict]:
  return {c["name"]: c for c in spec["containers"]}


def mounts(spec: dict, container: dict) -> dict[str, dict]:
  """mount path -> the volume mounted there."""
  volumes = {v["name"]: v for v in spec["volumes"]}
  return {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}


def claims(spec: dict, container: dict) -> dict[str, str]:
  """PVC claim name -> mount path."""
  return {v["persistentVolumeClaim"]["claimName"]: path
          for path, v in mounts(spec, container).items() if "persistentVolumeClaim" in v}


def flink_pods(fd: dict) -> dict[str, dict]:
  """The JobManager Deployment and a TaskManager Pod as the operator makes them from
  the FlinkDeployment: each role's pod template with the main container given the
  image and the role's CPU and memory (requests = limits, the operator's default
  limit factor of 1). Not modelled: what Flink adds that is not ours to check (its
  command, ports, environment and config-map volume). Each carries the
  FlinkDeployment's and its template's annotations, so their checkov skips apply."""
  spec = fd["spec"]
  pods = {}
  for role, kind, name in (("jobManager", "Deployment", NAME),
                           ("taskManager", "Pod", f"{NAME}-taskmanager-1-1")):
    template = copy.deepcopy(spec[role]["podTemplate"])
    resource = spec[role]["resource"]
    quantities = {"cpu": str(resource["cpu"]),
                  "memory": f"{flink_bytes(resource['memory']) // 2 ** 20}Mi"}
    main = containers(template["spec"])[MAIN]
    main.update(image=spec["image"], imagePullPolicy=spec["imagePullPolicy"],
                resources={"requests": dict(quantities), "limits": dict(quantities)})
    metadata = {"name": name, "namespace": fd["metadata"]["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {**fd["metadata"].get("annotations", {}),
                                **template["metadata"].get("annotations", {})}}
    if kind == "Pod":
      pods[role] = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
                    "spec": template["spec"]}
    else:
      pods[role] = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
                    "spec": {"replicas": spec[role]["replicas"],
                             "selector": {"matchLabels": dict(template["metadata"]["labels"])},
                             "template": {"metadata": {k: metadata[k] for k in ("labels", "annotations")},
                                          "spec": template["spec"]}}}
  return pods


def pod_specs(objects: list[dict]) -> dict[str, dict]:
  fd = one(objects, "FlinkDeployment")["spec"]
  return {"JobManager": fd["jobManager"]["podTemplate"]["spec"],
          "TaskManager": fd["taskManager"]["podTemplate"]["spec"],
          "job server": one(objects, "Deployment")["spec"]["template"]["spec"]}


def template_labels(objects: list[dict]) -> dict[str, dict]:
  fd = one(objects, "FlinkDeployment")["spec"]
  return {"JobManager": fd["jobManager"]["podTemplate"]["metadata"]["labels"],
          "TaskManager": fd["taskManager"]["podTemplate"]["metadata"]["labels"],
          "job server": one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]}


# --- building ------------------------------------------------------------------

def test_flink_builds_the_expected_objects_next_to_the_base():
  objects = build("flink")
  assert collections.Counter(o["kind"] for o in objects) == EXPECTED_KINDS
  for obj in objects:
    assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]["name"]
    assert APP_LABEL.items() <= obj["metadata"]["labels"].items(), obj["metadata"]["name"]
  # Applied after the base: it must not redefine (and so overwrite) any base object.
  base = {(o["kind"], o["metadata"]["name"]) for o in build("base")}
  assert not base & {(o["kind"], o["metadata"]["name"]) for o in objects}


def test_flink_uses_the_claims_and_account_the_base_creates():
  objects, base = build("flink"), build("base")
  base_claims = {o["metadata"]["name"] for o in base if o["kind"] == "PersistentVolumeClaim"}
  used = {v["persistentVolumeClaim"]["claimName"] for spec in pod_specs(objects).values()
          for v in spec["volumes"] if "persistentVolumeClaim" in v}
  assert used == base_claims  # the job server and TaskManagers use all three, none new
  accounts = {o["metadata"]["name"] for o in base + objects if o["kind"] == "ServiceAccount"}
  job_server = pod_specs(objects)["job server"]
  assert job_server["serviceAccountName"] == manifests.SERVICE_ACCOUNT
  flink_account = one(objects, "FlinkDeployment")["spec"]["serviceAccount"]
  assert {manifests.SERVICE_ACCOUNT, flink_account} <= accounts


# --- schemas -------------------------------------------------------------------

def test_flink_deployment_validates_against_the_operator_crd_schema():
  fd = one(build("flink"), "FlinkDeployment")
  assert (fd["apiVersion"], fd["metadata"]["name"]) == ("flink.apache.org/v1beta1", NAME)
  assert manifests.errors(flink_deployment_validator(), fd) == []


@pytest.mark.parametrize("breakage", [
    pytest.param(lambda s: s.update(jobManger=s.pop("jobManager")), id="misspelt-field"),
    pytest.param(lambda s: s["taskManager"]["resource"].update(memry="4g"), id="unknown-nested-field"),
    pytest.param(lambda s: s.update(flinkVersion="v1_21"), id="unsupported-flink-version"),
    pytest.param(lambda s: s.update(flinkVersion="1.19"), id="flink-version-spelt-as-release"),
    pytest.param(lambda s: s["flinkConfiguration"].update({"taskmanager.numberOfTaskSlots": 2}),
                 id="unquoted-config-number"),
    pytest.param(lambda s: s["taskManager"].update(replicas="2"), id="replicas-as-string"),
    pytest.param(lambda s: s["jobManager"]["podTemplate"]["metadata"]["labels"].update(x=True),
                 id="non-string-label"),
])
def test_crd_schema_rejects_broken_flink_deployments(breakage):
  """The CRD check above is live: what the API server would refuse, it refuses."""
  fd = one(build("flink"), "FlinkDeployment")
  breakage(fd["spec"])
  assert manifests.errors(flink_deployment_validator(), fd)


def test_builtin_objects_and_flink_pods_validate_against_kubernetes_schemas():
  objects = build("flink")
  builtin = [o for o in objects if o["kind"] != "FlinkDeployment"]
  pods = flink_pods(one(objects, "FlinkDeployment"))
  assert manifests.kubernetes_schema_problems(builtin + list(pods.values())) == []
  # ... and the validation is live: a misspelt field in a pod template is caught.
  pods["taskManager"]["spec"]["containers"][1]["volumeMount"] = []
  assert manifests.kubernetes_schema_problems([pods["taskManager"]])


# --- the session cluster ----------------------------------------------------------

def test_flink_deployment_is_a_pinned_flink_1_19_session_cluster():
  spec = one(build("flink"), "FlinkDeployment")["spec"]
  assert "job" not in spec  # a session cluster: jobs come from the job server
  assert spec.get("mode", "native") == "native"
  assert spec["image"] == FLINK_IMAGE
  major, minor = re.fullmatch(r"flink:(\d+)\.(\d+)\.\d+-scala_2\.12-java17", spec["image"]).groups()
  # The operator picks its code paths by flinkVersion: it must be the image's.
  assert spec["flinkVersion"] == f"v{major}_{minor}"
  # The job server's Flink runner must be built for the cluster's Flink minor version.
  (server,) = one(build("flink"), "Deployment")["spec"]["template"]["spec"]["containers"]
  assert server["image"] == JOB_SERVER_IMAGE
  assert server["image"].startswith(f"apache/beam_flink{major}.{minor}_job_server:")
  assert spec["serviceAccount"] == FLINK_SA


def test_flink_configuration_for_beam():
  spec = one(build("flink"), "FlinkDeployment")["spec"]
  conf = spec["flinkConfiguration"]
  slots = int(conf["taskmanager.numberOfTaskSlots"])
  replicas = spec["taskManager"]["replicas"]
  assert (slots, replicas) == (2, 2)
  # Native session clusters start TaskManagers on demand and ignore replicas:
  # the slot minimum is what keeps `replicas` TaskManagers running.
  assert int(conf["slotmanager.number-of-slots.min"]) == slots * replicas
  assert 1 <= int(conf["parallelism.default"]) == 2 <= slots * replicas
  assert conf["cluster.evenly-spread-out-slots"] == "true"
  # Beam's runner needs more network memory than the default (64mb minimum).
  network = (flink_bytes(conf["taskmanager.memory.network.min"]),
             flink_bytes(conf["taskmanager.memory.network.max"]))
  assert network == (384 * 2 ** 20, 384 * 2 ** 20)
  # ... and they still fit: the TaskManager keeps a task heap for Beam's operators.
  process = flink_bytes(spec["taskManager"]["resource"]["memory"])
  assert taskmanager_task_heap(conf, process) >= 1024 * 2 ** 20
  # ... and direct memory for the gRPC channels to the Python workers.
  assert flink_bytes(conf["taskmanager.memory.task.off-heap.size"]) >= 512 * 2 ** 20
  assert taskmanager_task_heap(conf, 1024 * 2 ** 20) < 0  # (the model does say no)
  assert conf["restart-strategy.type"] == "fixed-delay"
  assert conf["restart-strategy.fixed-delay.attempts"] == "3"
  assert conf["restart-strategy.fixed-delay.delay"] == "10 s"
  for role in ("jobManager", "taskManager"):
    resource = spec[role]["resource"]
    assert resource["cpu"] > 0 and flink_bytes(resource["memory"]) >= 1024 * 2 ** 20, role


def test_probes_watch_the_ports_flink_listens_on():
  spec = one(build("flink"), "FlinkDeployment")["spec"]
  conf = spec["flinkConfiguration"]
  expected = {"jobManager": int(conf["rest.port"]), "taskManager": int(conf["taskmanager.rpc.port"])}
  for role, port in expected.items():
    main = containers(spec[role]["podTemplate"]["spec"])[MAIN]
    for probe in ("readinessProbe", "livenessProbe"):
      assert main[probe]["tcpSocket"]["port"] == port, (role, probe)


def test_job_server_submits_to_the_flink_rest_service():
  objects = build("flink")
  fd = one(objects, "FlinkDeployment")
  (server,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
  args = args_of(server)
  # The operator's REST Service for a FlinkDeployment is `<name>-rest`.
  rest_port = fd["spec"]["flinkConfiguration"]["rest.port"]
  assert args["flink-master"] == f"{fd['metadata']['name']}-rest:{rest_port}" == f"{NAME}-rest:8081"
  assert (args["job-host"], args["job-port"], args["artifact-port"], args["expansion-port"]) == \
      ("0.0.0.0", "8099", "8098", "8097")
  for probe in ("readinessProbe", "livenessProbe"):
    assert server[probe]["tcpSocket"]["port"] == int(args["job-port"])


def test_job_server_service_exposes_the_job_and_artifact_ports():
  objects = build("flink")
  deployment = one(objects, "Deployment")
  service = one(objects, "Service")
  assert deployment["metadata"]["name"] == service["metadata"]["name"] == JOB_SERVER
  template = deployment["spec"]["template"]
  assert deployment["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
  assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
  (server,) = template["spec"]["containers"]
  named = {p["name"]: p["containerPort"] for p in server["ports"]}
  exposed = {p["port"]: named[p["targetPort"]] for p in service["spec"]["ports"]}
  args = args_of(server)
  assert exposed == {int(args["job-port"]): int(args["job-port"]),
                     int(args["artifact-port"]): int(args["artifact-port"])} == {8099: 8099, 8098: 8098}


def test_staged_artifacts_are_on_a_volume_the_taskmanagers_read():
  """The job server writes staged artifacts under --artifacts-dir; the TaskManager
  serves them to the Beam workers from the same path, so both must mount the claim
  holding it at the same place."""
  objects = build("flink")
  specs = pod_specs(objects)
  (server,) = specs["job server"]["containers"]
  artifacts = args_of(server)["artifacts-dir"]
  server_claims = claims(specs["job server"], server)
  (claim,) = [c for c, path in server_claims.items() if artifacts.startswith(path.rstrip("/") + "/")]
  main = containers(specs["TaskManager"])[MAIN]
  assert claims(specs["TaskManager"], main)[claim] == server_claims[claim] == "/mnt/pipeline-root"
  assert not [m for m in server["volumeMounts"] if m.get("readOnly")]  # it writes there


# --- the Beam worker pool ------------------------------------------------------------

def test_worker_pool_sidecar_listens_where_flink_looks_for_it():
  spec = one(build("flink"), "FlinkDeployment")["spec"]
  tm = containers(spec["taskManager"]["podTemplate"]["spec"])
  assert set(tm) == {MAIN, SIDECAR}
  sidecar = tm[SIDECAR]
  # Our pool: its workers do not hang on large bundles (pipelines/flink/sdk_data_plane.py).
  assert sidecar["command"] == ["python", "-m", "pipelines.flink.worker_pool", "--host=0.0.0.0",
                                f"--port={WORKER_POOL_PORT}"]
  assert [p["containerPort"] for p in sidecar["ports"]] == [WORKER_POOL_PORT]
  for probe in ("readinessProbe", "livenessProbe"):
    assert sidecar[probe]["tcpSocket"]["port"] == WORKER_POOL_PORT
  # Only TaskManagers run Beam workers (pipelines name localhost:50000).
  assert SIDECAR not in containers(spec["jobManager"]["podTemplate"]["spec"])


def test_worker_pool_runs_the_steps_cpu_image():
  """Pickled Beam functions only load in the Beam, TFX and Python versions that
  pickled them: the workers run the CPU image the Beam steps run in (`make images`
  pushes it as <image>-cpu; `tpctl compile --cpu-image`)."""
  spec = one(build("flink"), "FlinkDeployment")["spec"]
  sidecar = containers(spec["taskManager"]["podTemplate"]["spec"])[SIDECAR]
  base_images = {c["image"] for o in build("base") if o["kind"] == "CronJob"
                 for c in o["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]}
  assert base_images == {KubeflowConfig().image}
  assert sidecar["image"] == f"{KubeflowConfig().image}-cpu"
  assert sidecar["image"] == "registry.example.com/training-patterns:0.1.0-cpu"


def test_worker_pool_mounts_the_steps_volumes_at_the_steps_paths():
  spec = one(build("flink"), "FlinkDeployment")["spec"]["taskManager"]["podTemplate"]["spec"]
  sidecar = containers(spec)[SIDECAR]
  assert claims(spec, sidecar) == {v.pvc: v.mount_path for v in KubeflowConfig().volumes}
  # Writable: the workers write the steps' output artifacts there.
  assert not [m for m in sidecar["volumeMounts"] if m.get("readOnly")]
  assert "emptyDir" in mounts(spec, sidecar)["/tmp"]
  assert {"name": "HOME", "value": "/tmp"} in sidecar["env"]


# --- pods ----------------------------------------------------------------------

def test_pods_run_as_non_root_with_a_read_only_root_filesystem():
  for where, spec in pod_specs(build("flink")).items():
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True, where
    assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (1000, 1000, 1000), where
    assert pod["seccompProfile"]["type"] == "RuntimeDefault", where
    for container in spec["containers"]:
      sc = container["securityContext"]
      name = (where, container["name"])
      assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 1000, name
      assert sc["allowPrivilegeEscalation"] is False, name
      assert sc["readOnlyRootFilesystem"] is True, name
      assert sc["capabilities"] == {"drop": ["ALL"]}, name
      assert sc["seccompProfile"]["type"] == "RuntimeDefault", name
      assert not sc.get("privileged"), name
      # With the root filesystem read-only, the JVM and Python need a writable /tmp.
      assert "emptyDir" in mounts(spec, container)["/tmp"], name
      if container["name"] == MAIN:  # Flink writes its logs under /opt/flink/log
        assert "emptyDir" in mounts(spec, container)["/opt/flink/log"], name


def test_only_the_jobmanager_gets_an_api_token():
  specs = pod_specs(build("flink"))
  # Native Kubernetes: the JobManager creates its TaskManagers through the API.
  assert specs["JobManager"].get("automountServiceAccountToken", True) is True
  assert specs["TaskManager"]["automountServiceAccountToken"] is False
  assert specs["job server"]["automountServiceAccountToken"] is False


def test_containers_have_cpu_and_memory_requests_equal_to_limits():
  objects = build("flink")
  for role, pod in flink_pods(one(objects, "FlinkDeployment")).items():
    spec = pod["spec"] if pod["kind"] == "Pod" else pod["spec"]["template"]["spec"]
    for container in spec["containers"]:
      resources = container["resources"]
      assert {"cpu", "memory"} <= set(resources["requests"]), (role, container["name"])
      assert resources["requests"] == resources["limits"], (role, container["name"])
  (server,) = pod_specs(objects)["job server"]["containers"]
  assert {"cpu", "memory"} <= set(server["resources"]["requests"])
  assert server["resources"]["requests"] == server["resources"]["limits"]


def test_flink_rbac_lets_the_jobmanager_manage_taskmanager_pods_only():
  objects = build("flink")
  role, binding = one(objects, "Role"), one(objects, "RoleBinding")
  rules = {(group, resource): set(rule["verbs"]) for rule in role["rules"]
           for group in rule["apiGroups"] for resource in rule["resources"]}
  assert {"create", "delete", "get", "list", "watch"} <= rules[("", "pods")]
  assert ("apps", "deployments") in rules  # the TaskManagers' owner
  assert set(rules) == {("", "pods"), ("", "configmaps"),
                        ("apps", "deployments"), ("apps", "deployments/finalizers")}
  assert not [verbs for verbs in rules.values() if "*" in verbs]
  assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                "name": role["metadata"]["name"]}
  assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FLINK_SA, "namespace": NAMESPACE}]
  account = [o for o in objects if o["kind"] == "ServiceAccount"]
  assert [a["metadata"]["name"] for a in account] == [FLINK_SA]


# --- network policies ---------------------------------------------------------------

def _matches(selector: dict, labels: dict) -> bool:
  assert set(selector) <= {"matchLabels"}, f"simulator knows matchLabels only: {selector}"
  return selector.get("matchLabels", {}).items() <= labels.items()


def admitted(policies: list[dict], source: tuple, target: tuple, port: int) -> bool:
  """Whether NetworkPolicy semantics let `source` open a TCP connection to `target`
  on `port`. A pod is (namespace, namespace labels, pod labels)."""
  src_ns, src_ns_labels, src_labels = source
  dst_ns, _, dst_labels = target
  selecting = [p for p in policies if p["metadata"]["namespace"] == dst_ns
               and "Ingress" in p["spec"]["policyTypes"]
               and _matches(p["spec"]["podSelector"], dst_labels)]
  if not selecting:
    return True  # not isolated for ingress
  for policy in selecting:
    for rule in policy["spec"].get("ingress", []):
      ports = rule.get("ports")
      if ports and not any(p.get("protocol", "TCP") == "TCP" and p["port"] == port for p in ports):
        continue
      for peer in rule.get("from", [{"namespaceSelector": {}}]):
        assert "ipBlock" not in peer
        if "namespaceSelector" in peer:
          ns_ok = _matches(peer["namespaceSelector"], src_ns_labels)
        else:
          ns_ok = src_ns == dst_ns
        if ns_ok and _matches(peer.get("podSelector", {}), src_labels):
          return True
  return False


def test_network_policies_admit_the_beam_traffic_and_little_else():
  objects, base = build("flink"), build("base")
  policies = [o for o in base + objects if o["kind"] == "NetworkPolicy"]
  ns_labels = {"kubernetes.io/metadata.name": NAMESPACE}
  labels = template_labels(objects)
  # Flink adds its own labels to the pods it creates.
  jm = (NAMESPACE, ns_labels, {**labels["JobManager"], "app": NAME, "component": "jobmanager"})
  tm = (NAMESPACE, ns_labels, {**labels["TaskManager"], "app": NAME, "component": "taskmanager"})
  server = (NAMESPACE, ns_labels, labels["job server"])
  step = (NAMESPACE, ns_labels, KFP_STEP_LABELS)
  cron = (NAMESPACE, ns_labels, one(base, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]
          ["metadata"]["labels"])
  operator = ("flink-operator", {"kubernetes.io/metadata.name": "flink-operator"}, OPERATOR_LABELS)
  other_step = ("someone-else", {"kubernetes.io/metadata.name": "someone-else"}, KFP_STEP_LABELS)
  stranger = (NAMESPACE, ns_labels, {"app": "unrelated"})

  (container,) = pod_specs(objects)["job server"]["containers"]
  args = args_of(container)
  job, artifact = int(args["job-port"]), int(args["artifact-port"])
  rest = int(args["flink-master"].rsplit(":", 1)[1])
  rpc = int(one(objects, "FlinkDeployment")["spec"]["flinkConfiguration"]["taskmanager.rpc.port"])
  allowed = {
      "KFP step -> job server (job)": (step, server, job),
      "KFP step -> job server (artifacts)": (step, server, artifact),
      "KFP step -> Flink REST": (step, jm, rest),
      "CronJob -> job server": (cron, server, job),
      "job server -> Flink REST": (server, jm, rest),
      "TaskManager -> job server (artifacts)": (tm, server, artifact),
      "TaskManager -> JobManager RPC": (tm, jm, 6123),
      "JobManager -> TaskManager RPC": (jm, tm, rpc),
      "TaskManager -> TaskManager data": (tm, tm, 41000),
      "operator -> Flink REST": (operator, jm, rest),
  }
  denied = {
      "KFP step -> worker pool": (step, tm, WORKER_POOL_PORT),
      "KFP step -> JobManager RPC": (step, jm, 6123),
      "KFP step -> job server expansion": (step, server, int(args["expansion-port"])),
      "other namespace's KFP step -> job server": (other_step, server, job),
      "unlabelled pod -> job server": (stranger, server, job),
      "unlabelled pod -> Flink REST": (stranger, jm, rest),
      "operator -> TaskManager": (operator, tm, rpc),
  }
  assert [k for k, flow in allowed.items() if not admitted(policies, *flow)] == []
  assert [k for k, flow in denied.items() if admitted(policies, *flow)] == []


# --- linters ---------------------------------------------------------------------

def test_yamllint_flink_manifests_and_vendored_schema():
  """k8s/flink (test_k8s_manifests.py lints all of k8s/ too) and the vendored schema."""
  paths = [K8S / "flink", SCHEMAS / "flinkdeployment-v1beta1.crd-schema.yaml"]
  proc = subprocess.run([manifests._tool("yamllint"), "--strict", "-c", str(K8S / ".yamllint"),
                         *map(str, paths)], check=False, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def checkov_flink(tmp_path_factory):
  """checkov over k8s/flink's output plus the JobManager and TaskManager pods the
  operator makes (checkov does not look inside a FlinkDeployment), with k8s/base's
  NetworkPolicy, which also covers the Flink pods once both are applied."""
  objects = build("flink")
  pods = list(flink_pods(one(objects, "FlinkDeployment")).values())
  base_policy = one(build("base"), "NetworkPolicy")
  report = manifests.run_checkov(objects + pods + [base_policy],
                                 tmp_path_factory.mktemp("checkov-flink"))
  return objects + pods, report


def test_checkov_passes_on_flink(checkov_flink):
  _, report = checkov_flink
  failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}"
            for c in report["results"]["failed_checks"]]
  assert failed == []
  assert report["summary"]["parsing_errors"] == 0
  # It did scan the pods: the job server and the two Flink roles.
  scanned = {c["resource"] for c in report["results"]["passed_checks"]}
  for name in (f"Deployment.{NAMESPACE}.{JOB_SERVER}", f"Deployment.{NAMESPACE}.{NAME}",
               f"Pod.{NAMESPACE}.{NAME}-taskmanager-1-1"):
    assert name in scanned


def test_checkov_skips_on_flink_are_few_and_justified(checkov_flink):
  documents, report = checkov_flink
  annotated = manifests.annotated_skips(documents)
  skipped = report["results"]["skipped_checks"]
  assert {c["check_id"] for c in skipped} == annotated
  assert annotated <= ALLOWED_SKIPS, "a new skip needs a reason in the README too"
  # The API-token skip is the JobManager's alone.
  assert {c["resource"] for c in skipped if c["check_id"] == "CKV_K8S_38"} == \
      {f"Deployment.{NAMESPACE}.{NAME}"}
  for check in skipped:
    assert len(check["check_result"]["suppress_comment"]) >= 20


def test_the_shipped_flink_config_points_at_these_manifests():
  """pipelines/configs/flink_on_kubernetes.yaml, which `tpctl compile` takes, names
  the REST service, the job server's Service and port, and the sidecar's port."""
  from components.config import load_config
  beam = load_config(str(manifests.REPO / "pipelines" / "configs" /
                         "flink_on_kubernetes.yaml")).beam
  objects = build("flink")
  fd = one(objects, "FlinkDeployment")
  service = one(objects, "Service")
  assert beam.runner == "flink"
  assert beam.address == f"{fd['metadata']['name']}-rest:{fd['spec']['flinkConfiguration']['rest.port']}"
  assert beam.job_endpoint in {f"{service['metadata']['name']}:{p['port']}"
                               for p in service["spec"]["ports"]}
  assert beam.job_endpoint.endswith(":8099")  # the job port, not the artifact port
  sidecar = containers(pod_specs(objects)["TaskManager"])[SIDECAR]
  assert beam.worker_pool == f"localhost:{sidecar['ports'][0]['containerPort']}"
  assert beam.environment == "external"
