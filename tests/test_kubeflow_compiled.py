"""The compiled Kubeflow pipeline: its spec, and a real run of it, task by task,
through the test-side launcher (pipelines/kubeflow/local_launcher.py) that does what the
open-source KFP v2 driver and launcher do."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

from components.config import load_config
from components.registry import store
from pipelines.kubeflow import entrypoint
from pipelines.kubeflow import local_launcher as kfp_launcher
from tests.conftest import ONE_TRIAL, SMALL_TRAINING, write_config

TASKS = ["Ingest", "ProductionModel", "DriftGate", "StatisticsGen", "SchemaGen", "Transform",
         "Tuner", "Trainer", "CheckpointEvaluator", "Evaluator", "Pusher"]

CONFIG = SMALL_TRAINING + ONE_TRIAL + """\
pipeline_name: tp-kfp
data:
  spans:
    newest: 3
kubeflow:
  image: registry.example.com/tp:test
  cpu_image: registry.example.com/tp:test-cpu
  checkpoint_dir: {work}/checkpoints
  serving_dir: {work}/compiled-serving
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
  from pipelines.kubeflow.compiler import compile_pipeline
  work = tmp_path_factory.mktemp("kfp")
  config = load_config(write_config(work, CONFIG.format(work=work)))
  return config, compile_pipeline(config, work / "pipeline.yaml"), work


def test_spec_is_valid_kfp_v2_with_our_entrypoint_and_no_resolvers(compiled):
  _, path, _ = compiled
  spec, platform = kfp_launcher.load_spec(path)
  # Strict parses: an unknown or misspelt field fails here, as it would in KFP.
  json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
  assert spec["schemaVersion"] == "2.1.0"
  assert sorted(spec["root"]["dag"]["tasks"]) == sorted(TASKS)
  for label, executor in spec["deploymentSpec"]["executors"].items():
    # Open-source KFP rejects resolver executors and ignores ExampleGen's driver.
    assert set(executor) == {"container"}, label
    container = executor["container"]
    assert container["command"] == ["python", "-m", "pipelines.kubeflow.entrypoint"]
    assert "lifecycle" not in container
    assert "{{$}}" in container["args"]
  for executor in platform["deploymentSpec"]["executors"].values():
    json_format.ParseDict(executor, k8s_pb2.KubernetesExecutorConfig())


