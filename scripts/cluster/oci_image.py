#!/usr/bin/env python3
"""Write a one-layer OCI image archive from local files.

Why: this machine reaches no container registry, so the cluster's images (the
pod sandbox "pause" image, CoreDNS, Katib's) are assembled here from binaries that
build.sh compiled, then loaded with `ctr -n k8s.io images import`. Python's
standard library is enough for the OCI layout (no buildah or docker needed),
and the archive is byte-for-byte repeatable (fixed mtimes and owners).

    oci_image.py --name localhost/x:tag --out x.tar --entrypoint /x [--workdir /]
        SRC:/x [SRC:/y ...]
"""

import argparse
import hashlib
import io
import json
import tarfile


def _add_bytes(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def _layer(files):
    buf = io.BytesIO()
    dirs = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for src, dest in files:
            # Parent directories first (/app for /app/x), as built layers have them.
            parts = dest.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                    tar.addfile(info)
            with open(src, "rb") as f:
                _add_bytes(tar, dest.lstrip("/"), f.read(), mode=0o755)
    return buf.getvalue()


def build(name, out, entrypoint, files, cmd=None, workdir="/"):
    layer = _layer(files)
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": [entrypoint],
            "Cmd": cmd or [],
            "WorkingDir": workdir,
            # As in the usual base images: a command given without a path (Katib
            # runs `sh -c ...` in a trial's container) is looked up in PATH.
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            ],
        },
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created_by": "scripts/cluster/oci_image.py"}],
    }
    config_b = json.dumps(config, sort_keys=True).encode()
    config_digest = "sha256:" + hashlib.sha256(config_b).hexdigest()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config_b),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest,
                "size": len(layer),
            }
        ],
    }
    manifest_b = json.dumps(manifest, sort_keys=True).encode()
    manifest_digest = "sha256:" + hashlib.sha256(manifest_b).hexdigest()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest_b),
                "platform": {"architecture": "amd64", "os": "linux"},
                # containerd names the imported image after this annotation.
                "annotations": {
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1],
                },
            }
        ],
    }
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add_bytes(tar, "index.json", json.dumps(index, sort_keys=True).encode())
        for digest, blob in (
            (layer_digest, layer),
            (config_digest, config_b),
            (manifest_digest, manifest_b),
        ):
            _add_bytes(tar, "blobs/sha256/" + digest.split(":", 1)[1], blob)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--name", required=True, help="image reference, e.g. localhost/pause:v1"
    )
    p.add_argument("--out", required=True, help="archive to write")
    p.add_argument("--entrypoint", required=True)
    p.add_argument("--workdir", default="/", help="the image's working directory")
    p.add_argument("files", nargs="+", help="SRC:/DEST pairs")
    a = p.parse_args()
    build(
        a.name,
        a.out,
        a.entrypoint,
        [f.split(":", 1) for f in a.files],
        workdir=a.workdir,
    )


if __name__ == "__main__":
    main()
