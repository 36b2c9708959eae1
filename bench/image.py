"""The one image, built and run here (`make image-check`): no Docker engine needed.

  python -m bench.image [--base IMAGE] [--no-cpu] [--reuse-builds | --no-build]

(--reuse-builds: when a build finds its dependency layer in the cache, report the
last cold build of that same layer; --no-build: check the current images with
the timings recorded when they were built. Both label such rows with their date.)

1. Builds containers/Dockerfile with buildah (scripts/build_image.sh): the GPU
   image, then again after a source-only change (the dependency layer must come
   from the cache), then the CPU variant (no nvidia-* wheels). Base: --base, else
   the official python image if it can be pulled, else the one
   scripts/build_base_image.sh builds offline.
2. Runs every step inside it, as Kubernetes runs it (uid 1000, HOME=/tmp, only
   mounted volumes writable; pipelines/kubeflow/pods.py): `tpctl run` on the
   embedded data, then the compiled Kubeflow spec task by task, each executor a
   container of its own, artifacts handed over through the mounted /minio volume.
3. `tpctl gpu-check` inside both images: TensorFlow's own loader and ctypes/ldd
   on every CUDA library.
4. Sizes, the five largest layers, the lock against what is installed, and what
   the layers hold that they should not (caches, the CA bundle secret).
Writes the results to BENCHMARKS.md (section `image`).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.common import StepTimes

REPO = Path(__file__).resolve().parent.parent
GPU_TAG = "localhost/training-patterns:check"
CPU_TAG = "localhost/training-patterns:check-cpu"
OFFICIAL_BASE = "python:3.11.14-slim-trixie"
LOCAL_BASE = "localhost/python:3.11.2-slim-trixie-local"
STORAGE = Path("/var/lib/containers/storage")
# The last run's build timings and the images they produced (see --reuse-builds).
STATE = Path("/var/tmp/training-patterns-image-check.json")
# What the runs in the image train: small, so that the check is about the image.
SMALL = """\
trainer:
  train_steps: 300
  num_checkpoints: 3
tuner:
  max_trials: 1
  steps_per_trial: 50
"""
# The build context .dockerignore lets in (copied for the source-change rebuild).
CONTEXT = ["requirements.lock", "pyproject.toml", "README.md", ".dockerignore",
           "containers", "components", "pipelines", "scripts/fetch_bases.sh"]


def say(msg: str) -> None:
  print(f"[image-check] {msg}", flush=True)


def buildah(*args: str, timeout: int = 600) -> str:
  proc = subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=timeout)
  if proc.returncode != 0:
    sys.exit(f"buildah {' '.join(args[:2])} failed: {proc.stderr.strip()[-1500:]}")
  return proc.stdout.strip()


def image_exists(tag: str) -> bool:
  return subprocess.run(["buildah", "inspect", "--type", "image", tag],
                        capture_output=True).returncode == 0


# -- 1. build ------------------------------------------------------------------------

def ensure_base(base: str | None) -> tuple[str, str]:
  """(base image, how it was obtained)."""
  if base == LOCAL_BASE:
    return base, "built offline by scripts/build_base_image.sh" + _provenance(base)
  if base:
    return base, "given"
  if image_exists(OFFICIAL_BASE):
    return OFFICIAL_BASE, "official, present"
  pulled = subprocess.run(["buildah", "pull", "--quiet", f"docker.io/library/{OFFICIAL_BASE}"],
                          capture_output=True, text=True, timeout=300)
  if pulled.returncode == 0:
    return OFFICIAL_BASE, "official, pulled"
  say(f"{OFFICIAL_BASE} cannot be pulled here; building the equivalent offline base")
  began = time.monotonic()
  proc = subprocess.run([str(REPO / "scripts" / "build_base_image.sh"), LOCAL_BASE],
                        capture_output=True, text=True)
  if proc.returncode != 0:
    sys.exit(f"build_base_image.sh failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
  return LOCAL_BASE, (f"built offline by scripts/build_base_image.sh in "
                      f"{time.monotonic() - began:.0f} s" + _provenance(LOCAL_BASE))


def _provenance(base: str) -> str:
  """What the offline base's labels say it is made of."""
  labels = json.loads(buildah("inspect", "--type", "image", base))["OCIv1"]["config"].get(
      "Labels") or {}
  ns = "io.github.training-patterns.base."
  if ns + "python-source-sha256" not in labels:
    return ""
  return (f": Debian {labels.get(ns + 'debian-version')} from {labels.get(ns + 'debian-mirror')}, "
          f"CPython from {labels.get(ns + 'python-source')}, sha256 "
          f"{labels[ns + 'python-source-sha256'][:12]}…, configure "
          f"`{labels.get(ns + 'python-configure')}`")


