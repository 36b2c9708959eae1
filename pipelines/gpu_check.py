"""`tpctl gpu-check`: is this environment ready to train on a GPU?

Without a GPU, TensorFlow never tries to open its CUDA libraries (it stops at the
missing driver), so an image whose cuDNN or cuSOLVER cannot be found looks fine
until it lands on a GPU node, where TensorFlow then says "Cannot dlopen some GPU
libraries" and trains on the CPU. This check opens every library the way
TensorFlow would on a GPU node, without one:

1. TensorFlow's own loader: tsl::internal::DsoLoader in libtensorflow_framework,
   the code (and search path) TensorFlow's GPU start-up uses, called for each
   library and then as a whole (TryDlopenCUDALibraries); its log lines are read.
2. Every shared library of the nvidia-* wheels with ctypes, and with ldd for
   dependencies that do not resolve.

The probe runs in a child process, so that TensorFlow's log goes to a pipe and
a library opened by one check cannot make another pass.
"""
from __future__ import annotations

import ctypes
import dataclasses
import fnmatch
import glob
import json
import os
import re
import subprocess
import sys

# The CUDA user-space libraries TF 2.21 opens at GPU start-up, by loader entry
# point (tsl/platform/default/dso_loader.h). The driver comes from the node.
LOADER = {"cudart": "23GetCudaRuntimeDsoHandle", "cublas": "18GetCublasDsoHandle",
          "cublasLt": "20GetCublasLtDsoHandle", "cufft": "17GetCufftDsoHandle",
          "cusolver": "20GetCusolverDsoHandle", "cusparse": "20GetCusparseDsoHandle",
          "cudnn": "17GetCudnnDsoHandle", "nccl": "16GetNcclDsoHandle",
          "cupti": "17GetCuptiDsoHandle"}
DRIVER = "22GetCudaDriverDsoHandle"
# Loaded by the libraries above rather than by TF's loader; checked with ctypes.
INDIRECT = {"curand": "libcurand.so.*", "nvjitlink": "libnvJitLink.so.*"}
# Provided by the NVIDIA driver on the node (the container toolkit mounts them).
FROM_DRIVER = ("libcuda.so.1", "libnvidia-ml.so.1")
_SYMBOL = "_ZN3tsl8internal9DsoLoader{}Ev"
_OK_STATUS = 1  # absl::Status holding kOk, inlined: (code << 2) | 1
_FAILED = re.compile(r"Could not load dynamic library '([^']+)'; dlerror: (.*)")


class _StatusOr(ctypes.Structure):
  # absl::StatusOr<void*>: returned through a hidden pointer (not trivially copyable).
  _fields_ = [("rep", ctypes.c_uint64), ("value", ctypes.c_void_p)]


def _mapped_path(soname: str) -> str:
  """Where the process mapped a library from (after the loader opened it)."""
  with open("/proc/self/maps") as f:
    for line in f:
      path = line.split()[-1]
      if os.path.basename(path).startswith(soname):
        return path
  return ""


def _probe() -> dict:
  """In the child: TF's loader per library and as a whole, then ctypes per file."""
  import tensorflow as tf
  framework = ctypes.CDLL(os.path.join(os.path.dirname(tf.__file__),
                                       "libtensorflow_framework.so.2"))

  def call(entry: str) -> tuple[bool, object]:
    fn = getattr(framework, _SYMBOL.format(entry))
    fn.restype, fn.argtypes = None, [ctypes.POINTER(_StatusOr)]
    out = _StatusOr()
    fn(ctypes.byref(out))
    return out.rep == _OK_STATUS, out.value

  result = {"tensorflow": tf.__version__, "build": dict(tf.sysconfig.get_build_info()),
            "loader": {}, "files": {}}
  for name, entry in LOADER.items():  # name -> the file it was opened from, or ""
    result["loader"][name] = _mapped_path(f"lib{name}.so") if call(entry)[0] else ""
  result["driver"] = call(DRIVER)[0]
  all_fn = getattr(framework, _SYMBOL.format("22TryDlopenCUDALibraries"))
  all_fn.restype, all_fn.argtypes = None, [ctypes.POINTER(ctypes.c_uint64)]
  status = ctypes.c_uint64()
  all_fn(ctypes.byref(status))
  result["all"] = status.value == _OK_STATUS
  for path in nvidia_libraries():
    try:
      ctypes.CDLL(path)
      result["files"][path] = ""
    except OSError as e:
      result["files"][path] = str(e)
  result["gpus"] = len(tf.config.list_physical_devices("GPU"))
  return result


