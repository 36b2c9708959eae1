#!/usr/bin/env bash
# Why: a by-hand check (not part of pytest: it needs root and a running cluster
# with the operators) that the real Training Operator and Katib that
# operators.sh runs work end to end:
#   1. the Training Operator's webhook rejects an invalid TFJob, and a 2-worker
#      TFJob from the local toolbox image (each worker prints its TF_CONFIG)
#      reaches Succeeded, each worker seeing both workers in its TF_CONFIG;
#   2. a Katib Experiment, random search (Katib's Go goptuna service), 3 trials
#      as Jobs whose container prints "accuracy=<its learning rate>" on stdout
#      (the StdOut metrics collector), reaches Succeeded with a
#      currentOptimalTrial, the trial with the highest rate.
# It prints the time each took and the operators' peak RSS, and deletes what it
# created (its namespace).
#
#   make cluster && scripts/cluster/operators_smoke.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=operators-smoke
# Katib wraps a trial's command in `sh -c "... 1>metrics.log 2>&1 && echo completed
# > $$.pid"`, so the trial image needs a shell: the toolbox plus Debian's
# busybox-static (operators.sh installs it) as /bin/sh.
TRIAL_IMAGE=localhost/training-patterns/katib-trial:v1
step() { log "operators-smoke: $*"; }
fail() { log "operators-smoke: FAILED: $*"; exit 1; }

[[ $(id -u) == 0 ]] || fail "must run as root (it imports an image)"
"$CLUSTER_SRC/operators.sh" status >/dev/null 2>&1 ||
  fail "the operators are not healthy: run make cluster (or scripts/cluster/operators.sh up)"
[[ -x /bin/busybox ]] || fail "/bin/busybox missing (operators.sh up installs busybox-static)"
t_all=$(now)

# The trial image, written and imported when the toolbox is newer.
tar=$IMAGE_DIR/katib-trial.tar
if [[ ! -f $tar || $BIN_DIR/pause -nt $tar || /bin/busybox -nt $tar || $CLUSTER_SRC/oci_image.py -nt $tar ]]; then
  python3 "$CLUSTER_SRC/oci_image.py" --name "$TRIAL_IMAGE" --out "$tar.tmp" --entrypoint /pause \
    "$BIN_DIR/pause:/pause" /bin/busybox:/bin/sh && mv -f "$tar.tmp" "$tar"
fi
mark=$RUN/images/katib-trial.imported
if [[ ! $mark -nt $tar ]]; then
  ctr --address "$CTRD_SOCK" -n k8s.io images import "$tar" >/dev/null && touch "$mark"
  step "imported image $TRIAL_IMAGE"
fi

# A fresh namespace, labelled for Katib's metrics-collector injection.
kc delete namespace "$NS" --ignore-not-found --timeout=120s >/dev/null
kc create namespace "$NS" >/dev/null
kc label namespace "$NS" katib.kubeflow.org/metrics-collector-injection=enabled >/dev/null
cleanup() { kc delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT

# ------------------------------------------------------------------ TFJob

tfjob() { # name, replicas, container name
  cat <<EOF
apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: $1, namespace: $NS}
spec:
  runPolicy: {cleanPodPolicy: None}
  tfReplicaSpecs:
    Worker:
      replicas: $2
      restartPolicy: OnFailure
      template:
        spec:
          enableServiceLinks: false
          containers:
          - name: $3
            image: $PAUSE_IMAGE
            imagePullPolicy: Never
            command: [/pause, printenv, TF_CONFIG]
            securityContext: {runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false}
EOF
}

# The webhook: a TFJob without a container named "tensorflow" is refused.
out=$(tfjob smoke-invalid 1 main | kc create -f - 2>&1) && fail "an invalid TFJob was accepted"
[[ $out == *'admission webhook "validator.tfjob.training-operator.kubeflow.org" denied'* ]] ||
  fail "invalid TFJob not refused by the webhook: $out"
step "the TFJob webhook refused an invalid TFJob: ${out##*denied the request: }"

