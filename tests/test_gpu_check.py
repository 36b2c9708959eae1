"""`tpctl gpu-check` in the dev venv (the same nvidia-* wheels as the GPU image).

Here there is no GPU, so the check's verdict on each library must follow from the
files alone: what TensorFlow's loader can reach through its RUNPATH. The dev venv
lacks the image's fix for cuSOLVER (containers/Dockerfile registers it with the
loader cache), so whether the check calls this venv ready must agree with whether
cuSOLVER is on libtensorflow_framework's RUNPATH. `make image-check` runs the same
command in the image, where it must pass."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def checked():
  proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "gpu-check", "--json"],
                        cwd=REPO, capture_output=True, text=True, timeout=600)
  return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


def _framework_runpath() -> list[Path]:
  import tensorflow as tf
  framework = Path(tf.__file__).parent / "libtensorflow_framework.so.2"
  out = subprocess.run(["readelf", "-d", str(framework)], capture_output=True, text=True,
                       check=True).stdout
  runpath = next(line for line in out.splitlines() if "RUNPATH" in line)
  entries = runpath.split("[", 1)[1].rstrip("]").split(":")
  return [Path(e.replace("$ORIGIN", str(framework.parent))).resolve() for e in entries]


def test_reports_the_cuda_build_and_every_library_from_the_wheels(checked):
  _, report = checked
  assert report["cuda"].startswith("12.") and report["cudnn"].startswith("9")
  assert set(report["libraries"]) == {"cudart", "cublas", "cublasLt", "cufft", "cusolver",
                                      "cusparse", "cudnn", "nccl", "cupti", "curand", "nvjitlink"}
  import nvidia
  wheels = [str(Path(p).resolve()) for p in nvidia.__path__]
  for name, path in report["libraries"].items():
    if path:  # opened from the nvidia-* wheels, not from somewhere on the host
      assert any(str(Path(path).resolve()).startswith(w) for w in wheels), (name, path)


def test_verdict_on_cusolver_follows_tensorflows_runpath(checked):
  code, report = checked
  reachable = any((d / "libcusolver.so.11").exists() for d in _framework_runpath())
  found = bool(report["libraries"]["cusolver"])
  assert found == reachable
  if not reachable:  # TF 2.21 (tensorflow/tensorflow#112973): caught, named, exit 1
    assert any("libcusolver.so.11" in f for f in report["failures"])
    assert not report["ready"] and code == 1
  # The other libraries TF's loader opens are on its RUNPATH, and found.
  for name in ("cudart", "cublas", "cublasLt", "cufft", "cusparse", "cudnn", "nccl"):
    assert report["libraries"][name], name

