#!/usr/bin/env bash
# Installs what `tpctl flink up` runs, into DEST (default .cache/flink): Apache
# Flink 1.19.3 and the Beam job server for it, every file checked against a pinned
# sha256. Nothing is downloaded at run time. Idempotent: with everything in place
# it returns at once.
#
# Flink comes from PyPI (apache-flink-libraries holds the jars, apache-flink the
# bin/ and conf/ scripts); both are unpacked into a Flink home, not installed into
# the venv (apache-flink pins an old apache-beam). The job server is Beam 2.62.0's
# FlinkJobServerDriver on its resolved classpath from Maven Central (see
# scripts/flink/beam-job-server.pom.xml for why not the 2.77 job-server jar).
# Usage: scripts/fetch_flink.sh PYTHON [DEST]
set -euo pipefail
PY=${1:?usage: fetch_flink.sh PYTHON [DEST]}
HERE=$(cd "$(dirname "$0")" && pwd)
DEST=${2:-$(dirname "$HERE")/.cache/flink}
FLINK_VERSION=1.19.3
LIBS=apache-flink-libraries-$FLINK_VERSION.tar.gz
LIBS_SHA256=4a58e3a1fb7d83340bc96b6c080624c6d792d69fae5d294b96224775204a9c60
SCRIPTS=apache_flink-$FLINK_VERSION-cp311-cp311-manylinux_2_5_x86_64.manylinux1_x86_64.manylinux_2_17_x86_64.manylinux2014_x86_64.whl
SCRIPTS_SHA256=ff572c6ffa3867c21b8a455aefb50c53c91973fd0408df594ca26cb0a7bebc77
POM=$HERE/flink/beam-job-server.pom.xml
JARS_SHA256=$HERE/flink/beam-job-server.sha256
JOB_SERVER=beam-job-server-2.62.0

# The stamp records what was installed; a change to this script or the pins redoes it.
want=$(cat "$0" "$POM" "$JARS_SHA256" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$DEST/.installed" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
command -v java >/dev/null || { echo "fetch_flink.sh: java not found (Flink needs Java 11 or 17)" >&2; exit 2; }
command -v mvn >/dev/null || { echo "fetch_flink.sh: mvn not found (the job server comes from Maven Central)" >&2; exit 2; }
mkdir -p "$DEST"
# Absolute from here on: Maven resolves a relative -DoutputDirectory against the
# POM's folder, not the working directory, so a relative DEST lost the jars.
DEST=$(cd "$DEST" && pwd)
TMP=$(mktemp -d "$DEST/.fetch.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

echo "fetch_flink.sh: Flink $FLINK_VERSION from PyPI (230 MB)"
"$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
  "apache-flink-libraries==$FLINK_VERSION" -d "$TMP"
"$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
  --python-version 3.11 --platform manylinux2014_x86_64 "apache-flink==$FLINK_VERSION" -d "$TMP"
echo "$LIBS_SHA256  $TMP/$LIBS" | sha256sum -c --quiet
echo "$SCRIPTS_SHA256  $TMP/$SCRIPTS" | sha256sum -c --quiet
home=$TMP/flink-$FLINK_VERSION
mkdir -p "$home" "$TMP/libs" "$TMP/scripts"
tar -xzf "$TMP/$LIBS" -C "$TMP/libs"
"$PY" -m zipfile -e "$TMP/$SCRIPTS" "$TMP/scripts"
deps=$TMP/libs/apache-flink-libraries-$FLINK_VERSION/deps
mv "$deps/lib" "$deps/plugins" "$TMP/scripts/pyflink/bin" "$TMP/scripts/pyflink/conf" "$home/"
cp "$deps/bin/bash-java-utils.jar" "$home/bin/"
chmod +x "$home"/bin/*.sh "$home/bin/flink"

echo "fetch_flink.sh: the Beam job server for Flink 1.19 from Maven Central (160 jars, 150 MB)"
mvn -q -B -C -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
  -DoutputDirectory="$TMP/$JOB_SERVER" > "$TMP/mvn.log" 2>&1 || { cat "$TMP/mvn.log" >&2; exit 1; }
(cd "$TMP/$JOB_SERVER" && sha256sum -c --quiet "$JARS_SHA256")
extra=$(comm -13 <(cut -d' ' -f3 "$JARS_SHA256" | sort) <(ls "$TMP/$JOB_SERVER" | sort))
[ -z "$extra" ] || { echo "fetch_flink.sh: unpinned jars resolved: $extra" >&2; exit 1; }

rm -rf "$DEST/flink-$FLINK_VERSION" "$DEST/$JOB_SERVER"
mv "$home" "$DEST/" && mv "$TMP/$JOB_SERVER" "$DEST/"
echo "$want" > "$DEST/.installed"
echo "fetch_flink.sh: installed Flink $FLINK_VERSION and $JOB_SERVER under $DEST"