def build(tag: str, variant: str, base: str, context: Path = REPO) -> dict:
  """Wall seconds, whether the dependency layer came from buildah's layer cache,
  and that layer's content digest."""
  began = time.monotonic()
  proc = subprocess.Popen([str(REPO / "scripts" / "build_image.sh"), "--tag", tag, "--variant",
                           variant, "--base", base, "--context", str(context)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "ENGINE": "buildah"})
  lines, steps, cached = [], [], set()
  for line in proc.stdout:  # a build takes minutes: show each Dockerfile step as it starts
    lines.append(line)
    if re.match(r"\[\d+/\d+\] STEP \d+/\d+: |STEP \d+/\d+: ", line):
      steps.append(line.split(": ", 1)[1])
      say(f"    {line.strip()[:100]}")
    elif line.startswith("--> Using cache") and steps:
      cached.add(len(steps) - 1)
  proc.wait()
  took = time.monotonic() - began
  log = "".join(lines)
  if proc.returncode != 0:
    sys.exit(f"building {tag} failed:\n{log[-4000:]}")
  # Whether the `uv pip sync` step (the dependency layer) came from the cache.
  deps = any("uv pip sync" in steps[i] for i in cached)
  return {"seconds": took, "deps_cached": deps, "deps_key": deps_key(tag), "log": log}


def deps_key(tag: str) -> str:
  """The content digest of the image's dependency layer (the venv it copies in)."""
  history = json.loads(buildah("inspect", "--type", "image", tag))["OCIv1"]["history"]
  for entry in history:
    found = re.search(r"COPY (dir:[0-9a-f]+) in /opt/venv $", entry.get("created_by", ""))
    if found:
      return found.group(1)
  raise RuntimeError(f"{tag}: no layer copies the venv into /opt/venv")


def _cold(result: dict, saved: dict | None, reuse: bool) -> dict:
  """A build whose dependency layer came from the cache says nothing about a
  cold build: with --reuse-builds, the last cold build of the same dependency
  layer (same lock, base and Dockerfile steps) stands in, labelled as such."""
  if reuse and result['deps_cached'] and saved and saved["deps_key"] == result["deps_key"]:
    return {**saved, "reused": saved["when"]}
  return result


def _builds(base: str, with_cpu: bool, reuse: bool) -> tuple[dict, dict, dict | None]:
  """(first build, source-only rebuild, CPU variant)."""
  state = _recorded(base)
  say(f"building {GPU_TAG} (variant gpu)...")
  first = _cold(build(GPU_TAG, "gpu", base), state.get("gpu"), reuse)
  say(f"  {first['seconds']:.0f} s, dependency layer {'cached' if first['deps_cached'] else 'built'}"
      + (f" (timings of {first['reused']})" if "reused" in first else ""))
  with tempfile.TemporaryDirectory() as tmp:
    say("rebuilding after a source-only change...")
    again = build(GPU_TAG, "gpu", base, source_changed_context(Path(tmp)))
  say(f"  {again['seconds']:.0f} s, dependency layer {'cached' if again['deps_cached'] else 'REBUILT'}")
  build(GPU_TAG, "gpu", base)  # back to the repository's sources
  cpu = None
  if with_cpu:
    say(f"building {CPU_TAG} (variant cpu)...")
    cpu = _cold(build(CPU_TAG, "cpu", base), state.get("cpu"), reuse)
    say(f"  {cpu['seconds']:.0f} s" + (f" (timings of {cpu['reused']})" if "reused" in cpu else ""))
  when = time.strftime("%Y-%m-%d %H:%M")
  for name, result in (("gpu", first), ("cpu", cpu), ("again", again)):
    # Cold builds and the rebuild, measured now (not timings taken over from before).
    if result and "reused" not in result and (name == "again" or not result['deps_cached']):
      state[name] = {k: v for k, v in result.items() if k != "log"} | {"when": when}
  STATE.write_text(json.dumps({**state, "base": base}))
  return first, again, cpu


