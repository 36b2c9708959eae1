#!/usr/bin/env bash
# Why: the project's training runs as a TFJob (Kubeflow Training Operator) and
# its tuning as a Katib Experiment, and both want the real operators, not
# stand-ins. Nothing can be pulled here, so this script runs them on the cluster
# cluster.sh started, from binaries and images build.sh compiled from the pinned
# modules in build/training-operator (v1.8.1) and build/katib (v0.19.0):
#
#   - the Training Operator as a local process (TFJob only: --enable-scheme=tfjob)
#     under its upstream ServiceAccount and ClusterRole; its validating webhook is
#     reached through its upstream Service, whose EndpointSlice points at the
#     node's IP (the apiserver runs with --enable-aggregator-routing);
#   - Katib's controller (a pod) and DB manager (a hostNetwork pod, so it reaches
#     the database on 127.0.0.1), with the upstream RBAC, webhooks and Services
#     (its pod webhook leaves Katib's own pods out, or they could not restart);
#   - MariaDB from Debian as Katib's database, on 127.0.0.1:13306 with its own
#     datadir under the cluster's state dir and its own socket;
#   - Katib's suggestion service for random/tpe/cmaes/sobol is the Go goptuna one
#     (upstream's random search is a Python image we cannot build here).
#
# CRDs, RBAC, webhooks and Services come from the modules' own manifests (in the
# Go module cache), rendered with `kubectl kustomize` plus our patches (local
# images, imagePullPolicy Never, no selector on the operator's Service) and
# server-side applied. The webhook certificates are made here (openssl) and put
# in the Secrets the operators' cert rotators read, so both are ready at once.
# Ports: MariaDB 127.0.0.1:13306, the Training Operator's probes and metrics
# 127.0.0.1:18480-18481 and its webhook :9443 (its bind address is not
# configurable), the DB manager 10.244.0.1:6789; the controller is on the pod network.
#
#   operators.sh up       start what is not running (idempotent); needs `cluster.sh up`
#   operators.sh status   processes, pods, webhooks; non-zero if unhealthy
#   operators.sh down     stop the operators and MariaDB, remove their webhooks and
#                         Deployments (CRDs, custom resources and the database stay)
#
# `make cluster` runs `up` after the cluster; `cluster.sh down` runs `down` first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OPS=$STATE/operators                 # certificates, rendered manifests, MariaDB's data
OPS_RUN=$RUN/operators               # MariaDB's socket, the operator's private /tmp
NS=kubeflow
DB_PORT=13306
DB_SOCK=$OPS_RUN/mariadb.sock
TO_PROBE=127.0.0.1:18481             # the Training Operator's /readyz (and metrics on :18480)

# Debian 12 packages, pinned (apt-cache policy, 12-07). busybox-static gives the
# Katib smoke's trial image its `sh` (Katib wraps a trial's command in `sh -c`).
PACKAGES=(
  mariadb-server-core=1:10.11.19-0+deb12u1
  mariadb-client-core=1:10.11.19-0+deb12u1
  busybox-static=1:1.35.0-4+deb12u1+b1
)

go_mod_dir() { # module path, version -> its directory in the module cache (downloads if needed)
  (cd / && GOTOOLCHAIN=local GOFLAGS='' go mod download -json "$1@$2" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
}

# ---------------------------------------------------------------- processes

bin_of() {
  case $1 in
    training-operator) echo "$BIN_DIR/training-operator" ;;
    mariadb) echo /usr/sbin/mariadbd ;;
  esac
}

pid_of() { # name -> pid, if the pid file's process is still that binary
  local f=$RUN/pids/$1.pid pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$(bin_of "$1")" ]] || return 1
  alive "$pid" || return 1
  echo "$pid"
}

alive() { # pid: still running. A zombie is not, unless it has threads left: mariadbd's
  # main thread exits before its shutdown threads are done.
  local st th
  read -r st th < <(awk '/^State:/ { s = $2 } /^Threads:/ { t = $2 } END { print s, t }' \
    "/proc/$1/status" 2>/dev/null) || return 1
  [[ -n $st && ( ($st != Z && $st != X) || ${th:-0} -gt 1) ]]
}

