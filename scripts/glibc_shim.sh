#!/usr/bin/env bash
# Give a venv's Python a private, newer glibc/libstdc++ when the host's is too old.
#
# Why: ml-metadata and TFDV 1.21 ship only manylinux_2_39 wheels (they need glibc 2.38+
# and GCC 13's libstdc++). Debian 12 has glibc 2.36. We unpack Debian 13's libc6,
# libstdc++6 and libgcc-s1 into the venv and start the venv's python through that
# loader. Nothing outside the venv is touched and LD_LIBRARY_PATH is never set, so
# other programs are unaffected. Hosts with glibc >= 2.39 (and the container images)
# skip all of this.
#
# Usage: glibc_shim.sh VENV_DIR
set -euo pipefail

venv=${1:?usage: glibc_shim.sh VENV_DIR}
venv=$(cd "$venv" && pwd)
root="$venv/glibc"
libdir="$root/usr/lib/x86_64-linux-gnu"
wrapper="$venv/bin/python3.11"
marker="# training-patterns glibc shim"
need_major=2 need_minor=39

glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
glibc=${glibc:-0.0}
if [ "${glibc%%.*}" -gt "$need_major" ] || { [ "${glibc%%.*}" -eq "$need_major" ] && [ "${glibc#*.}" -ge "$need_minor" ]; }; then
  exit 0  # host is new enough
fi
if grep -q "$marker" "$wrapper" 2>/dev/null && [ -x "$libdir/ld-linux-x86-64.so.2" ]; then
  exit 0  # already applied
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
  echo "error: host glibc $glibc < $need_major.$need_minor and no apt-get/dpkg to fetch a newer one." >&2
  echo "       Run on a host with glibc >= 2.39 (Debian 13, Ubuntu 24.04) or in the project's container image." >&2
  exit 1
fi
[ "$(uname -m)" = x86_64 ] || { echo "error: the glibc shim supports x86_64 only; use the container image" >&2; exit 1; }

echo "host glibc $glibc < $need_major.$need_minor: installing a private Debian 13 libc into $root"

# Reuse the host's own Debian mirror (first deb URI in its sources) for trixie.
mirror=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
         | grep -v -- '-security' | grep -oE 'https?://[^ ]+/debian/?' | head -n1 || true)
[ -n "$mirror" ] || { echo "error: no Debian mirror found in /etc/apt/sources.list*" >&2; exit 1; }
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/parts" "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
echo "deb [signed-by=$keyring] $mirror trixie main" > "$work/sources.list"
apt_opts=(-q -o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/parts"
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
apt-get "${apt_opts[@]}" -o APT::Sandbox::User=root update >/dev/null
(cd "$work/debs" && apt-get "${apt_opts[@]}" -o APT::Sandbox::User=root download libc6 libstdc++6 libgcc-s1 >/dev/null)

rm -rf "$root.tmp" && mkdir -p "$root.tmp"
for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$root.tmp"; done
rm -rf "$root" && mv "$root.tmp" "$root"

# The real interpreter the venv points at (follow the symlink before replacing it).
real=$(readlink -f "$wrapper")
if grep -q "$marker" "$real" 2>/dev/null; then
  real=$(sed -n 's/^real=//p' "$real")
fi
cat > "$wrapper.tmp" <<WRAP
#!/bin/sh
$marker
real=$real
exec "$libdir/ld-linux-x86-64.so.2" --library-path "$libdir" --argv0 "\$0" "$real" "\$@"
WRAP
chmod +x "$wrapper.tmp"
mv -f "$wrapper.tmp" "$wrapper"
ln -sf python3.11 "$venv/bin/python"
ln -sf python3.11 "$venv/bin/python3"
"$wrapper" -c 'import sys' || { echo "error: the glibc shim's python wrapper does not start" >&2; exit 1; }
echo "glibc shim ready: $wrapper"
