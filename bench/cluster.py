"""`make cluster-check`: the project against a real Kubernetes.

Brings up the single-node cluster of scripts/cluster/ (Kubernetes v1.34.4, the
real Training Operator and Katib, all built from pinned sources), then:
- applies the pipeline's home (k8s/overlays/cpu) for real before the operators
  exist: it must need none of them and start nothing;
- runs the two smoke checks;
- replays the launchers' unit-test request bodies against the real API server
  (dryRun=All, strict field validation);
- builds our CPU image, imports it into the node, and runs the compiled pipeline
  with each task a Pod, its TFJob and Katib Experiment under the real operators,
  loses a TFJob worker twice, and fires the CronJob (bench/cluster_pipeline.py;
  skipped with --manifests-only);
- offers every object of each kustomization in k8s/ to the API server by
  server-side apply in dry-run mode, with the real CRDs and webhooks installed,
  and asks the API server for every RBAC decision the launchers depend on.
Records the times, the control plane's memory and each verdict in BENCHMARKS.md,
and takes the cluster down again (the host as it was). Needs root; not part of
`make test` (a cold cluster build alone takes about 20 minutes).

  python -m bench.cluster [--keep-up] [--manifests-only]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench import report

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts" / "cluster"
KUBECTL = REPO / ".cache" / "cluster" / "bin" / "kubectl"
KUBECONFIG = "/var/lib/training-patterns-cluster/kubeconfig/admin.kubeconfig"
KUSTOMIZATIONS = ("k8s/base", "k8s/overlays/cpu", "k8s/overlays/gpu", "k8s/jobs/base",
                  "k8s/jobs/cpu", "k8s/jobs/gpu", "k8s/flink")
HOME = "k8s/overlays/cpu"  # applied for real before the operators exist
# Processes whose peak memory is the cluster's cost (the binaries' names).
PROCESSES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet",
             "kube-proxy", "etcd", "containerd", "coredns", "training-operator",
             "katib-controller", "katib-db-manager", "mariadbd")
_VERDICT = re.compile(r"^(\S+) serverside-applied \(server dry run\)$")


def say(msg: str) -> None:
  print(f"cluster-check: {msg}", flush=True)


def timed(*cmd: str, timeout: int = 1800) -> tuple[float, subprocess.CompletedProcess]:
  began = time.monotonic()
  proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
  return time.monotonic() - began, proc


def must(what: str, result: tuple[float, subprocess.CompletedProcess]) -> float:
  seconds, proc = result
  if proc.returncode != 0:
    sys.exit(f"cluster-check: {what} failed (exit {proc.returncode}):\n"
             f"{(proc.stdout + proc.stderr)[-3000:]}")
  say(f"{what}: {seconds:.1f} s")
  return seconds


def kubectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
  return subprocess.run([str(KUBECTL), "--kubeconfig", KUBECONFIG, *args], cwd=REPO,
                        input=stdin, capture_output=True, text=True, timeout=300)


def peak_rss_mib() -> dict[str, int]:
  """VmHWM of each running cluster process, by binary name (summed over copies)."""
  out: dict[str, int] = collections.Counter()
  for status in Path("/proc").glob("[0-9]*/status"):
    try:
      fields = dict(line.split(":", 1) for line in status.read_text().splitlines()
                    if ":" in line)
    except OSError:
      continue
    name = fields.get("Name", "").strip()
    if name in PROCESSES and "VmHWM" in fields:
      out[name] += int(fields["VmHWM"].split()[0]) // 1024
  return dict(out)


def dry_run(kustomization: str) -> tuple[list[str], list[str]]:
  """(objects accepted, error lines) of a server-side apply in dry-run mode."""
  proc = kubectl("apply", "-k", kustomization, "--server-side", "--dry-run=server")
  accepted = [m.group(1) for line in proc.stdout.splitlines()
              if (m := _VERDICT.match(line.strip()))]
  errors = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
  return accepted, errors


def home_without_add_ons() -> dict[str, object]:
  """Apply the pipeline's home for real on the cluster before the Training
  Operator and Katib are installed: it must be accepted whole, bind its claims
  and start nothing (no pod, no TFJob, no Experiment: their API does not even
  exist yet). The namespace stays for the smoke checks, which reuse its claims."""
  proc = kubectl("apply", "--server-side", "-k", HOME)
  applied = [line for line in proc.stdout.splitlines() if "serverside-applied" in line]
  errors = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
  bound = kubectl("-n", "training-patterns", "wait", "--for=jsonpath={.status.phase}=Bound",
                  "pvc", "--all", "--timeout=60s").returncode == 0
  kubeflow_apis = kubectl("api-resources", "--api-group=kubeflow.org", "-o", "name").stdout.split()
  time.sleep(10)  # anything the apply started would have a pod by now
  pods = kubectl("-n", "training-patterns", "get", "pods", "-o", "name").stdout.split()
  jobs = kubectl("-n", "training-patterns", "get", "jobs", "-o", "name").stdout.split()
  ok = proc.returncode == 0 and not errors and bound and not kubeflow_apis and not pods and not jobs
  say(f"{HOME} for real without the operators: {len(applied)} object(s) applied, claims "
      f"{'bound' if bound else 'NOT bound'}, kubeflow.org APIs {kubeflow_apis or 'none'}, "
      f"pods {pods or 'none'}, Jobs {jobs or 'none'}" + (f"; {'; '.join(errors)}" if errors else ""))
  # What the split is for: the templates cannot even be applied on such a cluster.
  jobs = kubectl("apply", "--server-side", "--dry-run=server", "-k", "k8s/jobs/cpu")
  without = next((line.strip() for line in jobs.stderr.splitlines() if line.strip()), "accepted")
  say(f"k8s/jobs/cpu on the same cluster: {without}")
  if not ok:
    sys.exit(f"cluster-check: {HOME} did not apply cleanly, or started something, without the "
             "operators (see the line above)")
  return {"applied": len(applied), "jobs_without_operators": without}


# The launchers' unit tests, whose request bodies (recorded by tests/fakes/k8s_api.py)
# are replayed against the real API server.
FAKE_API_TESTS = ("tests/test_tfjob_launcher.py", "tests/test_katib_launcher.py")


def fake_bodies_on_the_real_server() -> tuple[int, list[str]]:
  """Runs the launchers' unit tests with the stand-in API server recording every
  body it is sent, then sends each to the real API server: create, dry run, strict
  field validation (kubectl's), in our namespace. (bodies sent, refusals)."""
  with tempfile.TemporaryDirectory() as directory:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *FAKE_API_TESTS], cwd=REPO, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "TP_RECORD_K8S_BODIES": directory})
    if proc.returncode:
      sys.exit(f"cluster-check: the launchers' unit tests failed:\n{proc.stdout[-2000:]}")
    recorded = [json.loads(p.read_text()) for p in sorted(Path(directory).glob("*.json"))]
  refused = []
  for r in recorded:
    body = r["body"]
    body.setdefault("metadata", {})["namespace"] = "training-patterns"
    out = kubectl("create", "--dry-run=server", "--validate=strict", "-o", "name", "-f", "-",
                  stdin=json.dumps(body))
    if out.returncode:
      refused.append(f"{body.get('kind')} {body['metadata'].get('name')}: "
                     f"{' '.join(out.stderr.split())[:300]}")
  say(f"the launchers' unit-test request bodies: {len(recorded)} sent with dryRun=All, "
      f"{len(recorded) - len(refused)} accepted" + (f"; refused: {refused}" if refused else ""))
  return len(recorded), refused