def _recorded(base: str) -> dict:
  """The build timings recorded on this base (none for another base)."""
  state = json.loads(STATE.read_text()) if STATE.exists() else {}
  return state if state.get("base") == base else {}


def _last_builds(base: str, with_cpu: bool) -> tuple[dict, dict, dict | None]:
  """--no-build: the images as they are, with the timings of the builds that made
  them (refused unless the recorded dependency layers are the images' own)."""
  state = _recorded(base)
  recorded = [("gpu", GPU_TAG)] + ([("cpu", CPU_TAG)] if with_cpu else [])
  if "again" not in state or any(
      name not in state or state[name]["deps_key"] != deps_key(tag) for name, tag in recorded):
    sys.exit("--no-build: no recorded build of the current images; run without it")
  mark = lambda r: {**r, "reused": r["when"]}  # noqa: E731
  return mark(state["gpu"]), mark(state["again"]), mark(state["cpu"]) if with_cpu else None


def source_changed_context(tmp: Path) -> Path:
  """The build context with one source file changed, as after an edit."""
  context = tmp / "context"
  for name in CONTEXT:
    src, dest = REPO / name, context / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
      shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
    else:
      shutil.copy2(src, dest)
  with open(context / "pipelines" / "__init__.py", "a") as f:
    f.write(f"# source-only change for the rebuild check, {time.time()}\n")
  return context


# -- sizes and layers ----------------------------------------------------------------

def layers(tag: str) -> list[tuple[int, str]]:
  """(uncompressed bytes, the instruction that made it), base layers included."""
  info = json.loads(buildah("inspect", "--type", "image", tag))
  chain = _layer_chain(info["FromImageID"])
  history = [h for h in info["OCIv1"].get("history", []) if not h.get("empty_layer")]
  made_by = [h.get("created_by", "") for h in history]
  if len(made_by) != len(chain):  # a base imported from a tarball has no history entry
    made_by = ["(base)"] * (len(chain) - len(made_by)) + made_by
  return [(layer.get("diff-size", 0), _short(cmd)) for layer, cmd in zip(chain, made_by)]


def _top_layer(image_id: str) -> str:
  images = json.loads((STORAGE / "overlay-images" / "images.json").read_text())
  return next(i["layer"] for i in images if i["id"] == image_id)


def _short(created_by: str) -> str:
  if created_by.strip() in ("", "/bin/sh", "(base)"):
    return "(the base image)"
  text = re.sub(r"\s+", " ", created_by.replace("/bin/sh -c ", "")).strip()
  text = re.sub(r"^\|\d+ (\S+=\S+ )+", "", text)  # build args recorded by buildah
  return text[:90] + ("…" if len(text) > 90 else "")


def gb(n: float) -> str:
  return f"{n / 1e9:.2f} GB"


# -- 2. steps in containers ----------------------------------------------------------

def _small_config(path: Path, extra: str = "") -> Path:
  path.write_text(SMALL + extra)
  return path


