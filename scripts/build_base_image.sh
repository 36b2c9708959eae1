#!/usr/bin/env bash
# Builds, offline from any container registry, a base image equivalent to the
# official python:3.11-slim-trixie: Debian 13 "trixie" from the Debian mirror
# (mmdebstrap) plus CPython 3.11 compiled into /usr/local the way the official
# image's Dockerfile does it. For machines and air-gapped clusters that cannot pull
# python:3.11.14-slim-trixie; containers/Dockerfile takes it as BASE_IMAGE.
#
# CPython's source is the release tarball as Debian 12 ships it (the orig tarball
# of the python3.11 source package is byte-identical to python.org's
# Python-3.11.2.tgz), fetched with apt from the Debian mirror, checksummed.
# Provenance (suite, mirror date, source checksum, configure flags) goes into
# image labels.
#
# Idempotent: an image already built from this script's exact text is kept.
# Usage: scripts/build_base_image.sh [IMAGE]   (default localhost/python:3.11.2-slim-trixie-local)
# Env: MIRROR (Debian mirror), PGO=1 (profile-guided + LTO build, as the official
#      image; about 30 min longer on 2 cores), BUILDAH_ARGS (e.g. --storage-driver vfs).
set -euo pipefail
IMAGE=${1:-localhost/python:3.11.2-slim-trixie-local}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PGO=${PGO:-0}
# The trixie mirror is signed by keys that Debian 12's keyring already holds.
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

PY_VERSION=3.11.2
PY_TARBALL=python3.11_${PY_VERSION}.orig.tar.gz
PY_SHA256=2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849
# Same flags as the official image (docker-library/python 3.11/slim-trixie), minus
# PGO/LTO by default: they run CPython's test suite during the build.
CONFIGURE="--enable-loadable-sqlite-extensions --enable-option-checking=fatal --enable-shared --with-ensurepip"
[ "$PGO" = 1 ] && CONFIGURE="$CONFIGURE --enable-optimizations --with-lto"

BUILDAH=(buildah ${BUILDAH_ARGS:-})
SELF_SHA=$(cat "$0" | sha256sum | cut -c1-16)
LABEL_NS=io.github.training-patterns.base
die() { echo "build_base_image: $*" >&2; exit 2; }
for tool in buildah mmdebstrap apt-get; do
  command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install buildah mmdebstrap)"
done

existing=$("${BUILDAH[@]}" inspect --type image --format "{{index .OCIv1.Config.Labels \"$LABEL_NS.script-sha\"}}" "$IMAGE" 2>/dev/null || true)
if [ "$existing" = "$SELF_SHA" ] && [ "$PGO" = 0 ]; then
  echo "base image $IMAGE is up to date (script $SELF_SHA)"
  exit 0