def test_every_executor_is_importable_code_not_a_staged_wheel(compiled):
  """The image carries the code: no step may need user modules staged to the
  pipeline root (which pods cannot necessarily read)."""
  from tfx.utils import import_utils
  spec, _ = kfp_launcher.load_spec(compiled[1])
  for label, executor in spec["deploymentSpec"]["executors"].items():
    args = executor["container"]["args"]
    class_path = args[args.index("--executor_class_path") + 1]
    assert import_utils.import_class_by_path(class_path), label
    assert not any("module_path" in a or ".whl" in a for a in args), label
  trainer = spec["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]
  assert trainer["run_fn"]["runtimeValue"]["constant"] == "components.trainer.executor.run_fn"


def test_training_steps_get_gpus_the_gpu_image_and_gpu_nodes(compiled):
  _, path, _ = compiled
  spec, platform = kfp_launcher.load_spec(path)
  executors = spec["deploymentSpec"]["executors"]
  k8s = platform["deploymentSpec"]["executors"]
  for task in TASKS:
    resources = executors[f"{task}_executor"]["container"]["resources"]
    mounts = {m["constant"]: m["mountPath"] for m in k8s[f"{task}_executor"]["pvcMount"]}
    assert mounts == {"training-patterns-pipeline-root": "/mnt/pipeline-root",
                      "training-patterns-checkpoints": "/mnt/checkpoints",
                      "training-patterns-serving": "/mnt/serving"}, task
    assert resources["resourceCpuRequest"] and resources["resourceMemoryLimit"], task
    # The GPU image only where a GPU is used; its CPU variant everywhere else.
    image = executors[f"{task}_executor"]["container"]["image"]
    assert image == ("registry.example.com/tp:test" if task in ("Tuner", "Trainer")
                     else "registry.example.com/tp:test-cpu"), task
    if task in ("Tuner", "Trainer"):
      assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
      assert resources["accelerator"]["resourceCount"] == "1"
      assert k8s[f"{task}_executor"]["tolerations"] == [
          {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
      assert k8s[f"{task}_executor"]["nodeSelector"]["labels"] == {
          "nvidia.com/gpu.present": "true"}
    else:
      assert "accelerator" not in resources, task
      assert "tolerations" not in k8s[f"{task}_executor"], task


def test_each_task_as_a_kubernetes_pod_is_valid_and_keeps_its_placement(compiled, tmp_path):
  """The launcher's Kubernetes kind (cluster_pods.py) turns every compiled task into
  a Pod that the full Kubernetes schema accepts (strict: a misspelt field fails),
  with the task's image, requests = limits, GPU placement, claims and the locked-down
  security context. bench/cluster.py runs these pods on a real node."""
  from pipelines.kubeflow import cluster_pods
  from tests.test_k8s_manifests import kubernetes_schema_problems
  _, path, _ = compiled
  spec, platform = kfp_launcher.load_spec(path)
  for task in TASKS:
    container = spec["deploymentSpec"]["executors"][f"{task}_executor"]["container"]
    pod = cluster_pods.task_pod(
        cluster_pods.pod_name(task), task, container["image"], ["python", "-V"],
        staging=("training-patterns-pipeline-root", f"launcher/run/{task}"),
        resources=container["resources"],
        platform=platform["deploymentSpec"]["executors"][f"{task}_executor"],
        service_account="training-patterns")
    assert kubernetes_schema_problems([pod]) == [], task
    (main,) = pod["spec"]["containers"]
    assert main["image"] == container["image"] and main["imagePullPolicy"] == "IfNotPresent"
    assert main["resources"]["requests"] == main["resources"]["limits"]
    assert main["resources"]["limits"]["cpu"] == container["resources"]["resourceCpuLimit"]
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    # Pod Security "baseline" (the namespace's) refuses hostPath: staging is by subPath.
    assert not any("hostPath" in v for v in pod["spec"]["volumes"])
    assert {m["subPath"] for m in main["volumeMounts"] if "subPath" in m} == {
        f"launcher/run/{task}/tmp", f"launcher/run/{task}/minio"}
    assert {e["name"] for e in main["env"]} >= {"HOME", "KFP_POD_NAME", "KFP_POD_UID"}
    assert pod["spec"]["securityContext"]["runAsUser"] == 1000
    assert pod["spec"]["restartPolicy"] == "Never"
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"]
              if "persistentVolumeClaim" in v]
    # Each claim in one volume only: a pod naming a claim twice never starts.
    assert len(claims) == len(set(claims)), claims
    assert set(claims) == {"training-patterns-pipeline-root", "training-patterns-checkpoints",
                      "training-patterns-serving"}, task
    mounts = {m["mountPath"] for m in main["volumeMounts"]}
    assert {"/tmp", "/minio", "/mnt/pipeline-root", "/mnt/checkpoints", "/mnt/serving"} == mounts
    gpu = task in ("Tuner", "Trainer")
    assert (main["resources"]["limits"].get("nvidia.com/gpu") == "1") == gpu, task
    assert ("nodeSelector" in pod["spec"]) == gpu and ("tolerations" in pod["spec"]) == gpu
  # The strict schema is what catches a misspelt pod field.
  pod["spec"]["containers"][0]["imagePulPolicy"] = pod["spec"]["containers"][0].pop(
      "imagePullPolicy")
  assert kubernetes_schema_problems([pod])


def test_run_parameters_have_defaults_so_a_run_needs_no_arguments(compiled):
  config, path, work = compiled
  spec, _ = kfp_launcher.load_spec(path)
  params = spec["root"]["inputDefinitions"]["parameters"]
  assert sorted(params) == ["data_dir", "push_destination", "train_args"]
  assert json.loads(params["train_args"]["defaultValue"]) == {"num_steps": 300}
  assert json.loads(params["push_destination"]["defaultValue"]) == {
      "filesystem": {"base_directory": f"{work}/compiled-serving/tp-kfp"}}
  assert params["data_dir"]["defaultValue"] == ""  # the embedded demo data
  # The parameters reach the steps that use them.
  tasks = spec["root"]["dag"]["tasks"]
  assert tasks["Ingest"]["inputs"]["parameters"]["input_base"] == {
      "componentInputParameter": "data_dir"}
  assert tasks["Trainer"]["inputs"]["parameters"]["train_args"] == {
      "componentInputParameter": "train_args"}
  assert tasks["Pusher"]["inputs"]["parameters"]["push_destination"] == {
      "componentInputParameter": "push_destination"}


def test_compile_errors_leave_no_file(tmp_path):
  from pipelines.kubeflow.compiler import compile_pipeline
  with pytest.raises(ValueError, match="must be a .yaml file"):
    compile_pipeline(load_config(), tmp_path / "pipeline.json")
  assert list(tmp_path.iterdir()) == []


# How an upstream artifact's type arrives from open-source KFP: empty, as we read
# the MLMD-based driver; or a generic system.* title, as sky-uk/kfp-operator's
# tfx-patch (provider-service/kfp/tfx-patch) reports from live clusters.
ARRIVING_TYPES = {"empty instance schema": {"instanceSchema": ""},
                  "system.Dataset title": {"schemaTitle": "system.Dataset"}}


def _driver_style_examples_input(arriving_type=None) -> dict:
  """An upstream Examples artifact as the open-source KFP driver hands it over."""
  return {"inputs": {"artifacts": {"examples": {"artifacts": [{
      "name": "7", "type": arriving_type or ARRIVING_TYPES["empty instance schema"],
      "uri": "minio://mlpipeline/v2/artifacts/p/run/Ingest/u/examples",
      "metadata": {"split_names": '["train", "eval"]', "display_name": "examples"}}]}}},
      "outputs": {"artifacts": {
          "executor-logs": {"artifacts": [{"type": {"schemaTitle": "system.Artifact"},
                                           "uri": "minio://mlpipeline/logs"}]},
          "statistics": {"artifacts": [{
              "type": {"instanceSchema": "title: tfx.ExampleStatistics\n"},
              "uri": "minio://mlpipeline/v2/artifacts/p/run/S/u/statistics"}]}},
          "outputFile": "/tmp/kfp_outputs/output_metadata.json"}}


def _published_executor_input() -> dict:
  """TFX's own test data for its Kubeflow V2 container entrypoint
  (tfx/orchestration/kubeflow/v2/container/testdata/executor_invocation.json, in
  the tfx wheel): an executor input in the shape a KFP backend that keeps TFX
  types hands over, with gs:// URIs and custom properties as metadata. Its first
  input is renamed to the name our StatisticsGen declares."""
  import tfx.orchestration.kubeflow.v2.container as container
  data = json.loads((Path(container.__file__).parent / "testdata"
                     / "executor_invocation.json").read_text())
  artifacts = data["inputs"]["artifacts"]
  artifacts["examples"] = artifacts.pop("input_1")
  del artifacts["input_2"]
  return data


def _parse_inputs(executor_input: dict):
  from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as utils
  message = pipeline_spec_pb2.ExecutorInput()
  # As TFX's Kubeflow V2 runner parses it (kubeflow_v2_run_executor.py).
  json_format.ParseDict(executor_input, message, ignore_unknown_fields=True)
  return utils.parse_raw_artifact_dict(message.inputs.artifacts, {})


@pytest.mark.parametrize("arriving", ARRIVING_TYPES)
def test_stock_tfx_runner_fails_on_what_the_kfp_driver_hands_over(arriving):
  """Why the entrypoint exists: TFX cannot type an artifact that arrives without
  its TFX type (empty schema, or a system.* title it has no class for)."""
  with pytest.raises((AttributeError, ImportError)):
    examples = _parse_inputs(_driver_style_examples_input(ARRIVING_TYPES[arriving]))
    assert examples["examples"][0].type_name == "Examples"  # a wrong type fails too


@pytest.mark.parametrize("arriving", ARRIVING_TYPES)
def test_entrypoint_types_inputs_from_the_spec_and_works_on_launcher_paths(compiled, arriving):
  _, path, _ = compiled
  spec, _ = kfp_launcher.load_spec(path)
  inputs_spec = spec["components"]["StatisticsGen"]["inputDefinitions"]
  adapted = entrypoint.adapt_executor_input(
      _driver_style_examples_input(ARRIVING_TYPES[arriving]), inputs_spec,
      lambda u: entrypoint.to_local(u, "/pod"))
  examples = _parse_inputs(adapted)["examples"][0]
  assert examples.type_name == "Examples"
  assert json.loads(examples.split_names) == ["train", "eval"]
  # TFX works on the launcher's local copy; TensorFlow cannot open minio:// itself.
  assert examples.uri == "/pod/minio/mlpipeline/v2/artifacts/p/run/Ingest/u/examples"
  outputs = adapted["outputs"]["artifacts"]
  assert sorted(outputs) == ["statistics"]  # executor-logs is the launcher's own
  assert outputs["statistics"]["artifacts"][0]["uri"].startswith("/pod/minio/mlpipeline/")


@pytest.mark.parametrize("uri, local", [
    ("minio://mlpipeline/v2/a/b", "/minio/mlpipeline/v2/a/b"),
    ("s3://bucket/a", "/s3/bucket/a"),
    ("gs://bucket/a/b", "/gcs/bucket/a/b"),
    ("/mnt/pipeline-root/a", "/mnt/pipeline-root/a"),
])
def test_launcher_local_paths_round_trip(uri, local):
  assert entrypoint.to_local(uri) == local
  assert entrypoint.to_remote(local) == uri


@pytest.fixture(scope="module")
def kfp_run(compiled, taxi_slice):
  """The whole compiled pipeline, task by task, with run parameters that differ
  from the compiled defaults, on the taxi slice cut into four integer spans (of
  which the config's window takes the newest three)."""
  _, path, work = compiled
  rows = (taxi_slice / "data.csv").read_text().splitlines(keepends=True)
  for span in range(1, 5):
    (work / "spans" / str(span)).mkdir(parents=True)
    (work / "spans" / str(span) / "data.csv").write_text(
        rows[0] + "".join(rows[1 + (span - 1) * 500:1 + span * 500]))
  serving = work / "serving-from-parameter"
  launcher = kfp_launcher.LocalKfp(path, work / "launcher", arguments={
      "data_dir": str(work / "spans"),
      "train_args": json.dumps({"num_steps": 240}),
      "push_destination": json.dumps({"filesystem": {"base_directory": str(serving)}}),
  })
  return launcher.run(), serving, work, launcher


@pytest.mark.e2e
def test_compiled_pipeline_runs_task_by_task_and_pushes(kfp_run):
  results, serving, work, _ = kfp_run
  assert list(results) == kfp_launcher.task_order(
      kfp_launcher.load_spec(work / "pipeline.yaml")[0])
  assert sorted(results) == sorted(TASKS)
  pushed = results["Pusher"].outputs["pushed_model"]
  assert pushed.metadata["pushed"] == 1.0
  # Pushed where the run parameter said, not to the compiled default.
  (version,) = [p for p in serving.iterdir() if p.is_dir()]
  assert (version / "saved_model.pb").is_file()
  assert pushed.metadata["pushed_destination"] == str(version)
  assert not (work / "compiled-serving").exists()
  # Every artifact is reported at its object-store URI, so MLMD and the UI find it.
  for result in results.values():
    for artifact in result.outputs.values():
      assert artifact.uri.startswith(kfp_launcher.PIPELINE_ROOT), artifact.uri


@pytest.mark.e2e
def test_compiled_ingest_reads_the_span_window_and_the_registry_records_it(kfp_run):
  results, serving, _, launcher = kfp_run
  examples = launcher.object_path(results["Ingest"].outputs["examples"].uri)
  read = json.loads((Path(examples) / "spans.json").read_text())
  assert read["spans"] == ["2", "3", "4"]
  assert results["ProductionModel"].outputs["model"].metadata["version"] == 0.0
  index = json.loads((serving / "index.json").read_text())
  (entry,) = index["versions"]
  assert (entry["version"], entry["spans"]) == (1, ["2", "3", "4"])


@pytest.mark.e2e
def test_compiled_pipeline_pushes_only_a_model_that_beats_production(kfp_run, tmp_path):
  """A later run of a spec demanding +0.01 AUC over production, after the run
  above pushed version 1: the production step finds version 1, TFMA compares the
  candidate with it, and nothing is pushed. (The candidate here is version 1's own
  checkpoint, reused from the run above: it cannot beat itself.)"""
  from pipelines.kubeflow.compiler import compile_pipeline
  results, serving, work, first = kfp_run
  config = load_config(write_config(tmp_path, CONFIG.format(work=work)
                                    + "evaluator:\n  min_improvement: 0.01\n"))
  second = kfp_launcher.LocalKfp(
      compile_pipeline(config, tmp_path / "pipeline.yaml"), first.workdir, arguments={
          "data_dir": str(work / "spans"),
          "push_destination": json.dumps({"filesystem": {"base_directory": str(serving)}})})
  second.reuse(first, ["Ingest", "DriftGate", "StatisticsGen", "SchemaGen", "Transform",
                       "Tuner", "Trainer", "CheckpointEvaluator"])
  production = second.run_task("ProductionModel").outputs["model"].metadata
  assert production["version"] == 1.0
  blessing = second.run_task("Evaluator").outputs["blessing"].metadata
  assert blessing["blessed"] == 0.0
  pushed = second.run_task("Pusher")
  assert pushed.outputs["pushed_model"].metadata["pushed"] == 0.0
  assert "NOT pushed: the candidate is production version 1" in pushed.log
  assert store.Registry(str(serving)).versions() == [1]


@pytest.mark.e2e
def test_compiled_pipeline_honours_step_budget_and_stable_checkpoints(kfp_run):
  results, _, work, _ = kfp_run
  (run_dir,) = (work / "checkpoints" / "tp-kfp").iterdir()
  state = json.loads((run_dir / "training_state.json").read_text())
  assert state["history"][-1]["step"] == 240  # train_args from the run, not the compiled 300
  steps = sorted(int(p.name[5:-6]) for p in run_dir.glob("ckpt-*.index"))
  assert steps == [80, 160, 240]
  selected = results["CheckpointEvaluator"].outputs["model"].metadata
  assert selected["checkpoint_path"].startswith(str(run_dir))
  assert results["Evaluator"].outputs["blessing"].metadata["blessed"] == 1.0


@pytest.mark.e2e
def test_trainer_job_trains_on_a_runs_artifacts_and_reports_for_katib(kfp_run, tmp_path):
  """The TFJob / Katib entry point (the launchers', and k8s/jobs') on the artifacts
  of the run above."""
  import subprocess
  import sys
  results, _, work, launcher = kfp_run
  examples = launcher.object_path(results["Ingest"].outputs["examples"].uri)
  graph = launcher.object_path(results["Transform"].outputs["transform_graph"].uri)
  config = write_config(tmp_path, f"""\
      checkpoint_dir: {tmp_path}/checkpoints
      trainer: {{train_steps: 40, num_checkpoints: 2}}
      """)
  proc = subprocess.run(
      [sys.executable, "-m", "components.trainer.job", "--config", str(config),
       "--examples", str(examples), "--transform-graph", str(graph),
       "--hp", "learning_rate=0.01", "--hp", "units=32", "--hp", "num_layers=1"],
      capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  metrics = dict(line.split("=") for line in proc.stdout.splitlines()
                 if line.startswith("eval_"))
  assert set(metrics) == {"eval_loss", "eval_auc", "eval_accuracy"}
  assert 0.5 < float(metrics["eval_auc"]) <= 1.0
  (run_dir,) = (tmp_path / "checkpoints" / "training-patterns").iterdir()
  assert sorted(p.name for p in run_dir.glob("ckpt-*.index")) == ["ckpt-20.index",
                                                                   "ckpt-40.index"]


def test_trainer_job_names_a_wrong_artifact_path_and_writes_nothing(tmp_path):
  """A TFJob/Katib template pointing at the wrong directory: one line, exit 2."""
  import subprocess
  import sys
  config = write_config(tmp_path, f"checkpoint_dir: {tmp_path}/checkpoints\n")
  proc = subprocess.run(
      [sys.executable, "-m", "components.trainer.job", "--config", str(config),
       "--examples", str(tmp_path / "no-such-run"), "--transform-graph", str(tmp_path)],
      capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1] == (
      f"job: error: --examples {tmp_path}/no-such-run: no Split-train/ files; expected "
      "the Ingest step's examples artifact")
  assert not (tmp_path / "checkpoints").exists()


def test_entrypoint_keeps_a_typed_input_as_tfx_publishes_it(compiled):
  """The third shape: TFX's published executor input, already typed. The
  entrypoint must not lose its type, custom properties or outputs."""
  _, path, _ = compiled
  spec, _ = kfp_launcher.load_spec(path)
  inputs_spec = spec["components"]["StatisticsGen"]["inputDefinitions"]
  adapted = entrypoint.adapt_executor_input(
      _published_executor_input(), inputs_spec, lambda u: entrypoint.to_local(u, "/pod"))
  examples = _parse_inputs(adapted)["examples"][0]
  assert examples.type_name == "Examples"
  assert examples.get_string_custom_property("custom_property_1") == "string property"
  assert examples.uri == "/pod/gcs/root/input_1/"
  assert adapted["outputs"]["artifacts"]["output"]["artifacts"][0]["uri"] == "/pod/gcs/root/output/"


@pytest.mark.e2e
def test_trainer_step_with_two_workers_launches_a_tfjob_and_hands_on_its_record(
    kfp_run, tmp_path):
  """The compiled Trainer step of a two-worker config, run by the KFP launcher
  after the upstream tasks of the run above, against a fake Kubernetes API whose
  test-side operator runs the TFJob's replicas as local processes."""
  from pipelines.kubeflow.compiler import compile_pipeline
  from tests.fakes.k8s_api import FakeK8s
  from tests.fakes.tfjob_operator import LocalTrainingOperator, kubeconfig
  _, _, work, first = kfp_run
  config = load_config(write_config(tmp_path, CONFIG.format(work=work).replace(
      f"{work}/checkpoints", f"{tmp_path}/checkpoints")
      + "  tfjob_namespace: default\n  trainer: {workers: 2}\n"))
  spec_path = compile_pipeline(config, tmp_path / "pipeline.yaml")
  spec, platform = kfp_launcher.load_spec(spec_path)
  trainer_executor = spec["deploymentSpec"]["executors"]["Trainer_executor"]
  # The step's pod only watches the job: no GPU, no GPU node (the workers get them).
  assert "accelerator" not in trainer_executor["container"]["resources"]
  assert "tolerations" not in platform["deploymentSpec"]["executors"]["Trainer_executor"]
  assert trainer_executor["container"]["image"] == "registry.example.com/tp:test-cpu"

  with FakeK8s() as k8s:
    operator = LocalTrainingOperator(k8s)
    k8s.operator = operator
    second = kfp_launcher.LocalKfp(
        spec_path, first.workdir, arguments={"train_args": json.dumps({"num_steps": 60})},
        env={"KUBECONFIG": str(kubeconfig(tmp_path / "kubeconfig", k8s.url))})
    second.reuse(first, ["Ingest", "ProductionModel", "DriftGate", "StatisticsGen",
                         "SchemaGen", "Transform", "Tuner"])
    trainer = second.run_task("Trainer")
    selected = second.run_task("CheckpointEvaluator").outputs["model"].metadata

  (job,) = k8s.created()
  replicas = job["spec"]["tfReplicaSpecs"]
  assert sorted(replicas) == ["Worker"] and replicas["Worker"]["replicas"] == 2
  container = replicas["Worker"]["template"]["spec"]["containers"][0]
  assert container["image"] == "registry.example.com/tp:test"  # the GPU image
  assert container["command"][:3] == ["python", "-m", "components.trainer.job"]
  assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
  assert "TF_CONFIG" not in {e["name"] for e in container.get("env", [])}
  assert ("DELETE", f"/apis/kubeflow.org/v1/namespaces/default/tfjobs/"
          f"{job['metadata']['name']}") in k8s.route()
  (run_dir,) = (tmp_path / "checkpoints" / "tp-kfp").iterdir()
  record = json.loads((run_dir / "training_record.json").read_text())
  assert (record["final_step"], record["replicas"]) == (60, 2)
  assert record["strategy"] == "CollectiveAllReduceStrategy"
  assert f"launching TFJob default/{job['metadata']['name']}: 2 worker(s)" in trainer.log
  assert "[trainer] step 60/60" in trainer.log  # the chief's progress, streamed
  assert selected["checkpoint_path"].startswith(str(run_dir))
