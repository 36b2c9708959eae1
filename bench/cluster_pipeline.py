"""The compiled pipeline on the real single-node cluster (part of `make cluster-check`).

Why: every other run of the compiled pipeline uses the venv or buildah in place of
Kubernetes. Here, on the cluster of scripts/cluster/ with our CPU image imported:

1. `tpctl compile --config pipelines/configs/single_node_cluster.yaml`, with the
   Trainer as a two-worker TFJob and the Tuner as a Katib Experiment, run task by
   task by the local KFP launcher, each task a real Pod created through the
   `kubernetes` client (pipelines/kubeflow/cluster_pods.py). The TFJob is run by
   the real Training Operator, the Experiment by the real Katib (its trials are
   pods of our image; its own metrics collector reads them). The pushed model is
   loaded from the serving volume and scores raw examples.
2. A TFJob worker lost mid-training, twice, on a rerun of the Trainer task: its
   process killed (SIGKILL: exit 137), then its pod deleted. What the operator
   did, whether the task survived, and if not, whether a rerun resumed from the
   last checkpoint and ended at the budget.

Needs the cluster up with the operators and the image (bench/cluster.py sees to
it), and root (the volumes are read on the host).

  python -m bench.cluster_pipeline   # on a running cluster; prints what it measured
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from bench import cluster
from bench.cluster import say

REPO = Path(__file__).resolve().parent.parent
STATE = Path(cluster.KUBECONFIG).parent.parent
VOLUMES = STATE / "volumes"  # the local PersistentVolumes, one directory per claim
NAMESPACE = "training-patterns"
RUNNER = "pipeline-runner"  # the pipeline pods' service account, as KFP's
# The claim whose volume holds the launcher's object store and task directories
# (what KFP's launcher would download into each pod).
STAGING = "training-patterns-pipeline-root"
CONFIG = REPO / "pipelines" / "configs" / "single_node_cluster.yaml"
PIPELINE = "tp-cluster"
TRAIN_STEPS = 300  # the config's budget
LOSS_STEPS = 900  # the reruns' budget: time to lose a worker mid-training


def on_host(path_in_pod: str) -> Path:
  """A path under one of the claims' mount paths, as the host (the node) sees it."""
  from components.config import KubeflowConfig
  for v in KubeflowConfig().volumes:
    if path_in_pod == v.mount_path or path_in_pod.startswith(v.mount_path + "/"):
      return VOLUMES / v.pvc / os.path.relpath(path_in_pod, v.mount_path)
  raise ValueError(f"{path_in_pod} is on no claim")


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
  """bench/cluster.py's kubectl, its stdout; raises on failure unless check=False."""
  proc = cluster.kubectl(*args, stdin=stdin)
  if check and proc.returncode:
    raise RuntimeError(f"kubectl {' '.join(args[:3])}: {proc.stderr.strip()}")
  return proc.stdout


def runner_account() -> None:
  """KFP runs pipeline pods as its own service account, with a token (the Trainer
  and Tuner steps call the API): here `pipeline-runner` in our namespace, bound to
  the launchers' Role of k8s/kfp."""
  objects = list(yaml.safe_load_all((REPO / "k8s/kfp/rbac-launchers.yaml").read_text()))
  for obj in objects:
    obj["metadata"]["namespace"] = NAMESPACE
    if obj["kind"] == "RoleBinding":
      obj["metadata"]["name"] += "-cluster-check"
      obj["subjects"] = [{"kind": "ServiceAccount", "name": RUNNER, "namespace": NAMESPACE}]
  objects.append({"apiVersion": "v1", "kind": "ServiceAccount",
                  "metadata": {"name": RUNNER, "namespace": NAMESPACE}})
  kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(objects))


def compile_spec(work: Path, name: str = "pipeline", parameter_server: bool = False) -> Path:
  """The shipped single-node config, the Trainer as a TFJob (2 workers, or with
  `parameter_server` a chief, 1 worker and 1 PS, each smaller so all fit), the
  Tuner on Katib."""
  config = yaml.safe_load(CONFIG.read_text())
  config["pipeline_name"] = PIPELINE
  config["kubeflow"]["tuner"] = {"backend": "katib"}
  if parameter_server:
    config["trainer"].update(strategy="parameter_server", workers=1, ps=1)
    config["kubeflow"]["trainer"] = {"workers": 1, "ps": 1}
    config["kubeflow"]["training_resources"]["cpu"] = "400m"
  else:
    config["kubeflow"]["trainer"] = {"workers": 2}
  path = work / f"{name}.config.yaml"
  path.write_text(yaml.safe_dump(config))
  spec = work / f"{name}.yaml"
  proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "compile", "--config",
                         str(path), "-o", str(spec)], cwd=REPO, capture_output=True,
                        text=True, timeout=600)
  if proc.returncode:
    raise RuntimeError(f"tpctl compile failed: {proc.stderr[-2000:]}")
  return spec