t0=$(now)
tfjob smoke-tfjob 2 tensorflow | kc create -f - >/dev/null
kc -n "$NS" wait --for=condition=Succeeded tfjob/smoke-tfjob --timeout=180s >/dev/null || {
  kc -n "$NS" get tfjob,pods -o wide
  kc -n "$NS" describe tfjob smoke-tfjob | tail -20
  fail "TFJob smoke-tfjob did not succeed"
}
t_tfjob=$(since "$t0")
for i in 0 1; do
  cfg=$(kc -n "$NS" logs "smoke-tfjob-worker-$i")
  [[ $cfg == *"smoke-tfjob-worker-0.$NS.svc:2222"*"smoke-tfjob-worker-1.$NS.svc:2222"* &&
    $cfg == *'"index":'"$i"* ]] || fail "worker $i's TF_CONFIG is wrong: $cfg"
done
step "TFJob (2 workers) Succeeded in $t_tfjob; worker 1's TF_CONFIG: $cfg"

# ------------------------------------------------------------- Experiment

t0=$(now)
kc apply -f - >/dev/null <<EOF
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: smoke-random, namespace: $NS}
spec:
  objective: {type: maximize, goal: 0.99, objectiveMetricName: accuracy}
  algorithm: {algorithmName: random}
  parallelTrialCount: 3
  maxTrialCount: 3
  maxFailedTrialCount: 1
  metricsCollectorSpec: {collector: {kind: StdOut}}
  parameters:
  - name: lr
    parameterType: double
    feasibleSpace: {min: "0.01", max: "0.9"}
  trialTemplate:
    primaryContainerName: training-container
    trialParameters:
    - {name: learningRate, description: the learning rate, reference: lr}
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            restartPolicy: Never
            enableServiceLinks: false
            containers:
            - name: training-container
              image: $TRIAL_IMAGE
              imagePullPolicy: Never
              # command is required: without it Katib's webhook would fetch the
              # image's config from a registry. The sleep: the metrics collector
              # (a sidecar started after this container) must find this process
              # still running, or it fails with "unable to find main pid".
              command: [sh, -c, "/pause sleep 3 && /pause echo accuracy=\${trialParameters.learningRate}"]
EOF
kc -n "$NS" wait --for=condition=Succeeded experiment/smoke-random --timeout=180s >/dev/null || {
  kc -n "$NS" get experiment,suggestion,trial,job,pods -o wide
  kc -n "$NS" describe experiment smoke-random | tail -30
  for pod in $(kc -n "$NS" get pods -l katib.kubeflow.org/experiment=smoke-random -o name | head -2); do
    kc -n "$NS" logs "$pod" --all-containers --prefix | tail -10
  done
  fail "Experiment smoke-random did not succeed"
}
t_exp=$(since "$t0")
kc -n "$NS" get trials
best=$(kc -n "$NS" get experiment smoke-random -o jsonpath='{.status.currentOptimalTrial.bestTrialName} {.status.currentOptimalTrial.observation.metrics[0].latest} {.status.currentOptimalTrial.parameterAssignments[0].value}')
read -r best_name best_acc best_lr <<<"$best"
[[ -n ${best_name:-} && $best_acc == "$best_lr" ]] ||
  fail "no currentOptimalTrial, or its accuracy is not its learning rate: '$best'"
top=$(kc -n "$NS" get trials -o jsonpath='{range .items[*]}{.status.observation.metrics[0].latest}{"\n"}{end}' | sort -g | tail -1)
[[ $best_acc == "$top" ]] || fail "currentOptimalTrial's accuracy $best_acc is not the best trial's, $top"
n=$(kc -n "$NS" get experiment smoke-random -o jsonpath='{.status.trialsSucceeded}')
[[ $n == 3 ]] || fail "$n trials succeeded, expected 3"
step "Experiment (random search, 3 trials as Jobs) Succeeded in $t_exp; currentOptimalTrial $best_name: accuracy=$best_acc (lr $best_lr)"

# ------------------------------------------------------------- resources

# Peak (VmHWM) and current RSS of the operators' processes so far.
for p in training-operator mariadbd katib-controller katib-db-manager goptuna-suggestion; do
  for pid in $(pgrep -f "(^|/)$p( |$)" || true); do
    step "$(printf '%-20s pid %-7s peak RSS %4d MiB, now %4d MiB' "$p" "$pid" \
      "$(awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$pid/status")" \
      "$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$pid/status")")"
  done
done

trap - EXIT
kc delete namespace "$NS" --timeout=120s >/dev/null
step "all checks passed in $(since "$t_all") (namespace $NS deleted)"
