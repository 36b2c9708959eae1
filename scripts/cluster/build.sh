#!/usr/bin/env bash
# Why: nothing can be pulled here (no container registry, no release downloads),
# so the cluster's binaries are compiled from pinned sources fetched through the
# Go module proxy: Kubernetes v1.34.4 and etcd v3.6.4 from build/kube, CoreDNS
# v1.12.1 from build/coredns, our own pause program from build/pause, and the
# operators: the Kubeflow Training Operator v1.8.1 from build/training-operator
# and Katib v0.19.0 (controller, DB manager, file metrics collector, goptuna
# suggestion service) from build/katib. Each
# binary gets a stamp keyed by its module's go.mod + go.sum (+ its own .go files),
# the Go version and the ldflags, so a second run builds nothing. Then the two
# images the cluster runs (pause, CoreDNS, and Katib's four) are written as OCI
# archives. A cold build is about 14 minutes of compiling on 2 cores for the
# cluster plus about 7 for the operators; run it in the
# background with its output in a log when driving it by hand.
#
#   scripts/cluster/build.sh           build what is missing or out of date
#   scripts/cluster/build.sh --check   exit 1 if anything would be built
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check_only=0
[[ ${1:-} == --check ]] && check_only=1

command -v go >/dev/null || die "go is not installed (Go >= 1.24 needed to build the cluster)" 2
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
mkdir -p "$BIN_DIR"

# Version stamping: without these the Kubernetes binaries report v0.0.0-master,
# and the kubelet's node status and `kubectl version` would say so. The build
# date is the release's own date on the module proxy, so the build is repeatable.
# gitCommit is left empty: the module proxy does not carry it.
k8s_ldflags() {
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local x pkg
  x="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    x+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    x+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=2026-02-10T12:53:36Z"
  done
  printf '%s' "$x"
}

# name | module dir | package | ldflags | rough cold minutes on 2 cores (in build order,
# so the later ones reuse the packages the earlier ones compiled)
targets() {
  local kf; kf=$(k8s_ldflags)
  echo "kube-apiserver|kube|k8s.io/kubernetes/cmd/kube-apiserver|$kf|about 7 min"
  echo "kube-controller-manager|kube|k8s.io/kubernetes/cmd/kube-controller-manager|$kf|about 2 min"
  echo "kube-scheduler|kube|k8s.io/kubernetes/cmd/kube-scheduler|$kf|about 10 s"
  echo "kubelet|kube|k8s.io/kubernetes/cmd/kubelet|$kf|about 30 s"
  echo "kube-proxy|kube|k8s.io/kubernetes/cmd/kube-proxy|$kf|about 10 s"
  if need_kubectl; then
    echo "kubectl|kube|k8s.io/kubernetes/cmd/kubectl|$kf|about 45 s"
  fi
  echo "etcd|kube|go.etcd.io/etcd/server/v3|-s -w|about 20 s"
  echo "coredns|coredns|github.com/coredns/coredns|-s -w|about 3 min"
  echo "pause|pause|.|-s -w|a few seconds"
  # The operators (operators.sh): the Training Operator runs as a local process,
  # Katib's as images.
  local to=github.com/kubeflow/training-operator/cmd kt=github.com/kubeflow/katib/cmd
  echo "training-operator|training-operator|$to/training-operator.v1|-s -w|about 3.5 min"
  echo "katib-controller|katib|$kt/katib-controller/v1beta1|-s -w|about 3.5 min"
  echo "katib-db-manager|katib|$kt/db-manager/v1beta1|-s -w|a few seconds"
  echo "file-metricscollector|katib|$kt/metricscollector/v1beta1/file-metricscollector|-s -w|a few seconds"
  echo "goptuna-suggestion|katib|$kt/suggestion/goptuna/v1beta1|-s -w|about 10 s"
}

# The system kubectl is used when it is the same minor version; a client more
# than one minor away from the apiserver is outside Kubernetes' skew policy.
need_kubectl() {
  local v minor=${K8S_VERSION#v}; minor=${minor%.*}
  v=$(kubectl version --client 2>/dev/null | sed -n 's/^Client Version: v//p')
  [[ $v != "$minor".* ]]
}

stamp_key() { # module dir, ldflags
  local d=$CLUSTER_SRC/build/$1
  { cat "$d/go.mod" "$d"/go.sum "$d"/*.go 2>/dev/null; go version; echo "$2"; } |
    sha256sum | cut -d' ' -f1
}

rc=0
while IFS='|' read -r name mod pkg ldflags eta; do
  key=$(stamp_key "$mod" "$ldflags")
  stamp=$BIN_DIR/.$name.stamp
  if [[ -x $BIN_DIR/$name && -f $stamp && $(<"$stamp") == "$key" ]]; then
    continue
  fi
  if ((check_only)); then log "$name needs building"; rc=1; continue; fi
  cold=""; [[ -x $BIN_DIR/$name ]] || cold="cold, $eta"
  log "building $name${cold:+ ($cold)}..."
  t0=$(now)
  (cd "$CLUSTER_SRC/build/$mod" &&
    go build -trimpath -ldflags "$ldflags" -o "$BIN_DIR/$name.tmp" "$pkg") ||
    die "building $name failed (see the go output above)"
  mv -f "$BIN_DIR/$name.tmp" "$BIN_DIR/$name"
  echo "$key" >"$stamp"
  log "built $name in $(since "$t0") ($(du -m "$BIN_DIR/$name" | cut -f1) MiB)"
done < <(targets)
if ! need_kubectl; then rm -f "$BIN_DIR/kubectl" "$BIN_DIR/.kubectl.stamp"; fi
((rc == 0)) || exit "$rc"
((check_only == 0)) || exit 0

# The images, rewritten when their binary (or oci_image.py) is newer than the archive.
mkdir -p "$IMAGE_DIR"
image() { # archive name, image ref, binary, [dir in the image, as upstream's Dockerfile has it]
  local out=$IMAGE_DIR/$1.tar dir=${4:-}
  if [[ ! -f $out || $BIN_DIR/$3 -nt $out || $CLUSTER_SRC/oci_image.py -nt $out ]]; then
    python3 "$CLUSTER_SRC/oci_image.py" --name "$2" --out "$out.tmp" --entrypoint "$dir/$3" \
      --workdir "${dir:-/}" "$BIN_DIR/$3:$dir/$3" && mv -f "$out.tmp" "$out"
    log "wrote image $2 ($(du -m "$out" | cut -f1) MiB)"
  fi
}
image pause "$PAUSE_IMAGE" pause
image coredns "$COREDNS_IMAGE" coredns
# Katib's, laid out as upstream's Dockerfiles do: its manifests run
# ./katib-controller and ./katib-db-manager from the working directory.
image katib-controller "$KATIB_CONTROLLER_IMAGE" katib-controller /app
image katib-db-manager "$KATIB_DB_MANAGER_IMAGE" katib-db-manager /app
image file-metrics-collector "$KATIB_METRICS_COLLECTOR_IMAGE" file-metricscollector /app
image suggestion-goptuna "$KATIB_GOPTUNA_IMAGE" goptuna-suggestion /opt/katib
