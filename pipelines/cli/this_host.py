"""`tpctl gpu-check` and `tpctl flink`: what this host offers the pipeline (CUDA
libraries for TensorFlow, a Flink cluster for the Beam steps)."""
from __future__ import annotations


def add_commands(sub) -> None:
  gpu = sub.add_parser(
      "gpu-check", help="could TensorFlow use a GPU here? (checks every CUDA library)",
      description="Opens each CUDA library the way TensorFlow does on a GPU node "
      "(TensorFlow's own loader, then ctypes and ldd on every nvidia-* wheel library), "
      "so that an image is proven GPU-ready on a machine without a GPU. Prints the CUDA "
      "and cuDNN versions TensorFlow was built with, where each library was found, "
      "and whether the NVIDIA driver is present. Exit codes: 0 every library loads "
      "(the driver may be missing), 1 some library would not load on a GPU node.")
  gpu.set_defaults(handler=_gpu_check)
  gpu.add_argument("--json", action="store_true", help="one JSON object instead of text")
  flink = sub.add_parser(
      "flink", help="start, stop or check a Flink cluster on this host for the Beam steps",
      description="A standalone Flink session cluster on 127.0.0.1: a JobManager (REST "
      "API and web UI at http://127.0.0.1:8081), TaskManagers, a Beam job server "
      "(127.0.0.1:8099) and a Beam Python worker pool (127.0.0.1:50000), from what "
      "`make flink` installed under .cache/flink ($TRAINING_PATTERNS_FLINK_CACHE, when set, "
      "moves it for both). `up` starts what is not running and "
      "waits until every TaskManager has registered; `down` stops every process it "
      "started, workers included; `status` checks each process and port. Then "
      "`tpctl run --flink` runs Ingest, StatisticsGen, Transform and the Evaluator "
      "on it. Exit codes: 0 done (status: ready), 1 status: not ready, 2 not "
      "installed or failed to start.")
  flink.set_defaults(handler=_flink)
  flink.add_argument("action", choices=["up", "down", "status"])
  flink.add_argument("--taskmanagers", type=int, default=2, metavar="N",
                     help="TaskManagers to start (default 2, two slots each)")
  flink.add_argument("--json", action="store_true", help="status as one JSON object")


def _gpu_check(args) -> int:
  from pipelines import gpu_check
  return gpu_check.main(["--json"] if args.json else [])


def _flink(args) -> int:
  import json
  from pipelines.flink import cluster
  c = cluster.default_cluster()
  c.taskmanagers = args.taskmanagers
  if args.action == "down":
    c.down()
    return 0
  status = c.up() if args.action == "up" else c.status()
  if args.json:
    print(json.dumps(status, sort_keys=True))
  else:
    print(f"flink: {'ready' if status['ready'] else 'NOT ready'}: {status['summary']}")
    if status["ready"]:
      print(f"  REST and web UI http://{status['address']}, job server "
            f"{status['job_server']}, worker pool {status['worker_pool']}")
  return 0 if status["ready"] else 1
