#!/usr/bin/env bash
# Why: a by-hand check (not part of pytest: it needs root and a running cluster)
# that the cluster `make cluster` started really works end to end: the node is
# Ready, a pod from a locally built image runs to Succeeded under a restricted
# security context, the claims in k8s/base/pvcs.yaml bind, and a headless
# Service resolves through CoreDNS (reached at its ClusterIP, so kube-proxy is
# exercised too). It cleans up what it created.
#
#   make cluster && scripts/cluster/smoke.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=cluster-smoke
PVC_NS=training-patterns
step() { log "smoke: $*"; }
fail() { log "smoke: FAILED: $*"; exit 1; }

t_all=$(now)
kc get nodes
[[ $(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]] ||
  fail "node $NODE_NAME is not Ready"
step "node $NODE_NAME Ready"

# A fresh namespace (a run that failed half-way leaves its pods behind).
kc delete namespace "$NS" --ignore-not-found --timeout=60s >/dev/null
kc create namespace "$NS" >/dev/null
# pod NAME LABELS [--ns NS] [--claim CLAIM] ARGS...: a pod from the local pause
# image (its /pause is also a small toolbox), non-root on a read-only root file
# system; --claim mounts that claim at /data.
pod() {
  local name=$1 labels=$2 ns=$NS claim="" mounts=""; shift 2
  if [[ $1 == --ns ]]; then ns=$2; shift 2; fi
  if [[ $1 == --claim ]]; then claim=$2; shift 2; fi
  if [[ -n $claim ]]; then
    mounts="    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: $claim}}]"
  fi
  local args; args=$(printf '"%s", ' "$@"); args=${args%, }
  kc -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $name, labels: $labels}
spec:
  restartPolicy: Never
  enableServiceLinks: false
  securityContext: {runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000}
  containers:
  - name: main
    image: $PAUSE_IMAGE
    imagePullPolicy: Never
    command: ["/pause"]
    args: [$args]
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
$mounts
EOF
}
succeeded() { # pod name, timeout in s, [namespace]
  local ns=${3:-$NS}
  kc -n "$ns" wait --for=jsonpath='{.status.phase}'=Succeeded "pod/$1" --timeout="${2}s" >/dev/null ||
    { kc -n "$ns" describe pod "$1" | tail -20; fail "pod $1 did not succeed"; }
}

finished() { # pod name, timeout in s: waits for Succeeded or Failed, prints which
  local phase deadline=$((SECONDS + $2))
  while phase=$(kc -n "$NS" get pod "$1" -o jsonpath='{.status.phase}'); do
    [[ $phase == Succeeded || $phase == Failed ]] && { echo "$phase"; return; }
    ((SECONDS < deadline)) || { echo "$phase after $2 s"; return; }
    sleep 0.5
  done
}

# 1. A pod from a locally built image runs to completion.
t0=$(now)
pod hello '{app: smoke}' echo "hello from training-patterns-cluster"
succeeded hello 60
[[ $(kc -n "$NS" logs hello) == "hello from training-patterns-cluster" ]] || fail "unexpected log"
step "pod hello Succeeded in $(since "$t0"); its log: $(kc -n "$NS" logs hello)"

# 2. The project's claims bind (to the local volumes cluster.sh pre-binds to them).
created_ns=0 created_pvcs=0
if ! kc get namespace "$PVC_NS" >/dev/null 2>&1; then
  kc create namespace "$PVC_NS" >/dev/null; created_ns=1
fi
if ! kc -n "$PVC_NS" get pvc training-patterns-checkpoints >/dev/null 2>&1; then
  kc -n "$PVC_NS" apply -f "$REPO_ROOT/k8s/base/pvcs.yaml" >/dev/null; created_pvcs=1
fi
t0=$(now)
for c in training-patterns-pipeline-root training-patterns-checkpoints training-patterns-serving; do
  kc -n "$PVC_NS" wait --for=jsonpath='{.status.phase}'=Bound "pvc/$c" --timeout=30s >/dev/null ||
    fail "claim $c did not bind"