def tpctl_run(tag: str, work: Path) -> dict:
  """`tpctl run` on the embedded data inside the image; the run directory is a
  mounted volume (the pipeline-root PVC)."""
  from pipelines.kubeflow.pods import BuildahPods
  volume = work / "pipeline-root"
  volume.mkdir(parents=True)
  _small_config(volume / "config.yaml", "run_dir: /mnt/pipeline-root/run\n")
  pods = BuildahPods(tag, volumes={"/mnt/pipeline-root": volume})
  began = time.monotonic()
  done = pods.run("tpctl-run", ["tpctl", "run", "--config", "/mnt/pipeline-root/config.yaml"],
                  work / "pod", timeout=3600, workdir="/mnt/pipeline-root")
  took = time.monotonic() - began
  pushed = sorted(p.parent for p in (volume / "run" / "serving").rglob("saved_model.pb"))
  return {"seconds": took, "exit": done.returncode, "pushed": [str(p) for p in pushed],
          "writes": pods.rootfs_writes.get("tpctl-run", []), "log": done.log}


def compiled_steps(gpu_tag: str, cpu_tag: str | None, work: Path) -> dict:
  """The compiled spec, task by task, each executor a container from the image
  the compiler chose for it."""
  from components.config import load_config
  from pipelines.kubeflow.compiler import compile_pipeline
  from pipelines.kubeflow.local_launcher import LocalKfp, load_spec
  from pipelines.kubeflow.pods import BuildahPods
  work.mkdir(parents=True)
  overrides = {"kubeflow.image": gpu_tag}
  if cpu_tag:
    overrides["kubeflow.cpu_image"] = cpu_tag
  config = load_config(_small_config(work / "config.yaml"), overrides)
  spec_path = compile_pipeline(config, work / "pipeline.yaml")
  spec, platform = load_spec(spec_path)
  # The PVCs the platform spec mounts, as host directories.
  mounts = {m["mountPath"]: work / "pvc" / m["constant"]
            for executor in platform["deploymentSpec"]["executors"].values()
            for m in executor.get("pvcMount", [])}
  pods = BuildahPods(gpu_tag, volumes=mounts)
  times = StepTimes(echo=lambda msg: say(f"  step {msg}"))
  began = time.monotonic()
  results = LocalKfp(spec_path, work / "launcher", pods=pods).run(times)
  times.stop()
  images = {task: spec["deploymentSpec"]["executors"][
      spec["components"][t["componentRef"]["name"]]["executorLabel"]]["container"]["image"]
      for task, t in spec["root"]["dag"]["tasks"].items()}
  serving = mounts.get(config.kubeflow.serving_dir)
  pushed = sorted(str(p.parent) for p in serving.rglob("saved_model.pb")) if serving else []
  return {"seconds": time.monotonic() - began, "tasks": list(results), "times": times.seconds,
          "images": images, "containers": pods.containers, "writes": pods.rootfs_writes,
          "pushed": pushed}


# -- 3. GPU readiness ----------------------------------------------------------------

def gpu_check(tag: str, work: Path) -> dict:
  from pipelines.kubeflow.pods import BuildahPods
  pods = BuildahPods(tag)
  done = pods.run("gpu-check", ["tpctl", "gpu-check", "--json"], work, timeout=900)
  lines = [line for line in done.log.splitlines() if line.startswith("{")]
  if not lines:
    sys.exit(f"tpctl gpu-check in {tag} printed no report (exit {done.returncode}):\n"
             f"{done.log[-3000:]}")
  return json.loads(lines[-1])


# -- 4. lock and hygiene -------------------------------------------------------------

def installed_matches_lock(tag: str, variant: str) -> list[str]:
  """Differences between the lock (without nvidia-* for cpu) and the image's venv."""
  from pipelines.kubeflow.pods import BuildahPods
  lock = {m.group(1).lower(): m.group(2) for m in re.finditer(
      r"^([A-Za-z0-9._-]+)==(\S+) \\$", (REPO / "requirements.lock").read_text(), re.M)}
  if variant == "cpu":
    lock = {k: v for k, v in lock.items() if not k.startswith("nvidia-")}
  with tempfile.TemporaryDirectory() as tmp:
    done = BuildahPods(tag).run("freeze", ["uv", "pip", "freeze", "--python", "/opt/venv/bin/python"],
                                Path(tmp), timeout=300)
  installed = {}
  for line in done.log.splitlines():
    if "==" in line:
      name, version = line.strip().split("==", 1)
      installed[re.sub(r"[-_.]+", "-", name.lower())] = version
  lock = {re.sub(r"[-_.]+", "-", k): v for k, v in lock.items()}
  installed.pop("training-patterns", None)  # the project itself, --no-deps
  diffs = [f"{n}: lock {lock.get(n)}, image {installed.get(n)}"
           for n in sorted(set(lock) | set(installed)) if lock.get(n) != installed.get(n)]
  return diffs


