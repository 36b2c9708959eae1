"""`make cluster-check`: the project's manifests against a real Kubernetes.

Brings up the single-node cluster of scripts/cluster/ (Kubernetes v1.34.4, the
real Training Operator and Katib, all built from pinned sources), runs its two
smoke checks, then offers every object of each kustomization in k8s/ to the real
API server by server-side apply in dry-run mode, with the real CRDs and admission
webhooks installed: what a stand-in schema cannot judge. Records the times, the
control plane's memory and each object's verdict in BENCHMARKS.md, and takes the
cluster down again (the host as it was). Needs root; not part of `make test`.

  python -m bench.cluster [--keep-up]
"""
from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bench import report

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts" / "cluster"
KUBECTL = REPO / ".cache" / "cluster" / "bin" / "kubectl"
KUBECONFIG = "/var/lib/training-patterns-cluster/kubeconfig/admin.kubeconfig"
NAMESPACE_FILE = REPO / "k8s" / "base" / "namespace.yaml"
KUSTOMIZATIONS = ("k8s/base", "k8s/overlays/cpu", "k8s/overlays/gpu", "k8s/flink")
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
  args = parser.parse_args(argv)
  built = must("build.sh (compiles only what is missing)", timed(str(SCRIPTS / "build.sh"),
                                                                  timeout=3600))
  cluster_up = must("cluster up", timed(str(SCRIPTS / "cluster.sh"), "up"))
  operators_up = must("operators up", timed(str(SCRIPTS / "operators.sh"), "up"))
  smoke = must("smoke check", timed(str(SCRIPTS / "smoke.sh")))
  operators_smoke = must("operators smoke check", timed(str(SCRIPTS / "operators_smoke.sh")))
  memory = peak_rss_mib()

  # The namespace for real (a dry run does not persist it, and Katib's webhook
  # reads its label), then every object of each kustomization in dry-run mode.
  kubectl("apply", "--server-side", "-f", str(NAMESPACE_FILE))
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
      f"| cluster down (host restored) | {down:.1f} |" if not args.keep_up else
      "| cluster down | (kept up) |",
      "",
      "Peak resident memory (VmHWM, MiB) after the smoke checks: "
      + ", ".join(f"{n} {m}" for n, m in sorted(memory.items(), key=lambda kv: -kv[1]))
      + f"; **{sum(memory.values())} MiB** in all.",
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
      ("After `down`: no cluster process left." if not left or args.keep_up else
       f"After `down` still running: {', '.join(left)}."),
  ])
  report.write_section("cluster", "The manifests on a real single-node Kubernetes",
                       "make cluster-check", body,
                       figures={"cluster_up_s": f"{cluster_up + operators_up:.0f}",
                                "memory_mib": str(sum(memory.values()))})


if __name__ == "__main__":
  main()