def launcher(spec: Path, work: Path, arguments: dict | None = None):
  from pipelines.kubeflow.cluster_pods import KubernetesPods
  from pipelines.kubeflow.local_launcher import LocalKfp
  from components.launchers.custom_resource import default_client
  os.environ["KUBECONFIG"] = cluster.KUBECONFIG
  pods = KubernetesPods(NAMESPACE, (STAGING, VOLUMES / STAGING), default_client(),
                        service_account=RUNNER, progress=lambda line: say(f"  {line}"))
  return LocalKfp(spec, work / "launcher", arguments=arguments, pods=pods)


def run_pipeline(spec: Path, work: Path):
  """Every task as a pod; (launcher, {task: seconds}, the results)."""
  from pipelines.kubeflow.local_launcher import task_order
  kfp = launcher(spec, work)
  seconds, results = {}, {}
  for task in task_order(kfp.spec):
    began = time.monotonic()
    results[task] = kfp.run_task(task)
    seconds[task] = time.monotonic() - began
    say(f"{task}: Succeeded as a pod in {seconds[task]:.0f} s")
  return kfp, seconds, results


def scores_from_the_pushed_model(pushed_destination: str) -> int:
  """The pushed version, loaded from the serving volume, scores raw examples."""
  import tensorflow as tf
  from components import features
  from components.config import PipelineConfig
  from components.csv_ingest import embedded_data, executor
  model = tf.saved_model.load(str(on_host(pushed_destination)))
  data = embedded_data.materialize(tempfile.mkdtemp(prefix="tp-data-"))
  spec = features.column_spec(PipelineConfig())
  label = PipelineConfig().task.label
  serialized = []
  for example in executor.examples_in_file(os.path.join(data, "data.csv"), spec)[:100]:
    del example.features.feature[label]
    serialized.append(example.SerializeToString())
  shutil.rmtree(data, ignore_errors=True)
  scores = model.signatures["serving_default"](examples=tf.constant(serialized))["scores"]
  scores = scores.numpy().reshape(-1)
  if not ((scores >= 0) & (scores <= 1)).all():
    raise RuntimeError(f"scores out of [0, 1]: {scores[:5]}")
  return len(scores)


# --- losing a worker ---------------------------------------------------------------
def _tfjob_pods(role: str = "worker") -> list[dict]:
  out = kubectl("-n", NAMESPACE, "get", "pods", "-l",
                f"training.kubeflow.org/replica-type={role}", "-o", "json")
  return json.loads(out)["items"]


def _host_pid(pod_uid: str, needle: str = "components.trainer.job") -> int | None:
  """The container's training process as the host sees it (its cgroup names the pod)."""
  mark = "pod" + pod_uid
  for proc in Path("/proc").glob("[0-9]*"):
    try:
      if mark in (proc / "cgroup").read_text() and \
          needle in (proc / "cmdline").read_bytes().decode(errors="replace"):
        return int(proc.name)
    except OSError:
      continue
  return None


def _checkpoint_steps(run_dir: Path) -> list[int]:
  return sorted(int(m.group(1)) for p in run_dir.glob("*/ckpt-*.index")
                if (m := re.match(r"ckpt-(\d+)\.index", p.name)))