LAUNCHER_SA = "system:serviceaccount:kubeflow:pipeline-runner"  # k8s/kfp's subject
STEP_SA = "system:serviceaccount:training-patterns:training-patterns"  # k8s/base's
# (who, verb, resource, allowed?): every call the launchers make (create, get and
# delete their object, list pods, read a pod's log; components/launchers/) and the
# CronJob's one (its config), each granted; and near misses, each refused.
RBAC = [
    *[(LAUNCHER_SA, verb, f"{kind}.kubeflow.org", True)
      for kind in ("tfjobs", "experiments") for verb in ("create", "get", "delete")],
    (LAUNCHER_SA, "list", "pods", True),
    (LAUNCHER_SA, "get", "pods --subresource=log", True),
    (LAUNCHER_SA, "list", "tfjobs.kubeflow.org", False),
    (LAUNCHER_SA, "delete", "pods", False),
    (LAUNCHER_SA, "get", "secrets", False),
    (STEP_SA, "get", "configmaps/training-patterns-config", True),
    (STEP_SA, "get", "configmaps/another-config", False),
    (STEP_SA, "list", "configmaps", False),
    (STEP_SA, "create", "tfjobs.kubeflow.org", False),
]


def rbac_rows() -> tuple[list[str], int]:
  """`kubectl auth can-i` for each RBAC line, against the Roles really applied."""
  rows, wrong = [], 0
  for who, verb, resource, allowed in RBAC:
    # ("resource/name" names one object; a subresource takes --subresource.)
    proc = kubectl("auth", "can-i", verb, *resource.split(), "-n", "training-patterns",
                   f"--as={who}")
    answer = proc.stdout.strip() or proc.stderr.strip()
    ok = (answer == "yes") == allowed
    wrong += not ok
    rows.append(f"| `{who.rsplit(':', 1)[1]}` | {verb} {resource} | "
                f"{'allowed' if allowed else 'refused'} | {answer} | {'ok' if ok else 'WRONG'} |")
  return rows, wrong


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--keep-up", action="store_true", help="leave the cluster running")
  parser.add_argument("--manifests-only", action="store_true",
                      help="skip our image and the pipeline's pods (minutes instead of ~40)")
  args = parser.parse_args(argv)
  # Stopped (`kill`): unwind, so that a running step's pod is deleted, and with it
  # the TFJob or Experiment it owns.
  signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
  built = must("build.sh (compiles only what is missing)", timed(str(SCRIPTS / "build.sh"),
                                                                  timeout=3600))
  cluster_up = must("cluster up", timed(str(SCRIPTS / "cluster.sh"), "up"))
  if kubectl("api-resources", "--api-group=kubeflow.org", "-o", "name").stdout.strip():
    # CRDs of an earlier `make cluster` stay in etcd: remove them (and the operators,
    # if left running) so the home meets a cluster without the add-ons. `operators.sh
    # up` below installs them again.
    must("operators down (left from an earlier run)", timed(str(SCRIPTS / "operators.sh"), "down"))
    crds = [c for c in kubectl("get", "crd", "-o", "name").stdout.split()
            if c.endswith(".kubeflow.org")]
    must(f"{len(crds)} kubeflow.org CRDs removed", (0.0, kubectl("delete", "--wait=true", *crds)))
  home = home_without_add_ons()
  operators_up = must("operators up", timed(str(SCRIPTS / "operators.sh"), "up"))
  smoke = must("smoke check", timed(str(SCRIPTS / "smoke.sh")))
  operators_smoke = must("operators smoke check", timed(str(SCRIPTS / "operators_smoke.sh")))
  memory = peak_rss_mib()
  sent, refused = fake_bodies_on_the_real_server()
  pipeline: list[str] = []
  image = 0.0
  if not args.manifests_only:
    from bench import cluster_pipeline
    image = must("our image on the node (scripts/cluster/image.sh)",
                 timed(str(SCRIPTS / "image.sh"), timeout=3600))
    pipeline = cluster_pipeline.section(cluster_pipeline.check())

  # The namespace is there for real (a dry run would not persist it, and Katib's
  # webhook reads its label); every object of each kustomization in dry-run mode.
  rows = []
  for k in KUSTOMIZATIONS:
    accepted, errors = dry_run(k)
    verdict = "all accepted" if not errors else "; ".join(errors)[:300]
    say(f"{k}: {len(accepted)} object(s) accepted; {verdict}")
    rows.append(f"| `{k}` | {len(accepted)} | {verdict} |")
  # RBAC as the API server decides it: the base's (as kustomize renders it: the
  # binding's subject gets its namespace there) and the launchers' Role applied.
  rendered = yaml.safe_load_all(kubectl("kustomize", "k8s/base").stdout)
  rbac_objects = [o for o in rendered if o and o["kind"] in ("ServiceAccount", "Role",
                                                               "RoleBinding")]
  kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(rbac_objects))
  kubectl("apply", "--server-side", "-n", "training-patterns", "-f",
          "k8s/kfp/rbac-launchers.yaml")
  rbac, wrong = rbac_rows()
  say(f"RBAC: {len(rbac) - wrong} of {len(rbac)} answers as intended")
  kubectl("delete", "namespace", "training-patterns", "--wait=true", "--timeout=120s")

  down = 0.0
  if not args.keep_up:
    down = must("cluster down", timed(str(SCRIPTS / "cluster.sh"), "down"))
  left = sorted(set(peak_rss_mib()))
  body = "\n".join([
      "A single-node Kubernetes v1.34.4 (etcd v3.6.4, CoreDNS v1.12.1, containerd 1.6.20 "
      "from Debian), the Kubeflow Training Operator v1.8.1 and Katib v0.19.0, all built "
      "from pinned sources by `make cluster` (binaries already built: the cold build is "
      "about 14 minutes for the cluster and 7 for the operators on 2 cores, measured once "
      "by hand, not by this command).",
      "",
      "| step | s |", "|---|---|",
      f"| build.sh (compiles only what is missing or out of date) | {built:.1f} |",
      f"| cluster up (containerd, etcd, control plane, kubelet, kube-proxy, CoreDNS, "
      f"volumes) | {cluster_up:.1f} |",
      f"| operators up (MariaDB, CRDs, RBAC, webhooks, Training Operator, Katib) | "
      f"{operators_up:.1f} |",
      f"| smoke: a pod of a local image, the three PVCs bound and written, DNS, a "
      f"ClusterIP Service | {smoke:.1f} |",
      f"| operators smoke: a 2-worker TFJob to Succeeded, a 3-trial random search to "
      f"Succeeded | {operators_smoke:.1f} |",
      f"| our CPU image built (buildah, layer cache) and imported into the node | "
      f"{image:.1f} |" if not args.manifests_only else "| our image | (skipped) |",
      f"| cluster down (host restored) | {down:.1f} |" if not args.keep_up else
      "| cluster down | (kept up) |",
      "",
      "Peak resident memory (VmHWM, MiB) after the smoke checks: "
      + ", ".join(f"{n} {m}" for n, m in sorted(memory.items(), key=lambda kv: -kv[1]))
      + f"; **{sum(memory.values())} MiB** in all.",
      "",
      f"`kubectl apply --server-side -k {HOME}` for real on the bare cluster, before the "
      f"operators are installed: {home['applied']} objects applied, its three claims bound, "
      "no `kubeflow.org` API, and after 10 s no pod and no Job in the namespace (the "
      "CronJob waits for its schedule). The TFJob and Experiment templates are the "
      "optional `k8s/jobs`, which such a cluster refuses: "
      f"`{home['jobs_without_operators'][:200]}`.",
      "",
      "Each kustomization of `k8s/`, offered to the real API server (server-side apply, "
      "dry run, the namespace created for real first, the Training Operator's and Katib's "
      "CRDs and webhooks installed):",
      "",
      "| kustomization | objects accepted | verdict |", "|---|---|---|", *rows,
      "",
      f"RBAC, `kubectl auth can-i --as=...` against the Roles of `k8s/base/rbac.yaml` and "
      f"`k8s/kfp/rbac-launchers.yaml` applied for real: {len(rbac) - wrong} of {len(rbac)} "
      "answers as intended.",
      "",
      "| service account | call | intended | API server | |", "|---|---|---|---|---|", *rbac,
      "",
      f"The request bodies the launchers send in their unit tests (`{'`, `'.join(FAKE_API_TESTS)}`,"
      " recorded by the stand-in API server `tests/fakes/k8s_api.py`), each sent to the real "
      f"API server with dryRun=All and strict field validation: {sent - len(refused)} of "
      f"{sent} accepted" + (f"; refused: {'; '.join(refused)[:1500]}" if refused else "."),
      "",
      *pipeline,
      "",
      ("After `down`: no cluster process left." if not left or args.keep_up else
       f"After `down` still running: {', '.join(left)}."),
  ])
  report.write_section("cluster", "The manifests on a real single-node Kubernetes",
                       "make cluster-check", body,
                       figures={"cluster_up_s": f"{cluster_up + operators_up:.0f}",
                                "memory_mib": str(sum(memory.values()))})


if __name__ == "__main__":
  main()