def nvidia_libraries() -> list[str]:
  """The versioned shared libraries of the installed nvidia-* wheels (none in the
  image's CPU variant)."""
  try:
    import nvidia  # the package the nvidia-* wheels share
  except ImportError:
    return []
  return sorted(p for root in nvidia.__path__
                for p in glob.glob(os.path.join(root, "*", "lib", "lib*.so*"))
                if re.search(r"\.so\.\d+$", p))


def unresolved(path: str) -> list[str]:
  """Dependencies of a library that ldd cannot find, except the driver's."""
  out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
  return [line.split()[0] for line in out.splitlines()
          if "not found" in line and line.split()[0] not in FROM_DRIVER]


@dataclasses.dataclass
class Report:
  tensorflow: str
  cuda: str
  cudnn: str
  libraries: dict       # name -> path it was opened from, or "" if it was not
  failures: list        # one line each: what did not load and why
  driver_found: bool
  gpus: int
  log: list             # TF's own dso_loader lines

  @property
  def ready(self) -> bool:
    return not self.failures

  def lines(self) -> list[str]:
    out = [f"TensorFlow {self.tensorflow}, built with CUDA {self.cuda} and cuDNN {self.cudnn}"]
    for name, path in self.libraries.items():
      out.append(f"  {name:<10} {'ok   ' + path if path else 'MISSING'}")
    out += [f"  error: {f}" for f in self.failures]
    out.append("NVIDIA driver: " + ("found" if self.driver_found else
               "not found (libcuda.so.1; on a GPU node the container toolkit mounts it)"))
    out.append(f"GPUs visible to TensorFlow: {self.gpus}")
    out.append("ready for a GPU node" if self.ready else
               "NOT ready: TensorFlow would fall back to the CPU on a GPU node")
    return out


def check(python: str = sys.executable) -> Report:
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0", "TF_CPP_VMODULE": "dso_loader=1"}
  proc = subprocess.run([python, "-m", "pipelines.gpu_check", "--probe"], env=env,
                        capture_output=True, text=True, timeout=600)
  if proc.returncode != 0:
    raise RuntimeError(f"gpu-check probe failed (exit {proc.returncode}): "
                       f"{proc.stderr.strip().splitlines()[-1:]}")
  probe = json.loads(proc.stdout.strip().splitlines()[-1])
  log = [line for line in proc.stderr.splitlines()
         if "dso_loader" in line or "Cannot dlopen" in line]
  failures = [f"TensorFlow could not load {m.group(1)}: {m.group(2)}"
              for m in map(_FAILED.search, log)
              if m and m.group(1) not in FROM_DRIVER]
  if any("Cannot dlopen some GPU libraries" in line for line in log):
    failures.append("TensorFlow: Cannot dlopen some GPU libraries")
  if not probe["all"]:
    failures.append("TensorFlow's TryDlopenCUDALibraries failed")
  libraries = dict(probe["loader"])
  for name, path in libraries.items():
    if not path and not any(f"lib{name}.so" in f for f in failures):
      failures.append(f"TensorFlow's loader could not open {name}")
  for name, pattern in INDIRECT.items():
    paths = [p for p in probe["files"] if fnmatch.fnmatch(os.path.basename(p), pattern)]
    libraries[name] = paths[0] if paths and not probe["files"][paths[0]] else ""
    if not libraries[name]:
      failures.append(f"{name}: no {pattern} in the nvidia wheels, or it did not load")
  for path, error in probe["files"].items():
    if error and not any(d in error for d in FROM_DRIVER):
      failures.append(f"ctypes could not load {path}: {error}")
    for missing in unresolved(path):
      failures.append(f"ldd: {path} needs {missing}, which is not found")
  build = probe["build"]
  return Report(probe["tensorflow"], str(build.get("cuda_version", "none")),
                str(build.get("cudnn_version", "none")), libraries,
                list(dict.fromkeys(failures)),
                probe["driver"], probe["gpus"], log)


def main(argv: list[str]) -> int:
  if argv == ["--probe"]:
    print(json.dumps(_probe()))
    return 0
  report = check()
  if "--json" in argv:
    print(json.dumps({**dataclasses.asdict(report), "ready": report.ready}))
  else:
    print("\n".join(report.lines()))
  return 0 if report.ready else 1


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