def hygiene(tag: str) -> dict:
  """User, and what no layer may hold (each layer's own files, so that something
  added and deleted later is caught too): caches, build secrets, the CA bundle."""
  info = json.loads(buildah("inspect", "--type", "image", tag))
  config = info["OCIv1"]["config"]
  ctr = buildah("from", "--pull=false", tag)
  try:
    ca = _ca_lines_not_in(Path(buildah("mount", ctr)))
  finally:
    subprocess.run(["buildah", "rm", ctr], capture_output=True)
  found = []
  chain = [layer["id"] for layer in _layer_chain(info["FromImageID"])]
  for layer_id in chain:
    diff = STORAGE / "overlay" / layer_id / "diff"
    for rel in ["root/.cache/uv", "root/.cache/pip", "home/tp/.cache", "run/secrets",
                "tmp/requirements.lock", "tmp/cpu.lock", "var/lib/apt/lists/partial"]:
      path = diff / rel
      if path.exists() and (path.is_file() or any(path.iterdir())):
        found.append(f"/{rel} (layer {layer_id[:12]})")
    if ca:
      hits = subprocess.run(["grep", "-rlIF", "-e", ca, "--", str(diff)],
                            capture_output=True, text=True).stdout.split()
      found += [f"CA bundle in {h[len(str(diff)):]} (layer {layer_id[:12]})" for h in hits]
  history = " ".join(h.get("created_by", "") for h in info["OCIv1"].get("history", []))
  return {"user": config.get("User"), "found": sorted(set(found)),
          "secret_in_history": "BEGIN CERTIFICATE" in history or "ca_bundle," in history,
          "ca_searched": bool(ca), "layers": len(chain)}


def _layer_chain(image_id: str) -> list[dict]:
  """The image's layers in containers-storage, base first."""
  by_id = {layer["id"]: layer for layer in
           json.loads((STORAGE / "overlay-layers" / "layers.json").read_text())}
  chain, layer_id = [], _top_layer(image_id)
  while layer_id:
    chain.append(by_id[layer_id])
    layer_id = by_id[layer_id].get("parent")
  return chain[::-1]


