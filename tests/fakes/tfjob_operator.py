"""A test-side stand-in for the Kubeflow Training Operator, for tests/fakes/k8s_api.py.

When a TFJob is created it runs the job's replicas as local processes, following
the operator's documented contract (kubeflow/training-operator, TFJob):

- each replica runs the container command of its replica spec, with TF_CONFIG
  naming every replica of the job and its own task (localhost ports stand in for
  the per-replica Services, `<job>-<type>-<index>:2222`);
- conditions go Created -> Running -> Succeeded or Failed (reason and message);
- default success policy: the job succeeds when the chief succeeds, or worker 0
  when there is no chief;
- each replica is a pod labelled `training.kubeflow.org/job-name`,
  `replica-type` and `replica-index`, whose log is the process output.

Not modelled: restarts under restartPolicy OnFailure and backoffLimit (a failed
replica fails the job at once), scheduling, and GPUs.
"""
from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

from components.launchers import local_processes

_REPO = Path(__file__).resolve().parent.parent


def kubeconfig(path: Path, server_url: str, namespace: str = "default") -> Path:
  """A kubeconfig for the fake API server, as `kubectl` would read it."""
  path.write_text(f"""\
apiVersion: v1
kind: Config
clusters: [{{name: fake, cluster: {{server: "{server_url}"}}}}]
users: [{{name: fake, user: {{token: fake-token}}}}]
contexts: [{{name: fake, context: {{cluster: fake, user: fake, namespace: {namespace}}}}}]
current-context: fake
""")
  return path


class LocalTrainingOperator:
  """Install with `k8s.operator = LocalTrainingOperator(k8s)`."""

  def __init__(self, server):
    self.server = server
    self.jobs: list[dict] = []  # every TFJob it ran, as created
    self._replicas: dict[str, list] = {}
    server.on_delete = self._on_delete

  def __call__(self, server, tfjob: dict) -> None:
    self.jobs.append(tfjob)
    threading.Thread(target=self._run, args=(tfjob,), daemon=True).start()

  def _run(self, tfjob: dict) -> None:
    name, ns = tfjob["metadata"]["name"], tfjob["metadata"]["namespace"]
    specs = tfjob["spec"]["tfReplicaSpecs"]
    counts = {kind.lower(): spec["replicas"] for kind, spec in specs.items()}
    command = specs["Worker"]["template"]["spec"]["containers"][0]["command"]
    if command[0] == "python":  # the image's python is the project venv here
      command = [sys.executable, *command[1:]]
    self.server.add_condition(name, "Created", "TFJobCreated", f"TFJob {name} is created.",
                              namespace=ns)
    reporter = ("Chief" if "chief" in counts else "Worker")
    pod_name = self.server.add_pod(name, reporter, 0, log="", phase="Running", namespace=ns)
    self.server.add_condition(name, "Running", "TFJobRunning", f"TFJob {name} is running.",
                              namespace=ns)
    try:
      local_processes.run(
          command, workers=counts.get("worker", 1), ps=counts.get("ps", 0),
          chief="chief" in counts, log_dir=tempfile.mkdtemp(prefix=f"{name}-"),
          progress=lambda _: None,
          output=lambda line: self.server.append_log(pod_name, line + "\n", namespace=ns),
          env={"PYTHONPATH": str(_REPO)},
          on_start=lambda replicas: self._replicas.__setitem__(name, replicas))
    except local_processes.ClusterFailed as e:
      if self.server.tfjob(name, ns) is not None:
        self.server.add_condition(name, "Failed", "TFJobFailed", str(e), namespace=ns)
      return
    self.server.add_condition(name, "Succeeded", "TFJobSucceeded",
                              f"TFJob {ns}/{name} successfully completed.", namespace=ns)

  def _on_delete(self, server, tfjob: dict) -> None:
    """Deleting a job deletes its pods: stop whatever still runs."""
    for replica in self._replicas.get(tfjob["metadata"]["name"], []):
      if replica.process.poll() is None:
        replica.process.kill()
