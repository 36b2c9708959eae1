"""Container entrypoint of every step on Kubeflow: TFX's KFP v2 executor runner,
adapted to what the open-source KFP v2 driver and launcher hand over.

    python -m pipelines.kubeflow.entrypoint --executor_class_path ... \\
        --json_serialized_invocation_args '{{$}}' --json_serialized_inputs_spec_args ...

TFX's runner (tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor)
was written for Vertex. On open-source KFP (backend/src/v2 in kubeflow/pipelines):

1. Upstream artifacts do not arrive with their TFX type: with an empty type
   (`instanceSchema: ""`, as we read the MLMD-based driver: it does not read the
   type back from MLMD), or with a generic `system.*` title such as
   `system.Dataset` (what sky-uk/kfp-operator's tfx-patch, written against live
   clusters, reports and infers types from metadata keys for). TFX fails on both.
   The compiled inputs spec, which TFX passes alongside, declares the real type:
   it always wins.
2. The driver may add an `executor-logs` output of type `system.Artifact`, which
   no TFX class matches. The launcher writes that one itself: hide it from TFX.
3. Artifact URIs are object-store URIs (`minio://`, `s3://`, `gs://`). TensorFlow
   cannot open `minio://` or `s3://`. The launcher downloads inputs to, and
   uploads outputs from, local paths (`/minio/...`, `/s3/...`, `/gcs/...`), the
   contract that KFP's own Python components follow: TFX works on those paths,
   and the output file reports the object-store URIs again (a URI written there
   replaces the launcher's in MLMD).
4. Writing through the launcher's local paths also avoids the zero-byte
   "directory" objects that TF's GCS filesystem leaves (kubeflow/pipelines#13476).
5. Python can crash in a C++ destructor at exit after the executor succeeded, and
   the launcher fails a task on any non-zero exit: exit with os._exit once the
   output file is written.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Callable

from absl import flags as absl_flags

# The launcher's local mount point per object-store scheme (LocalPathForURI in
# backend/src/v2/objectstore). Tests relocate the root to stand in for a pod.
_MOUNTS = {"gs://": "gcs/", "minio://": "minio/", "s3://": "s3/"}
LOCAL_ROOT_ENV = "TP_LOCAL_ARTIFACT_ROOT"
_INVOCATION = "--json_serialized_invocation_args"
_INPUTS_SPEC = "--json_serialized_inputs_spec_args"


def to_local(uri: str, root: str = "/") -> str:
  for scheme, mount in _MOUNTS.items():
    if uri.startswith(scheme):
      return os.path.join(root, mount, uri[len(scheme):])
  return uri


def to_remote(path: str, root: str = "/") -> str:
  for scheme, mount in _MOUNTS.items():
    prefix = os.path.join(root, mount)
    if path.startswith(prefix):
      return scheme + path[len(prefix):]
  return path


def _arg(argv: list[str], name: str) -> int:
  for i, arg in enumerate(argv):
    if arg == name:
      return i + 1
  raise SystemExit(f"entrypoint: {name} is missing from the container arguments")


def adapt_executor_input(executor_input: dict, inputs_spec: dict,
                         localize: Callable[[str], str]) -> dict:
  """Fixes 1-3 above, on the executor input as JSON (a new dict)."""
  executor_input = json.loads(json.dumps(executor_input))
  spec_types = {name: spec.get("artifactType", {})
                for name, spec in inputs_spec.get("artifacts", {}).items()}
  for name, artifacts in executor_input.get("inputs", {}).get("artifacts", {}).items():
    for artifact in artifacts.get("artifacts", []):
      if name in spec_types:  # what the pipeline declared, whatever arrived
        artifact["type"] = spec_types[name]
      artifact["uri"] = localize(artifact.get("uri", ""))
  outputs = executor_input.get("outputs", {}).get("artifacts", {})
  for name in list(outputs):
    artifacts = outputs[name].get("artifacts", [])
    if any(a.get("type", {}).get("schemaTitle", "").startswith("system.") for a in artifacts):
      del outputs[name]
      continue
    for artifact in artifacts:
      artifact["uri"] = localize(artifact.get("uri", ""))
  return executor_input


def report_remote_uris(output_file: str, remote: Callable[[str], str]) -> None:
  """Rewrites the executor output's artifact URIs back to object-store URIs."""
  if not os.path.exists(output_file):
    return
  with open(output_file) as f:
    output = json.load(f)
  for artifacts in output.get("artifacts", {}).values():
    for artifact in artifacts.get("artifacts", []):
      if artifact.get("uri"):
        artifact["uri"] = remote(artifact["uri"])
  partial = output_file + ".partial"
  with open(partial, "w") as f:
    json.dump(output, f)
  os.replace(partial, output_file)


def main(argv: list[str]) -> int:
  root = os.environ.get(LOCAL_ROOT_ENV, "/")
  argv = list(argv)
  at = _arg(argv, _INVOCATION)
  inputs_spec = json.loads(argv[_arg(argv, _INPUTS_SPEC)])
  executor_input = adapt_executor_input(json.loads(argv[at]), inputs_spec,
                                        lambda uri: to_local(uri, root))
  argv[at] = json.dumps(executor_input)

  from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor as runner
  args, beam_args = runner._parse_flags([sys.argv[0], *argv])  # noqa: SLF001
  absl_flags.FLAGS.mark_as_parsed()
  runner._run_executor(args, beam_args)  # noqa: SLF001
  report_remote_uris(executor_input["outputs"]["outputFile"], lambda p: to_remote(p, root))
  return 0


if __name__ == "__main__":
  try:
    code = main(sys.argv[1:])
  except BaseException:  # noqa: BLE001 - any failure: the traceback, then exit 1
    traceback.print_exc()
    code = 1
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)