stop() { # name: SIGTERM, then SIGKILL after 20 s
  local pid i t0
  t0=$(now)
  if pid=$(pid_of "$1"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then log "$1 (pid $pid) did not stop in 20 s; killing it"; kill -KILL "$pid"; fi
    log "stopped $1 in $(since "$t0")"
  fi
  rm -f "$RUN/pids/$1.pid"
}

rss() { awk '/^VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$1/status"; }

# ------------------------------------------------------------ prerequisites

apiserver_up() { kc get --raw /readyz --request-timeout=3s >/dev/null 2>&1; }

ensure_prereqs() {
  [[ $(id -u) == 0 ]] || die "must run as root (it starts MariaDB and imports images)" 2
  local b
  for b in training-operator katib-controller katib-db-manager file-metricscollector \
    goptuna-suggestion pause; do
    [[ -x $BIN_DIR/$b ]] || die "$BIN_DIR/$b is missing: run scripts/cluster/build.sh (make cluster does)" 2
  done
  for b in katib-controller katib-db-manager file-metrics-collector suggestion-goptuna; do
    [[ -f $IMAGE_DIR/$b.tar ]] || die "image $IMAGE_DIR/$b.tar is missing: run scripts/cluster/build.sh" 2
  done
  if ! [[ -S $CTRD_SOCK ]] || ! apiserver_up; then
    die "the cluster is not up: run scripts/cluster/cluster.sh up first" 2
  fi
  install_pinned apt-operators.log "${PACKAGES[@]}"
  command -v unshare >/dev/null || die "unshare is missing (apt-get install util-linux)" 2
  TO_DIR=$(go_mod_dir github.com/kubeflow/training-operator "$TRAINING_OPERATOR_VERSION")
  KATIB_DIR=$(go_mod_dir github.com/kubeflow/katib "$KATIB_VERSION")
  [[ -d $TO_DIR/manifests && -d $KATIB_DIR/manifests ]] ||
    die "the operators' modules are not in the Go module cache: run scripts/cluster/build.sh" 2
}

import_images() { # each archive once per containerd root (cluster.sh down removes the marks)
  local name mark
  mkdir -p "$RUN/images"
  for name in katib-controller katib-db-manager file-metrics-collector suggestion-goptuna; do
    mark=$RUN/images/$name.imported
    [[ $mark -nt $IMAGE_DIR/$name.tar ]] && continue
    ctr --address "$CTRD_SOCK" -n k8s.io images import "$IMAGE_DIR/$name.tar" >/dev/null
    touch "$mark"
    log "imported image $name"
  done
}

# ------------------------------------------------------------------ MariaDB

# shellcheck disable=SC2120  # wait_for passes it arguments
db() { mariadb --no-defaults --socket="$DB_SOCK" -uroot "$@"; }

start_mariadb() {
  local data=$OPS/mariadb t0
  mkdir -p "$OPS_RUN" "$RUN/pids" "$LOGS"
  if [[ ! -d $data/mysql ]]; then
    t0=$(now)
    rm -rf "$data" && mkdir -p "$data"
    mariadb-install-db --no-defaults --datadir="$data" --user=root --skip-test-db \
      --auth-root-authentication-method=socket --skip-name-resolve >"$LOGS/mariadb-install.log" 2>&1 ||
      die "mariadb-install-db failed (see $LOGS/mariadb-install.log)"
    log "MariaDB datadir initialised in $data in $(since "$t0")"
  fi
  echo "=== $(date -Is) start" >>"$LOGS/mariadb.log"
  # Small buffers: Katib's tables are tiny. No binary log, no performance schema.
  setsid /usr/sbin/mariadbd --no-defaults --user=root --datadir="$data" \
    --bind-address=127.0.0.1 --port="$DB_PORT" --socket="$DB_SOCK" \
    --pid-file="$OPS_RUN/mariadb.pid" --log-error="$LOGS/mariadb.log" --skip-name-resolve \
    --innodb-buffer-pool-size=32M --performance-schema=OFF --skip-log-bin \
    --tmpdir="$OPS_RUN" >>"$LOGS/mariadb.log" 2>&1 </dev/null &
  echo $! >"$RUN/pids/mariadb.pid"
  wait_for MariaDB 60 db -e 'select 1'
}

db_password() { # Katib's password, made once and kept with the data
  local f=$OPS/mariadb-katib.password
  [[ -s $f ]] || { (umask 077; openssl rand -hex 16 >"$f"); }
  cat "$f"
}

setup_database() {
  local pw; pw=$(db_password)
  db <<EOF
CREATE DATABASE IF NOT EXISTS katib;
CREATE USER IF NOT EXISTS 'katib'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER 'katib'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON katib.* TO 'katib'@'127.0.0.1';
EOF
}

# ------------------------------------------------------------- certificates

# webhook_cert NAME CA-NAME DNS: a CA and a serving certificate in the layout the
# operators' cert rotator (open-policy-agent/cert-controller) keeps in its Secret
# and accepts as valid: ca.crt/ca.key (PKCS#1 RSA, SAN = the CA's name),
# tls.crt/tls.key (SAN = SERVICE.NAMESPACE.svc). Once; 10 years.
webhook_cert() {
  local d=$OPS/pki/$1
  [[ -f $d/tls.crt ]] && return 0
  mkdir -p "$d" && chmod 700 "$d"
  openssl genrsa -traditional -out "$d/ca.key" 2048 2>/dev/null
  openssl req -x509 -new -key "$d/ca.key" -subj "/O=${2%-ca}/CN=$2" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,digitalSignature,keyEncipherment" \
    -addext "subjectAltName=DNS:$2" -out "$d/ca.crt"
  openssl genrsa -traditional -out "$d/tls.key" 2048 2>/dev/null
  openssl req -new -key "$d/tls.key" -subj "/CN=$3" -out "$d/tls.csr"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s\n' "$3" >"$d/tls.ext"
  openssl x509 -req -in "$d/tls.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$d/tls.ext" -out "$d/tls.crt" 2>/dev/null
  rm -f "$d/tls.csr" "$d/tls.ext" "$d/ca.srl"
  chmod 600 "$d"/*.key
}

cert_secret() { # secret name, pki dir name
  local d=$OPS/pki/$2
  kc -n "$NS" create secret generic "$1" --from-file="$d/ca.crt" --from-file="$d/ca.key" \
    --from-file="$d/tls.crt" --from-file="$d/tls.key" --dry-run=client -o yaml |
    apply -f -
}

# --------------------------------------------------------------- manifests

# Server-side apply, one field manager per operator (so neither drops the
# other's fields of the namespace they share).
apply() { kc apply --server-side --force-conflicts --field-manager="operators.sh/$OWNER" "$@" >/dev/null; }

# The rendered overlays live in $OPS/render; kustomize reads the upstream files
# from the module cache (hence LoadRestrictionsNone).
render() {
  "$KUBECTL" kustomize --load-restrictor LoadRestrictionsNone "$OPS/render/$1" 2>"$LOGS/kustomize-$1.log" ||
    die "kustomize failed for $1: $(grep -v Warning "$LOGS/kustomize-$1.log" | head -1)"
}

apply_training_operator() {
  local m=$TO_DIR/manifests OWNER=training-operator
  apply -f "$m/base/crds/kubeflow.org_tfjobs.yaml"
  mkdir -p "$OPS/render/training-operator"
  m=$(realpath --relative-to="$OPS/render/training-operator" "$m") # kustomize wants relative dirs
  # Upstream's webhook lists mxjob, paddlejob, pytorchjob, tfjob, xgboostjob;
  # only TFJob is served (--enable-scheme=tfjob), so the others are dropped. The
  # operator runs off-cluster: its Service has no selector but an EndpointSlice.
  cat >"$OPS/render/training-operator/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $NS
resources:
- $m/overlays/standalone/namespace.yaml
- $m/base/rbac/service-account.yaml
- $m/base/rbac/role.yaml
- $m/base/rbac/cluster-role-binding.yaml
- $m/base/webhook
- $m/base/service.yaml
patches:
- target: {kind: ValidatingWebhookConfiguration, name: validator.training-operator.kubeflow.org}
  patch: |-
    - {op: test, path: /webhooks/3/name, value: validator.tfjob.training-operator.kubeflow.org}
    - {op: remove, path: /webhooks/4}
    - {op: remove, path: /webhooks/2}
    - {op: remove, path: /webhooks/1}
    - {op: remove, path: /webhooks/0}
- target: {kind: Service, name: training-operator}
  patch: |-
    - {op: remove, path: /spec/selector}
EOF
  render training-operator | apply -f -
  apply -f - <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: training-operator-local
  namespace: $NS
  labels:
    kubernetes.io/service-name: training-operator
    endpointslice.kubernetes.io/managed-by: operators.sh
addressType: IPv4
endpoints:
- addresses: [$NODE_IP]
  conditions: {ready: true}
ports:
- {name: webhook-server, port: 9443, protocol: TCP}
- {name: monitoring-port, port: 18480, protocol: TCP}
---
apiVersion: v1
kind: Secret
metadata:
  name: training-operator-token
  namespace: $NS
  annotations: {kubernetes.io/service-account.name: training-operator}
type: kubernetes.io/service-account-token
EOF
  webhook_cert training-operator training-operator-ca "training-operator.$NS.svc"
  cert_secret training-operator-webhook-cert training-operator
}

katib_config() { # upstream's installs/katib-standalone/katib-config.yaml, for local images
  cat <<EOF
apiVersion: config.kubeflow.org/v1beta1
kind: KatibConfig
init:
  certGenerator:
    enable: true
  controller:
    webhookPort: 8443
    trialResources:
      - Job.v1.batch
      - TFJob.v1.kubeflow.org
runtime:
  metricsCollectors:
    - kind: StdOut
      image: $KATIB_METRICS_COLLECTOR_IMAGE
      imagePullPolicy: Never
    - kind: File
      image: $KATIB_METRICS_COLLECTOR_IMAGE
      imagePullPolicy: Never
  # The Go goptuna service serves these four (upstream serves random and tpe
  # from its Python hyperopt image, which cannot be built here).
  suggestions:
$(for a in random tpe cmaes sobol; do
    printf '    - algorithmName: %s\n      image: %s\n      imagePullPolicy: Never\n' "$a" "$KATIB_GOPTUNA_IMAGE"
  done)
EOF
}

apply_katib() {
  local m=$KATIB_DIR/manifests/v1beta1/components r=$OPS/render/katib c OWNER=katib
  for c in experiment suggestion trial; do apply -f "$m/crd/$c.yaml"; done
  mkdir -p "$r"
  m=$(realpath --relative-to="$r" "$m") # kustomize wants relative dirs
  webhook_cert katib katib-ca "katib-controller.$NS.svc"
  katib_config >"$r/katib-config.yaml"
  (umask 077; printf 'DB_PASSWORD=%s\n' "$(db_password)" >"$r/db.env")
  # Upstream's standalone install less MySQL and the UI; our images; the DB
  # manager on the host network (MariaDB is on 127.0.0.1), listening on the node IP.
  cat >"$r/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $NS
resources:
- $m/namespace
- $m/controller
- $m/db-manager
- $m/webhook
images:
- {name: ghcr.io/kubeflow/katib/katib-controller, newName: ${KATIB_CONTROLLER_IMAGE%:*}, newTag: $KATIB_VERSION}
- {name: ghcr.io/kubeflow/katib/katib-db-manager, newName: ${KATIB_DB_MANAGER_IMAGE%:*}, newTag: $KATIB_VERSION}
configMapGenerator:
- name: katib-config
  files: [katib-config.yaml]
  options: {disableNameSuffixHash: true}
secretGenerator:
- name: katib-mysql-secrets
  envs: [db.env]
  options: {disableNameSuffixHash: true}
patches:
# Upstream labels its own namespace for metrics-collector injection, so its
# pod webhook (failurePolicy Fail) would also be called for the controller's
# own pod, which cannot be created while no controller answers: Katib's own
# pods are left out of it.
- target: {kind: MutatingWebhookConfiguration, name: katib.kubeflow.org}
  patch: |-
    - {op: test, path: /webhooks/1/name, value: mutator.pod.katib.kubeflow.org}
    - op: add
      path: /webhooks/1/objectSelector
      value: {matchExpressions: [{key: katib.kubeflow.org/component, operator: DoesNotExist}]}
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: katib-controller, namespace: $NS}
    spec:
      template:
        metadata:
          annotations: {training-patterns/config: "$(sha256sum "$r/katib-config.yaml" "$OPS/pki/katib/tls.crt" | sha256sum | cut -c1-16)"}
        spec:
          containers:
          # Probed every 2 s rather than 10 s: ready sooner after a start.
          - {name: katib-controller, imagePullPolicy: Never, readinessProbe: {periodSeconds: 2}}
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: katib-db-manager, namespace: $NS}
    spec:
      strategy: {type: Recreate}
      template:
        spec:
          hostNetwork: true
          dnsPolicy: ClusterFirstWithHostNet
          containers:
          - name: katib-db-manager
            imagePullPolicy: Never
            args: ["--listen-address=\$(POD_IP):6789"]
            env:
            - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
            - {name: DB_USER, value: katib}
            - name: DB_PASSWORD
              valueFrom: {secretKeyRef: {name: katib-mysql-secrets, key: DB_PASSWORD}}
            - {name: KATIB_MYSQL_DB_HOST, value: 127.0.0.1}
            - {name: KATIB_MYSQL_DB_PORT, value: "$DB_PORT"}
EOF
  # The Secret first: the controller's pod mounts it.
  cert_secret katib-webhook-cert katib
  render katib | apply -f -
}

# ------------------------------------------------------- Training Operator

training_operator_ready() { [[ $(curl -sf --max-time 2 "http://$TO_PROBE/readyz") == ok ]]; }

start_training_operator() {
  local d=$OPS/training-operator token
  mkdir -p "$d" "$RUN/pids" "$LOGS"
  # Its ServiceAccount's token (a token Secret: it does not expire) as its kubeconfig.
  wait_for "token of ServiceAccount training-operator" 30 \
    kc -n "$NS" get secret training-operator-token -o jsonpath='{.data.token}' --allow-missing-template-keys=false
  token=$(kc -n "$NS" get secret training-operator-token -o jsonpath='{.data.token}' | base64 -d)
  [[ -n $token ]] || die "ServiceAccount training-operator has no token"
  (umask 077; cat >"$d/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: training-patterns
  cluster:
    server: https://$NODE_IP:6443
    certificate-authority: $STATE/pki/ca.crt
users:
- name: training-operator
  user: {token: $token}
contexts:
- name: training-patterns
  context: {cluster: training-patterns, user: training-operator, namespace: $NS}
current-context: training-patterns
EOF
)
  # The operator reads its webhook certificate from the hard-coded
  # /tmp/k8s-webhook-server/serving-certs (in a pod, the Secret's volume). It
  # runs in a mount namespace of its own whose /tmp is $OPS_RUN/tmp, with the
  # Secret's files written there, so the host's /tmp is not touched.
  local certs=$OPS_RUN/tmp/k8s-webhook-server/serving-certs f
  mkdir -p "$certs" && chmod 700 "$OPS_RUN/tmp"
  for f in ca.crt tls.crt tls.key; do install -m 600 "$OPS/pki/training-operator/$f" "$certs/$f"; done
  echo "=== $(date -Is) start" >>"$LOGS/training-operator.log"
  # shellcheck disable=SC2016  # $0 and $@ are the inner shell's
  KUBECONFIG=$d/kubeconfig MY_POD_NAMESPACE=$NS setsid unshare --mount --propagation private -- \
    /bin/sh -c 'mount --bind "$0" /tmp && exec "$@"' "$OPS_RUN/tmp" \
    "$BIN_DIR/training-operator" --enable-scheme=tfjob \
    --metrics-bind-address=127.0.0.1:18480 --health-probe-bind-address="$TO_PROBE" \
    --webhook-server-port=9443 >>"$LOGS/training-operator.log" 2>&1 </dev/null &
  echo $! >"$RUN/pids/training-operator.pid"
  wait_for "Training Operator" 60 training_operator_ready
}

# ----------------------------------------------------------------------- up

cmd_up() {
  local t_up t0 started=()
  t_up=$(now)
  ensure_prereqs
  mkdir -p "$OPS" && chmod 700 "$OPS"
  import_images
  if ! pid_of mariadb >/dev/null; then
    t0=$(now); start_mariadb; started+=(mariadb); log "MariaDB up on 127.0.0.1:$DB_PORT in $(since "$t0")"
  fi
  setup_database
  t0=$(now)
  apply_training_operator
  apply_katib
  log "CRDs, RBAC, webhooks and Services applied in $(since "$t0")"
  if ! pid_of training-operator >/dev/null; then
    t0=$(now); start_training_operator; started+=(training-operator)
    log "Training Operator ready in $(since "$t0")"
  fi
  t0=$(now)
  local dep
  for dep in katib-db-manager katib-controller; do
    wait_for "deployment $dep" 120 kc -n "$NS" rollout status "deployment/$dep" --timeout=2s
  done
  # Ready means the webhooks have their CA: wait until the apiserver can call them.
  wait_for "Katib's webhooks" 60 katib_webhook_answers
  log "Katib ready in $(since "$t0")"
  if ((${#started[@]})); then log "started ${started[*]}"; fi
  log "operators up in $(since "$t_up"): kubectl --kubeconfig $ADMIN_KUBECONFIG get tfjobs,experiments -A"
}

katib_webhook_answers() { # a dry-run Experiment the validating webhook must reject
  local out
  out=$(kc -n "$NS" create --dry-run=server -f - 2>&1 <<EOF
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: webhook-probe}
spec: {algorithm: {algorithmName: random}}
EOF
) && return 1
  [[ $out == *'admission webhook "validator.experiment.katib.kubeflow.org" denied'* ]]
}

# ------------------------------------------------------------------- status

cmd_status() {
  local bad=0 c pid
  for c in mariadb training-operator; do
    if pid=$(pid_of "$c"); then
      printf '  %-24s running (pid %s, %s MiB RSS)\n' "$c" "$pid" "$(rss "$pid")"
    else
      printf '  %-24s not running\n' "$c"; bad=1
    fi
  done
  if pid_of training-operator >/dev/null && training_operator_ready; then
    echo "  training-operator        http://$TO_PROBE/readyz ok"
  else
    echo "  training-operator        not ready"; bad=1
  fi
  if ! apiserver_up; then
    echo "  apiserver                not reachable"; bad=1
  else
    local dep ready
    for dep in katib-controller katib-db-manager; do
      ready=$(kc -n "$NS" get deployment "$dep" -o jsonpath='{.status.readyReplicas}' 2>/dev/null || true)
      if [[ ${ready:-0} -ge 1 ]]; then
        pid=$(kc -n "$NS" get pod -l "katib.kubeflow.org/component=${dep#katib-}" \
          -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true)
        printf '  %-24s ready (pod %s)\n' "$dep" "$pid"
      else
        printf '  %-24s not ready\n' "$dep"; bad=1
      fi
    done
    if katib_webhook_answers; then echo "  katib webhooks           answering"; else
      echo "  katib webhooks           not answering"; bad=1
    fi
  fi
  if ((bad)); then log "operators not healthy"; else log "operators healthy"; fi
  return "$bad"
}

# --------------------------------------------------------------------- down

cmd_down() {
  [[ $(id -u) == 0 ]] || die "must run as root" 2
  local t0; t0=$(now)
  # While the apiserver answers: remove what would refuse or re-create things
  # without the operators (their webhooks, whose failurePolicy is Fail, and
  # Katib's Deployments). CRDs, custom resources and RBAC stay.
  if apiserver_up; then
    kc delete validatingwebhookconfiguration validator.training-operator.kubeflow.org katib.kubeflow.org \
      --ignore-not-found --request-timeout=10s >/dev/null || log "could not delete the webhooks"
    kc delete mutatingwebhookconfiguration katib.kubeflow.org --ignore-not-found --request-timeout=10s \
      >/dev/null || log "could not delete Katib's mutating webhook"
    kc -n "$NS" delete deployment katib-controller katib-db-manager --ignore-not-found \
      --request-timeout=10s --wait=true --timeout=30s >/dev/null || log "could not delete Katib's Deployments"
  elif [[ -f $ADMIN_KUBECONFIG ]]; then
    log "apiserver not reachable: Kubernetes objects left as they are"
  fi
  stop training-operator
  stop mariadb
  rm -rf "$OPS_RUN"
  log "operators down in $(since "$t0")"
}

case ${1:-} in
  up) cmd_up ;;
  status) cmd_status ;;
  down) cmd_down ;;
  *) echo "usage: $0 up|status|down" >&2; exit 2 ;;
esac