def lose_a_worker(spec: Path, work: Path, earlier, how: str, index: str = "1",
                  first: tuple[str, ...] = ()) -> dict:
  """Reruns the Trainer task (upstream outputs reused) on fresh checkpoints with a
  larger budget; once the first checkpoint is written, worker `index` loses its
  process (`kill`: SIGKILL, exit 137, retryable) or its pod (`delete`). Returns
  what the operator and the task did, and a rerun's outcome if the task failed.
  `first`: tasks of `spec` to run again before the Trainer (not reused)."""
  from pipelines.kubeflow.local_launcher import TaskFailed
  checkpoints = VOLUMES / "training-patterns-checkpoints" / PIPELINE
  shutil.rmtree(checkpoints, ignore_errors=True)  # fresh: no resume from run 1
  arguments = {"train_args": json.dumps({"num_steps": LOSS_STEPS})}
  kfp = launcher(spec, work, arguments)
  kfp.reuse(earlier, [t for t in earlier.spec["root"]["dag"]["tasks"] if t not in (
      "Trainer", "CheckpointEvaluator", "Evaluator", "Pusher", *first)])
  for task in first:
    kfp.run_task(task)
  outcome: dict = {"how": how, "worker": index, "restarts": 0, "conditions": [], "exits": {}}
  finished = threading.Event()

  def strike_then_watch() -> None:
    struck = False
    while not finished.is_set():
      steps = _checkpoint_steps(checkpoints)
      pods = _tfjob_pods()
      one = [p for p in pods if p["metadata"]["labels"].get(
          "training.kubeflow.org/replica-index") == index]
      for pod in pods:  # restarts in place, of any worker, and why each ended
        for status in pod["status"].get("containerStatuses", []):
          outcome["restarts"] = max(outcome["restarts"], status.get("restartCount", 0))
          ended = (status.get("lastState") or {}).get("terminated")
          if ended:
            replica = pod["metadata"]["labels"].get("training.kubeflow.org/replica-index")
            outcome["exits"][f"worker {replica}"] = ended.get("exitCode")
      for job in json.loads(kubectl("-n", NAMESPACE, "get", "tfjobs", "-o", "json"))["items"]:
        for c in job.get("status", {}).get("conditions", []):
          if c["status"] == "True" and c["type"] not in outcome["conditions"]:
            outcome["conditions"].append(c["type"])
      if not struck and steps and one and one[0]["status"].get("phase") == "Running":
        name = one[0]["metadata"]["name"]
        outcome["at_step"] = steps[-1]
        if how == "kill":
          pid = _host_pid(one[0]["metadata"]["uid"])
          if pid is None:
            outcome["error"] = f"no training process found for pod {name}"
            return
          os.kill(pid, signal.SIGKILL)
        else:
          kubectl("-n", NAMESPACE, "delete", "pod", name, "--wait=false")
        struck = True
        say(f"  worker {index} ({name}): "
            f"{'process killed (SIGKILL)' if how == 'kill' else 'pod deleted'} after "
            f"checkpoint {steps[-1]}")
      time.sleep(0.5)
    if not struck:
      outcome["error"] = f"the task ended before worker {index} could be struck"

  watcher = threading.Thread(target=strike_then_watch, daemon=True)
  began = time.monotonic()
  watcher.start()
  try:
    kfp.run_task("Trainer")
    outcome["task"] = "Succeeded"
  except TaskFailed as failed:
    outcome["task"] = "Failed"
    outcome["reason"] = _reason(str(failed))
  finally:
    finished.set()
    watcher.join(timeout=10)
  outcome["seconds"] = time.monotonic() - began
  if outcome["task"] == "Failed":
    # The step failed with the operator's reason: a rerun must resume, not restart.
    began = time.monotonic()
    try:
      kfp.run_task("Trainer")
      outcome["rerun"] = "Succeeded"
    except TaskFailed as failed:
      outcome["rerun"] = f"Failed: {_reason(str(failed))}"
    outcome["rerun_seconds"] = time.monotonic() - began
  outcome["record"] = _record(checkpoints)
  say(f"  losing worker {index} ({how}): {json.dumps(outcome, default=str)}")
  return outcome


def _record(checkpoints: Path) -> dict:
  """The chief's training record of the last attempt: where it started, where it
  ended, what it resumed from."""
  paths = sorted(checkpoints.glob("*/training_record.json"), key=lambda p: p.stat().st_mtime)
  if not paths:
    return {}
  record = json.loads(paths[-1].read_text())
  return {k: record.get(k) for k in ("start_step", "final_step", "resumed_from", "replicas",
                                     "strategy")}


def _reason(text: str) -> str:
  """The step's one-line reason: its TFJob line, else its last 'failed' line."""
  lines = [line.strip() for line in text.splitlines() if "fail" in line.lower()]
  tfjob = [line for line in lines if "TFJob" in line and not line.startswith("[trainer] TFJob")]
  return ((tfjob or lines or text.splitlines()[:1] or [""])[-1])[:300]


# --- the CronJob --------------------------------------------------------------------
CRON_CHECK = "training-patterns-retrain-check"