done
step "k8s/base/pvcs.yaml: 3 claims Bound in $(since "$t0")"
kc -n "$PVC_NS" get pvc
# A non-root pod writes to one (fsGroup makes the local volume writable for it).
t0=$(now)
pod smoke-writer '{app: smoke}' --ns "$PVC_NS" --claim training-patterns-checkpoints \
  write /data/.cluster-smoke "written by $NS"
succeeded smoke-writer 60 "$PVC_NS"
f=$STATE/volumes/training-patterns-checkpoints/.cluster-smoke
[[ $(cat "$f" 2>/dev/null) == "written by $NS" ]] || fail "$f not written through the claim"
step "a pod (uid 1000) wrote through claim training-patterns-checkpoints in $(since "$t0"): $f"
rm -f "$f"
kc -n "$PVC_NS" delete pod smoke-writer --wait=false >/dev/null

# 3. A headless Service resolves through CoreDNS, and so does the ClusterIP of
# `kubernetes` (the pod's resolver is CoreDNS's ClusterIP, via kube-proxy).
pod dns-target '{app: smoke-dns}' sleep 300
kc -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: smoke-dns}
spec:
  clusterIP: None
  selector: {app: smoke-dns}
  ports: [{name: x, port: 8080}]
EOF
kc -n "$NS" wait --for=condition=Ready pod/dns-target --timeout=60s >/dev/null || fail "dns-target not Ready"
target_ip=$(kc -n "$NS" get pod dns-target -o jsonpath='{.status.podIP}')
t0=$(now)
pod lookup '{app: smoke}' lookup "smoke-dns.$NS.svc.cluster.local"
succeeded lookup 60
out=$(kc -n "$NS" logs lookup)
[[ $out == *" $target_ip"* ]] || fail "headless lookup gave '$out', expected $target_ip"
step "headless Service resolved through CoreDNS: $out (pod IP $target_ip) in $(since "$t0")"
pod lookup-api '{app: smoke}' lookup kubernetes.default.svc.cluster.local
succeeded lookup-api 60
step "ClusterIP Service resolved: $(kc -n "$NS" logs lookup-api)"

# 4. A ClusterIP Service in front of a pod routes (kube-proxy's nftables rules),
# from another pod on the same bridge.
pod web '{app: smoke-web}' serve 8080
kc -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: smoke-web}
spec:
  selector: {app: smoke-web}
  ports: [{port: 80, targetPort: 8080}]
EOF
kc -n "$NS" wait --for=condition=Ready pod/web --timeout=60s >/dev/null || fail "web not Ready"
t0=$(now)
# kube-proxy programs a new Service a moment after its endpoint turns ready (a few
# seconds under load), and until then the ClusterIP refuses connections: wait for
# the ready endpoint, then GET up to 5 times, 2 s apart, before calling it broken.
web_ready() {
  [[ $(kc -n "$NS" get endpointslice -l kubernetes.io/service-name=smoke-web \
         -o jsonpath='{.items[*].endpoints[*].conditions.ready}') == *true* ]]
}
wait_for "Service smoke-web's endpoint" 60 web_ready
for attempt in 1 2 3 4 5; do
  kc -n "$NS" delete pod get --ignore-not-found --wait >/dev/null
  pod get '{app: smoke}' get "http://smoke-web.$NS.svc.cluster.local/"
  phase=$(finished get 60)
  [[ $phase == Succeeded ]] && break
  step "GET through the ClusterIP, attempt $attempt: $phase: $(kc -n "$NS" logs get | tail -1)"
  sleep 2
done
succeeded get 1
[[ $(kc -n "$NS" logs get) == web ]] || fail "GET through the ClusterIP answered '$(kc -n "$NS" logs get)'"
step "ClusterIP Service $(kc -n "$NS" get svc smoke-web -o jsonpath='{.spec.clusterIP}') routed to pod web in $(since "$t0")"

# Clean up: the smoke namespace, and the claims/namespace if this script made them
# (their volumes are offered to new claims again by the next `cluster.sh up`).
kc delete namespace "$NS" --wait=false >/dev/null
((created_pvcs)) && kc -n "$PVC_NS" delete -f "$REPO_ROOT/k8s/base/pvcs.yaml" --wait=false >/dev/null
((created_ns)) && kc delete namespace "$PVC_NS" --wait=false >/dev/null
step "all checks passed in $(since "$t_all")"