def _ca_lines_not_in(root: Path) -> str:
  """A line of a certificate in the host's CA bundle (the build secret) that no
  public CA store in the image has (Debian's, certifi's copies): the private CA
  of a TLS-intercepting proxy. If it shows up in a layer, the secret leaked."""
  bundle = os.environ.get("CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
  if not bundle or not Path(bundle).is_file():
    return ""
  public = set()
  for store in [root / "etc" / "ssl" / "certs" / "ca-certificates.crt",
                *root.glob("usr/local/lib/python3*/site-packages/pip/_vendor/certifi/cacert.pem"),
                *root.glob("opt/venv/lib/python3*/site-packages/certifi/cacert.pem")]:
    public |= set(_certificates(store.read_text()))
  private = [c for c in _certificates(Path(bundle).read_text()) if c not in public]
  lines = [line for cert in private for line in cert.splitlines() if len(line) == 64]
  return lines[len(lines) // 2] if lines else ""


def _certificates(pem: str) -> list[str]:
  return re.findall(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----", pem, re.S)


# -- report --------------------------------------------------------------------------

def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--base", help="base image (default: official if pullable, else built offline)")
  p.add_argument("--no-cpu", action="store_true", help="skip the CPU variant")
  p.add_argument("--no-build", action="store_true", help="check the images as they are, "
                 "reporting the build timings recorded when they were built")
  p.add_argument("--reuse-builds", action="store_true", help="when the dependency layer "
                 "comes from the cache, report the last cold build of that same layer")
  args = p.parse_args(argv)
  if not shutil.which("buildah"):
    sys.exit("image-check needs buildah (Debian: apt-get install buildah mmdebstrap)")
  base, base_how = ensure_base(args.base)
  say(f"base: {base} ({base_how})")

  if args.no_build:
    first, again, cpu = _last_builds(base, not args.no_cpu)
    say("--no-build: the current images, with the timings recorded when they were built")
  else:
    first, again, cpu = _builds(base, not args.no_cpu, args.reuse_builds)

  gpu_layers = layers(GPU_TAG)
  cpu_layers = layers(CPU_TAG) if cpu else []
  lock_gpu = installed_matches_lock(GPU_TAG, "gpu")
  lock_cpu = installed_matches_lock(CPU_TAG, "cpu") if cpu else []
  clean = hygiene(GPU_TAG)

  with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
    work = Path(tmp)
    say("tpctl gpu-check in the GPU image...")
    gpu = gpu_check(GPU_TAG, work / "gpu-check")
    cpu_gpu = gpu_check(CPU_TAG, work / "gpu-check-cpu") if cpu else None
    say(f"  ready: {gpu['ready']}; failures: {gpu['failures']}")
    say("tpctl run inside the image...")
    run = tpctl_run(GPU_TAG, work / "run")
    say(f"  exit {run['exit']} in {run['seconds']:.0f} s; pushed {run['pushed']}")
    say("the compiled Kubeflow spec, one container per step...")
    steps = compiled_steps(GPU_TAG, CPU_TAG if cpu else None, work / "kfp")
    say(f"  {len(steps['containers'])} containers in {steps['seconds']:.0f} s; "
        f"pushed {steps['pushed']}")

  problems = []
  if not again['deps_cached']:
    problems.append("the source-only rebuild rebuilt the dependency layer")
  if run["exit"] != 0 or not run["pushed"]:
    problems.append(f"tpctl run in the image: exit {run['exit']}, pushed {run['pushed']}")
  if not steps["pushed"]:
    problems.append("the compiled pipeline pushed no model")
  if any(steps["writes"].values()) or run["writes"]:
    problems.append("a step wrote into the image's file system")
  if not gpu["ready"]:
    problems.append(f"GPU image not ready: {gpu['failures']}")
  if lock_gpu or lock_cpu:
    problems.append(f"installed packages differ from the lock: {(lock_gpu + lock_cpu)[:5]}")
  if clean["found"] or clean["secret_in_history"]:
    problems.append(f"layers hold what they should not: {clean['found']}")
  if clean["user"] != "1000:1000":
    problems.append(f"image user is {clean['user']!r}")

  body = _body(base, base_how, first, again, cpu, gpu_layers, cpu_layers, gpu, cpu_gpu,
               run, steps, clean, lock_gpu, lock_cpu, problems)
  figures = {"build_min": f"{first['seconds'] / 60:.0f}",
             "rebuild_s": f"{again['seconds']:.0f}",
             "gpu_gb": f"{sum(s for s, _ in gpu_layers) / 1e9:.1f}",
             "cpu_gb": f"{sum(s for s, _ in cpu_layers) / 1e9:.1f}" if cpu else "n/a",
             "containers": str(len(steps["containers"]))}
  given = sys.argv[1:] if argv is None else argv
  command = f"python -m bench.image {' '.join(given)}" if given else "make image-check"
  report.write_section("image", "The image, built and run here (buildah, no Docker engine)",
                       command, body, figures=figures)
  print(body)
  if problems:
    sys.exit("image-check FAILED:\n  " + "\n  ".join(problems))
  say("all checks passed")


def _when(result: dict) -> str:
  return (f" (measured {result['reused']}, same dependency layer)"
          if "reused" in result else "")


def _body(base, base_how, first, again, cpu, gpu_layers, cpu_layers, gpu, cpu_gpu, run,
          steps, clean, lock_gpu, lock_cpu, problems) -> str:
  gpu_size = sum(s for s, _ in gpu_layers)
  cpu_size = sum(s for s, _ in cpu_layers)
  top = sorted(gpu_layers, reverse=True)[:5]
  lines = [
      f"Base: `{base}` ({base_how}).", "",
      "| build | wall time | dependency layer |", "|---|---|---|",
      f"| GPU image, first build here | {first['seconds'] / 60:.1f} min | "
      f"{'from the cache' if first['deps_cached'] else 'built'}{_when(first)} |",
      f"| GPU image, after a source-only change | {again['seconds']:.0f} s | "
      f"{'from the cache' if again['deps_cached'] else 'REBUILT'}{_when(again)} |"]
  if cpu:
    lines.append(f"| CPU variant (no nvidia-* wheels) | {cpu['seconds'] / 60:.1f} min | "
                 f"{'from the cache' if cpu['deps_cached'] else 'built'}{_when(cpu)} |")
  lines += ["", f"Size (uncompressed, all layers): GPU image **{gb(gpu_size)}**"
            + (f", CPU variant **{gb(cpu_size)}** ({cpu_size / gpu_size:.0%} of it)" if cpu else "")
            + ".", "", "Five largest layers of the GPU image:", "", "| size | made by |", "|---|---|"]
  lines += [f"| {gb(size)} | `{cmd}` |" for size, cmd in top]
  lines += ["", "GPU readiness (`tpctl gpu-check` in the image, no GPU here): TensorFlow "
            f"{gpu['tensorflow']} built with CUDA {gpu['cuda']}, cuDNN {gpu['cudnn']}; "
            f"{sum(bool(p) for p in gpu['libraries'].values())} of {len(gpu['libraries'])} "
            "CUDA libraries opened (" + ", ".join(gpu["libraries"]) + "); "
            + ("no failures" if gpu["ready"] else f"failures: {gpu['failures']}")
            + "; driver " + ("found" if gpu["driver_found"] else "not found (expected)") + "."]
  if cpu_gpu:
    lines.append(f"The CPU variant, as it should, is not GPU-ready "
                 f"({len(cpu_gpu['failures'])} failures, e.g. `{cpu_gpu['failures'][:1]}`).")
  lines += ["", f"`tpctl run` in the image (uid 1000, only volumes writable, 300 steps): "
            f"exit {run['exit']} in {run['seconds']:.0f} s, pushed "
            f"{len(run['pushed'])} model(s); files written to the image's own file system: "
            f"{len(run['writes'])}.", "",
            f"The compiled Kubeflow spec, each step its own container "
            f"({len(steps['containers'])} containers, {steps['seconds']:.0f} s in all):", "",
            "| step | image | s | files written outside volumes |", "|---|---|---|---|"]
  lines += [f"| {t} | `{steps['images'][t]}` | {steps['times'].get(t, 0):.0f} | "
            f"{len(steps['writes'].get(t, []))} |" for t in steps["tasks"]]
  lines += ["", f"Pushed by the Pusher container: {len(steps['pushed'])} model(s).", "",
            f"Lock against the image's venv (`uv pip freeze`): "
            f"{'identical' if not lock_gpu else lock_gpu[:3]} (GPU)"
            + (f", {'identical without nvidia-*' if not lock_cpu else lock_cpu[:3]} (CPU)" if cpu else "")
            + f". User `{clean['user']}`. Caches, secrets or build leftovers in any of the "
            f"{clean['layers']} layers: {clean['found'] or 'none'}"
            + ("; the CA bundle secret (its private CA) was searched for in every layer"
               if clean["ca_searched"] else "") + ".",
            "", "Result: " + ("all checks passed." if not problems else
                              "FAILED: " + "; ".join(problems))]
  return "\n".join(lines)


if __name__ == "__main__":
  main()