def cronjob_fires(image: str, timeout: int = 1800) -> dict:
  """k8s/base's CronJob as rendered, on a one-minute schedule, with our
  image and a short training config: the first firing trains and pushes, a later
  one says "nothing to do". (Its own name and ConfigMap; the real one is left as
  applied.) Returns each firing's seconds and last log line."""
  # k8s/base's (1 CPU): the cpu overlay's asks for 2, all this node has.
  rendered = yaml.safe_load_all(kubectl("kustomize", str(REPO / "k8s/base")))
  objects = {o["kind"]: o for o in rendered if o and o["kind"] in ("CronJob", "ConfigMap")}
  config = yaml.safe_load(objects["ConfigMap"]["data"]["config.yaml"])
  config.update({"pipeline_name": "tp-cron-check", "run_dir": "/mnt/pipeline-root/cron-check",
                 "serving_dir": "/mnt/serving/cron-check",
                 "checkpoint_dir": "/mnt/checkpoints/cron-check",
                 "trainer": {"train_steps": TRAIN_STEPS, "num_checkpoints": 3},
                 "tuner": {"max_trials": 1, "steps_per_trial": 50}})
  config_map = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": CRON_CHECK, "namespace": NAMESPACE},
                "data": {"config.yaml": yaml.safe_dump(config)}}
  cron = objects["CronJob"]
  cron["metadata"] = {"name": CRON_CHECK, "namespace": NAMESPACE,
                      "labels": cron["metadata"].get("labels", {})}
  cron["spec"]["schedule"] = "* * * * *"
  cron["spec"]["startingDeadlineSeconds"] = 120
  pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
  (container,) = pod["containers"]
  container["image"] = image
  container["imagePullPolicy"] = "IfNotPresent"  # imported, nothing to pull from
  for volume in pod["volumes"]:
    if "configMap" in volume:
      volume["configMap"]["name"] = CRON_CHECK
  kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all([config_map, cron]))
  began = time.monotonic()
  firings: list[dict] = []
  try:
    while len(firings) < 2 and time.monotonic() - began < timeout:
      jobs = json.loads(kubectl("-n", NAMESPACE, "get", "jobs", "-o", "json"))["items"]
      ours = sorted((j for j in jobs if j["metadata"]["name"].startswith(CRON_CHECK)),
                    key=lambda j: j["metadata"]["creationTimestamp"])
      for job in ours[len(firings):]:
        status = job.get("status", {})
        done = status.get("succeeded") or status.get("failed")
        if not done:
          break
        name = job["metadata"]["name"]
        log = kubectl("-n", NAMESPACE, "logs", f"job/{name}", check=False).strip().splitlines()
        start, end = (status.get("startTime"), status.get("completionTime"))
        firings.append({"job": name, "succeeded": bool(status.get("succeeded")),
                        "seconds": _seconds(start, end) if end else None,
                        "last": log[-1] if log else ""})
        say(f"CronJob firing {len(firings)}: {name} "
            f"{'Succeeded' if status.get('succeeded') else 'Failed'}; its last line: "
            f"{firings[-1]['last'][:160]}")
      time.sleep(5)
  finally:
    # (Its Jobs are owned by it: the garbage collector deletes them too.)
    kubectl("-n", NAMESPACE, "delete", "cronjob", CRON_CHECK, "--wait=true", check=False)
    kubectl("-n", NAMESPACE, "delete", "configmap", CRON_CHECK, check=False)
  return {"firings": firings}


def _seconds(start: str, end: str) -> float:
  from datetime import datetime
  parse = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
  return (parse(end) - parse(start)).total_seconds()


IMAGE = "localhost/training-patterns:cluster-cpu"  # scripts/cluster/image.sh's


def clean() -> None:
  """What an earlier check left on the volumes (they keep their data): its
  checkpoints would be resumed, its pushes compared against."""
  for claim, sub in (("training-patterns-checkpoints", PIPELINE),
                     ("training-patterns-serving", PIPELINE),
                     ("training-patterns-checkpoints", "cron-check"),
                     ("training-patterns-serving", "cron-check"),
                     ("training-patterns-pipeline-root", "cron-check"),
                     (STAGING, "launcher")):
    shutil.rmtree(VOLUMES / claim / sub, ignore_errors=True)


def _lines(log: str, *needles: str) -> list[str]:
  return [line.strip() for line in log.splitlines() if any(n in line for n in needles)]


def check() -> dict:
  """Everything of the module docstring; the results for the report."""
  clean()
  runner_account()
  (VOLUMES / STAGING / "launcher").mkdir(parents=True, exist_ok=True)
  work = Path(tempfile.mkdtemp(prefix="run-", dir=VOLUMES / STAGING / "launcher"))
  out: dict = {}
  try:
    spec = compile_spec(work)
    kfp, out["seconds"], results = run_pipeline(spec, work)
    pushed = results["Pusher"].outputs["pushed_model"].metadata
    out["pushed"] = {"pushed": pushed.get("pushed"),
                     "destination": pushed.get("pushed_destination")}
    out["scored"] = scores_from_the_pushed_model(str(pushed.get("pushed_destination")))
    out["tfjob"] = _lines(results["Trainer"].log, "TFJob ")[-3:]
    out["katib"] = _lines(results["Tuner"].log, "Experiment", "trial")[-4:]
    say(f"the pipeline as pods: pushed {out['pushed']}; the pushed model scored "
        f"{out['scored']} raw examples")
    out["losses"] = [lose_a_worker(spec, work, kfp, how) for how in ("kill", "delete")]
    # Parameter servers: a chief (the coordinator), one worker, one PS.
    ps_spec = compile_spec(work, "parameter-server", parameter_server=True)
    # Its Transform again: parameter-server training needs a TF2-mode graph (the
    # Trainer refuses the 2-worker run's TF1 one in one line; the first check did
    # not know and reused it).
    out["ps"] = lose_a_worker(ps_spec, work, kfp, "kill", index="0", first=("Transform",))
  finally:
    shutil.rmtree(work, ignore_errors=True)
  out["cron"] = cronjob_fires(IMAGE)
  return out


