# Why: build.sh and cluster.sh share one place for the paths, pinned versions and
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

# The running cluster's state (see cluster.sh for why it lives there).
STATE=${CLUSTER_STATE_DIR:-/var/lib/training-patterns-cluster}
RUN=${CLUSTER_RUN_DIR:-/run/training-patterns-cluster}
ADMIN_KUBECONFIG=$STATE/kubeconfig/admin.kubeconfig
NODE_NAME=training-patterns-node
# kubectl v1.34 when build.sh built one (the system's is too old), else the system's.
KUBECTL=$BIN_DIR/kubectl
[[ -x $KUBECTL ]] || KUBECTL=$(command -v kubectl || echo kubectl)
kc() { "$KUBECTL" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

log() { printf 'cluster: %s\n' "$*" >&2; }
die() { printf 'cluster: error: %s\n' "$1" >&2; exit "${2:-1}"; }

# Seconds since the epoch with milliseconds, and "1.4 s"-style differences.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
