#!/usr/bin/env bash
# Our own image on the cluster's node: the CPU variant of containers/Dockerfile,
# built with buildah (scripts/build_image.sh; no Docker engine, no registry), then
# imported into the node's containerd, so that pods run it with
# imagePullPolicy: IfNotPresent, as they would after a pull.
#
# Why a script of its own: nothing can be pulled here, so the image has to be
# built on this machine, on a Python 3.11 / Debian trixie base that is built
# locally too (scripts/build_base_image.sh) when the official one cannot be
# pulled. The first build takes about 20 minutes on 2 cores (the base, then the
# lock's wheels); after a source-only change, a few minutes (buildah's layer
# cache); an unchanged image is not imported again. `make cluster-down` empties
# the node's containerd: after the next `make cluster`, run this again (it
# imports again without rebuilding, about 2 minutes).
#
# Usage: scripts/cluster/image.sh            (make cluster-image; the import needs the cluster up)
# Env:   CLUSTER_IMAGE   the tag (default localhost/training-patterns:cluster-cpu)
#        BASE_IMAGE      the base (default localhost/python:3.11.2-slim-trixie-local,
#                        built by scripts/build_base_image.sh when missing)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

TAG=${CLUSTER_IMAGE:-localhost/training-patterns:cluster-cpu}
BASE=${BASE_IMAGE:-localhost/python:3.11.2-slim-trixie-local}
# Debian 12's, pinned like the cluster's packages (cluster.sh).
IMAGE_PACKAGES=(buildah=1.28.2+ds1-3+deb12u1+b3 mmdebstrap=1.3.5-7)
ARCHIVE=$IMAGE_DIR/training-patterns-cluster-cpu.tar
STAMP=$IMAGE_DIR/training-patterns-cluster-cpu.imported

[[ $(id -u) == 0 ]] || die "must run as root (buildah and the node's containerd)" 2
ctr_() { ctr --address "$CTRD_SOCK" -n k8s.io "$@"; }

install_pinned apt-image.log "${IMAGE_PACKAGES[@]}"

t0=$(now)
if ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
  log "image: building the base $BASE (scripts/build_base_image.sh; about 10 minutes)"
  "$REPO_ROOT/scripts/build_base_image.sh" "$BASE" >"$LOGS/image-base.log" 2>&1 ||
    die "building the base image failed; see $LOGS/image-base.log"
  log "image: base built in $(since "$t0")"
fi

t0=$(now)
log "image: building $TAG (CPU variant; the lock's wheels are cached between builds)"
ENGINE=buildah "$REPO_ROOT/scripts/build_image.sh" --tag "$TAG" --variant cpu --base "$BASE" \
    >"$LOGS/image-build.log" 2>&1 || die "building $TAG failed; see $LOGS/image-build.log"
id=$(buildah inspect --type image --format '{{.FromImageID}}' "$TAG")
log "image: $TAG built in $(since "$t0") (id ${id:0:12})"

[[ -S $CTRD_SOCK ]] || die "the cluster is not up (no containerd socket $CTRD_SOCK): run make cluster, then this again" 2
if [[ -f $STAMP && $(cat "$STAMP") == "$id" ]] && ctr_ images ls -q "name==$TAG" | grep -q .; then
  log "image: $TAG (id ${id:0:12}) already on the node"
  exit 0
fi
t0=$(now)
mkdir -p "$IMAGE_DIR"
rm -f "$ARCHIVE" "$STAMP"
# A docker-archive carries the image's name, which ctr import keeps.
buildah push --quiet "$TAG" "docker-archive:$ARCHIVE:$TAG" >/dev/null
ctr_ images import "$ARCHIVE" >/dev/null
rm -f "$ARCHIVE"  # the node's containerd has the layers now
echo "$id" >"$STAMP"
log "image: $TAG imported into the node's containerd in $(since "$t0")"