fi

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/training-patterns/base-image
mkdir -p "$CACHE"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# 1. CPython's source, from Debian 12's source package, with a private apt state so
#    the host's apt configuration is never touched.
if ! echo "$PY_SHA256  $CACHE/$PY_TARBALL" | sha256sum -c --status 2>/dev/null; then
  mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/apt/parts" "$WORK/src"
  echo "deb-src [signed-by=$KEYRING] $MIRROR bookworm main" > "$WORK/apt/sources.list"
  APT=(apt-get -q -o "Dir::Etc::SourceList=$WORK/apt/sources.list" -o "Dir::Etc::SourceParts=$WORK/apt/parts"
       -o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache=$WORK/apt/cache")
  "${APT[@]}" update >/dev/null
  # Only the orig tarball is needed; apt checks it against the signed Sources index.
  (cd "$WORK/src" && "${APT[@]}" source --download-only --tar-only python3.11 >/dev/null) || true
  [ -f "$WORK/src/$PY_TARBALL" ] || die "could not fetch $PY_TARBALL from $MIRROR (deb-src bookworm)"
  echo "$PY_SHA256  $WORK/src/$PY_TARBALL" | sha256sum -c --quiet || die "$PY_TARBALL: checksum mismatch"
  mv "$WORK/src/$PY_TARBALL" "$CACHE/$PY_TARBALL"
fi

# 2. Debian 13 minbase plus CPython, built inside the new root file system with its
#    own compiler; the build dependencies are purged again, keeping only the shared
#    libraries the installed Python links to (the official image's recipe).
cat > "$WORK/build-python.sh" <<EOF
set -eux
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
saved=\$(apt-mark showmanual)
apt-get install -y -q --no-install-recommends dpkg-dev gcc libbz2-dev libc6-dev \
  libffi-dev libgdbm-dev liblzma-dev libncursesw5-dev libreadline-dev libsqlite3-dev \
  libssl-dev make tk-dev uuid-dev xz-utils zlib1g-dev
mkdir -p /usr/src/python && tar -xzf /tmp/$PY_TARBALL -C /usr/src/python --strip-components=1
rm /tmp/$PY_TARBALL
cd /usr/src/python
arch=\$(dpkg-architecture --query DEB_BUILD_GNU_TYPE)
./configure --build=\$arch $CONFIGURE
nproc=\$(nproc)
make -s -j \$nproc
rm python
make -s -j \$nproc LDFLAGS="-Wl,-rpath='\\\$\\\$ORIGIN/../lib'" python
make -s install
cd /
rm -rf /usr/src/python
find /usr/local -depth \\( \\( -type d -a \\( -name test -o -name tests -o -name idle_test \\) \\) \\
  -o \\( -type f -a \\( -name '*.pyc' -o -name '*.pyo' -o -name 'libpython*.a' \\) \\) \\) -exec rm -rf '{}' +
ldconfig
apt-mark auto '.*' >/dev/null
apt-mark manual \$saved >/dev/null
find /usr/local -type f -executable -not -name '*tkinter*' -exec ldd '{}' ';' \\
  | awk '/=>/ { so = \$(NF-1); if (index(so, "/usr/local/") == 1) { next }; gsub("^/(usr/)?", "", so); printf "*%s\\n", so }' \\
  | sort -u | xargs -r dpkg-query --search | grep -v '^diversion ' | cut -d: -f1 | sort -u \\
  | xargs -r apt-mark manual
apt-get purge -y -q --auto-remove -o APT::AutoRemove::RecommendsImportant=false \\
  -o APT::AutoRemove::SuggestsImportant=false
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
for src in idle3 pip3 pydoc3 python3 python3-config; do ln -svT "\$src" "/usr/local/bin/\$(echo \$src | tr -d 3)"; done
PYTHONDONTWRITEBYTECODE=1 python3 -c 'import ssl, sqlite3, lzma, bz2, ctypes, readline, uuid, zlib; print(ssl.OPENSSL_VERSION)'
pip3 --version
EOF

echo "building Debian trixie + CPython $PY_VERSION root file system (several minutes)..."
mmdebstrap --variant=minbase --include=ca-certificates,netbase,tzdata \
  --keyring="$KEYRING" \
  --customize-hook="upload $CACHE/$PY_TARBALL /tmp/$PY_TARBALL" \
  --customize-hook="upload $WORK/build-python.sh /tmp/build-python.sh" \
  --customize-hook='chroot "$1" sh /tmp/build-python.sh' \
  --customize-hook='rm -f "$1/tmp/build-python.sh"' \
  trixie "$WORK/rootfs.tar" "$MIRROR"

debian_version=$(tar -xOf "$WORK/rootfs.tar" ./etc/debian_version)

ctr=$("${BUILDAH[@]}" from scratch)
trap '"${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
"${BUILDAH[@]}" add "$ctr" "$WORK/rootfs.tar" / >/dev/null
"${BUILDAH[@]}" config \
  --env PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 --env PYTHON_VERSION=$PY_VERSION \
  --cmd python3 \
  --label org.opencontainers.image.title="python $PY_VERSION slim trixie (built locally)" \
  --label org.opencontainers.image.description="Debian 13 minbase from $MIRROR + CPython $PY_VERSION in /usr/local, equivalent to python:3.11-slim-trixie" \
  --label org.opencontainers.image.created="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --label "$LABEL_NS.debian-suite=trixie" \
  --label "$LABEL_NS.debian-version=$debian_version" \
  --label "$LABEL_NS.debian-mirror=$MIRROR" \
  --label "$LABEL_NS.python-source=Debian bookworm source package python3.11, $PY_TARBALL (= python.org Python-$PY_VERSION.tgz)" \
  --label "$LABEL_NS.python-source-sha256=$PY_SHA256" \
  --label "$LABEL_NS.python-configure=$CONFIGURE" \
  --label "$LABEL_NS.builder=scripts/build_base_image.sh" \
  --label "$LABEL_NS.script-sha=$SELF_SHA" \
  "$ctr"
"${BUILDAH[@]}" commit --rm -q "$ctr" "$IMAGE" >/dev/null
echo "built $IMAGE (Debian $debian_version, CPython $PY_VERSION)"
