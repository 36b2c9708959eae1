# shellcheck shell=bash
# Why: build.sh, cluster.sh and operators.sh share one place for the paths, pinned versions and
# the "cluster: ..." progress lines, so the two scripts cannot drift apart.
# Sourced, not run.
# shellcheck disable=SC2034  # the variables are used by the scripts that source this

# Repository root, whatever the caller's working directory.
CLUSTER_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$CLUSTER_SRC/../.." && pwd)

# Built binaries (git-ignored .cache/). Per-binary stamps live beside them.
CACHE_DIR=${CLUSTER_CACHE_DIR:-$REPO_ROOT/.cache/cluster}
BIN_DIR=$CACHE_DIR/bin
IMAGE_DIR=$CACHE_DIR/images

# Pinned upstream versions; the module versions themselves are in build/*/go.mod.
K8S_VERSION=v1.34.4
ETCD_VERSION=v3.6.4
COREDNS_VERSION=v1.12.1
# Local images (imported with ctr, never pulled: pods use imagePullPolicy Never).
PAUSE_IMAGE=localhost/training-patterns/pause:v1
COREDNS_IMAGE=localhost/training-patterns/coredns:$COREDNS_VERSION
# The operators (build/training-operator, build/katib; operators.sh runs them).
TRAINING_OPERATOR_VERSION=v1.8.1
KATIB_VERSION=v0.19.0
KATIB_CONTROLLER_IMAGE=localhost/training-patterns/katib-controller:$KATIB_VERSION
KATIB_DB_MANAGER_IMAGE=localhost/training-patterns/katib-db-manager:$KATIB_VERSION
KATIB_METRICS_COLLECTOR_IMAGE=localhost/training-patterns/file-metrics-collector:$KATIB_VERSION
KATIB_GOPTUNA_IMAGE=localhost/training-patterns/suggestion-goptuna:$KATIB_VERSION

# The running cluster's state (see cluster.sh for why it lives there).
STATE=${CLUSTER_STATE_DIR:-/var/lib/training-patterns-cluster}
RUN=${CLUSTER_RUN_DIR:-/run/training-patterns-cluster}
ADMIN_KUBECONFIG=$STATE/kubeconfig/admin.kubeconfig
LOGS=$STATE/logs  # every process's log
NODE_NAME=training-patterns-node
# The node's IP (our bridge's address, tpcluster0) and containerd's socket.
NODE_IP=10.244.0.1
CTRD_SOCK=$RUN/containerd/containerd.sock
# kubectl v1.34 when build.sh built one (the system's is too old), else the system's.
KUBECTL=$BIN_DIR/kubectl
[[ -x $KUBECTL ]] || KUBECTL=$(command -v kubectl || echo kubectl)
kc() { "$KUBECTL" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

log() { printf 'cluster: %s\n' "$*" >&2; }
die() { printf 'cluster: error: %s\n' "$1" >&2; exit "${2:-1}"; }

# Seconds since the epoch with milliseconds, and "1.4 s"-style differences.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# Polls `command...` until it succeeds, or dies naming what was not ready.
wait_for() { # description, seconds, command...
  local what=$1 secs=$2 t0; shift 2
  t0=$(now)
  until "$@" >/dev/null 2>&1; do
    if awk -v a="$t0" -v b="$(now)" -v s="$secs" 'BEGIN { exit !(b - a > s) }'; then
      die "$what not ready after $secs s; see $LOGS/"
    fi
    sleep 0.1
  done
}

# Installs the Debian packages not already at their pinned versions (name=version
# ...), logging apt's output to $LOGS/<log name>; dies in one line if apt cannot.
install_pinned() { # log name, name=version...
  local logfile=$LOGS/$1 p missing=(); shift
  for p in "$@"; do
    [[ $(dpkg-query -W -f='${Version}' "${p%%=*}" 2>/dev/null) == "${p#*=}" ]] || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  mkdir -p "$LOGS"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
      >"$logfile" 2>&1 ||
    { apt-get update -q >>"$logfile" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
          >>"$logfile" 2>&1; } ||
    die "cannot install ${missing[*]} with apt-get (see $logfile)" 2
}
