#!/usr/bin/env bash
# Builds containers/Dockerfile: with Docker (BuildKit) where an engine answers,
# with buildah (no daemon) otherwise. Run from anywhere; the context is the repo.
#
# Usage: scripts/build_image.sh [--tag IMAGE] [--variant gpu|cpu] [--base BASE_IMAGE]
#                               [--context DIR]
#   --variant cpu   leaves the nvidia-* wheels out (same lock otherwise)
#   --base          the Python 3.11 / Debian trixie base (default: the Dockerfile's,
#                   the official python image); scripts/build_base_image.sh builds
#                   one offline where that cannot be pulled
#   --context       the build context (default: the repository)
# Env: CA_BUNDLE      a CA bundle handed to the build as the secret `ca_bundle`, for
#                     networks that intercept TLS (default: $SSL_CERT_FILE, if set)
#      ENGINE         docker or buildah (default: docker if `docker info` works)
#      BUILDAH_LAYERS false to build without buildah's layer cache
#      DRY_RUN        1 to print the build command instead of running it
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
TAG=localhost/training-patterns:dev
VARIANT=gpu
BASE=
CONTEXT=$REPO
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG=$2; shift 2 ;;
    --variant) VARIANT=$2; shift 2 ;;
    --base) BASE=$2; shift 2 ;;
    --context) CONTEXT=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "build_image: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$VARIANT" in gpu|cpu) ;; *) echo "build_image: --variant must be gpu or cpu, not '$VARIANT'" >&2; exit 2 ;; esac

CA_BUNDLE=${CA_BUNDLE:-${SSL_CERT_FILE:-}}
if [ -n "$CA_BUNDLE" ] && [ ! -s "$CA_BUNDLE" ]; then
  echo "build_image: CA_BUNDLE $CA_BUNDLE is not a readable file" >&2; exit 2
fi

ENGINE=${ENGINE:-}
if [ -z "$ENGINE" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker
  elif command -v buildah >/dev/null; then ENGINE=buildah
  else echo "build_image: neither a Docker engine nor buildah found (Debian: apt-get install buildah)" >&2; exit 2
  fi
fi

ARGS=(--file "$CONTEXT/containers/Dockerfile" --tag "$TAG" --build-arg "VARIANT=$VARIANT")
[ -n "$BASE" ] && ARGS+=(--build-arg "BASE_IMAGE=$BASE")
[ -n "$CA_BUNDLE" ] && ARGS+=(--secret "id=ca_bundle,src=$CA_BUNDLE")

run() {
  if [ "${DRY_RUN:-0}" = 1 ]; then printf '%q ' "$@"; echo; else exec "$@"; fi
}
echo "build_image: $ENGINE, $TAG (variant $VARIANT, base ${BASE:-the Dockerfile default})" >&2
case "$ENGINE" in
  # amd64: the lock holds x86_64 wheels only.
  docker) DOCKER_BUILDKIT=1 run docker build --platform linux/amd64 "${ARGS[@]}" "$CONTEXT" ;;
  # chroot isolation: RUN needs no OCI runtime or cgroups (works inside containers
  # and CI sandboxes); --layers keeps the dependency layer between builds;
  # --pull=false: a base already in local storage is used as it is; --force-rm: a
  # failed build (a full disk, say) does not leave its working containers behind,
  # each holding its own copy of the 8 GB venv.
  buildah) run buildah bud --isolation chroot --layers="${BUILDAH_LAYERS:-true}" \
             --pull=false --force-rm "${ARGS[@]}" "$CONTEXT" ;;
  *) echo "build_image: ENGINE must be docker or buildah, not '$ENGINE'" >&2; exit 2 ;;
esac