def section(out: dict) -> list[str]:
  """The report's lines (bench/cluster.py writes them into BENCHMARKS.md)."""
  rows = [f"| {task} | {s:.0f} |" for task, s in out["seconds"].items()]
  lines = [
      "The compiled pipeline (`pipelines/configs/single_node_cluster.yaml`, the Trainer as a "
      "2-worker TFJob, the Tuner as a Katib Experiment) run task by task by the local KFP "
      "launcher, **each task a Pod of our CPU image** (`make cluster-image`) created through "
      "the `kubernetes` client, with the compiled requests, the platform spec's claims and "
      "the restricted security context, in the namespace of `k8s/overlays/cpu` (Pod "
      "Security baseline enforced):",
      "", "| task (its pod, start to end) | s |", "|---|---|", *rows,
      f"| **all {len(rows)} tasks** | **{sum(out['seconds'].values()):.0f}** |", "",
      f"Pushed: `{out['pushed']['destination']}` (pushed={out['pushed']['pushed']}); that "
      f"version, loaded from the serving volume, scored {out['scored']} raw examples.",
      "", "The Trainer step's TFJob, run by the real Training Operator (its last lines):", "",
      *[f"    {line}" for line in out["tfjob"]], "",
      "The Tuner step's Katib Experiment, run by the real Katib, trials as pods of our "
      "image, metrics read by Katib's own collector (its last lines):", "",
      *[f"    {line}" for line in out["katib"]], "",
      f"A TFJob worker lost mid-training (the Trainer task rerun on fresh checkpoints "
      f"with a {LOSS_STEPS}-step budget; the worker struck once the first checkpoint was "
      "written; the launcher's restartPolicy OnFailure):", "",
      "| what is lost | at checkpoint | operator's conditions | restarts in place (exit codes "
      "before them) | task | rerun | the last attempt's record |",
      "|---|---|---|---|---|---|---|"]
  for loss in out["losses"] + [out["ps"]]:
    what = {"kill": "its process (SIGKILL, exit 137)", "delete": "its pod (deleted)"}[loss["how"]]
    what = (f"parameter servers (chief, 1 worker, 1 PS): worker 0 loses {what}"
            if loss is out["ps"] else f"2 workers: worker 1 loses {what}")
    task = loss["task"] + (f": {loss['reason']}" if loss.get("reason") else "")
    rerun = loss.get("rerun", "not needed")
    if "rerun_seconds" in loss:
      rerun += f" in {loss['rerun_seconds']:.0f} s"
    record = loss.get("record", {})
    lines.append(f"| {what} | {loss.get('at_step', loss.get('error'))} | "
                 f"{', '.join(loss['conditions'])} | {loss['restarts']}"
                 + (f" ({', '.join(f'{w}: {c}' for w, c in sorted(loss['exits'].items()))})"
                    if loss["exits"] else "") + f" | {task} | {rerun} | "
                 f"steps {record.get('start_step')} to {record.get('final_step')}, resumed "
                 f"from {record.get('resumed_from') or 'nothing'} |")
  firings = out["cron"]["firings"]
  lines += ["", "The CronJob of `k8s/base` (`tpctl retrain`), on a one-minute "
            "schedule with our image and a short config:", "",
            "| firing | Job | s | its last line |", "|---|---|---|---|"]
  lines += [f"| {i} | {'Succeeded' if f['succeeded'] else 'Failed'} | {f['seconds']} | "
            f"`{f['last'][:150]}` |" for i, f in enumerate(firings, 1)]
  return lines


def main() -> None:
  # Stopped (`kill`): unwind, so that the running task's pod is deleted (and with
  # it any TFJob or Experiment that pod owns).
  signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
  out = check()
  print("\n".join(section(out)))


if __name__ == "__main__":
  main()
