"""What running step by step, as on Kubeflow, costs against the local runner.

  python -m bench.kubeflow_steps [--rounds 2]

The same pipeline (bench/taxi_like.yaml: the embedded 15,002 rows, tuner off,
1000 steps) two ways, interleaved, fresh checkpoints every time:
- local: `tpctl run` (TFX LocalDagRunner, one process);
- steps: `tpctl compile`, then the compiled spec task by task through the
  test-side KFP launcher (pipelines/kubeflow/local_launcher.py): one process per step, as one pod
  per step, with artifacts copied through an object-store directory.
The ratio of median wall times is what per-step processes and artifact copies
add (start-up and TensorFlow import in every step). Pod scheduling and image pulls
on a real cluster come on top and are not measured here.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench import report
from bench.common import CONFIG, StepTimes, fresh_run


def _steps(work: Path) -> tuple[float, float, dict[str, float]]:
  """(compile seconds, run seconds, seconds per task)."""
  from components.csv_ingest import embedded_data
  from components.config import load_config
  from pipelines.kubeflow.compiler import compile_pipeline
  from pipelines.kubeflow.local_launcher import LocalKfp
  config = load_config(CONFIG, {"kubeflow.checkpoint_dir": str(work / "checkpoints"),
                                "kubeflow.serving_dir": str(work / "serving")})
  began = time.monotonic()
  spec = compile_pipeline(config, work / "pipeline.yaml")
  compiled = time.monotonic() - began
  data = embedded_data.materialize(work / "data")
  times = StepTimes()
  began = time.monotonic()
  LocalKfp(spec, work / "launcher", arguments={"data_dir": data}).run(times)
  times.stop()
  return compiled, time.monotonic() - began, times.seconds


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--rounds", type=int, default=2)
  args = p.parse_args(argv)
  local, steps, compiles, tasks = [], [], [], []
  for i in range(args.rounds):
    # The same timed `tpctl run` (taxi_like.yaml) as bench/local_loop.py's.
    local.append(fresh_run("local"))
    print(f"round {i + 1}: local {local[-1]:.1f}s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
      compiled, ran, per_task = _steps(Path(tmp))
      compiles.append(compiled)
      steps.append(ran)
      tasks.append(per_task)
      print(f"round {i + 1}: compile {compiled:.1f}s, steps {ran:.1f}s", flush=True)
  med_local, med_steps = statistics.median(local), statistics.median(steps)
  rows = "\n".join(f"| {t} | {statistics.median(r[t] for r in tasks):.1f} |" for t in tasks[0])
  body = (f"| runner | median wall time (s) | runs |\n|---|---|---|\n"
          f"| local (`tpctl run`) | {med_local:.1f} | {', '.join(f'{s:.1f}' for s in local)} |\n"
          f"| step by step (compiled spec) | {med_steps:.1f} | "
          f"{', '.join(f'{s:.1f}' for s in steps)} |\n\n"
          f"**Ratio step by step / local: {med_steps / med_local:.2f}.** "
          f"Compiling took {statistics.median(compiles):.1f} s (median, once TFX is "
          f"imported; `tpctl compile` spends most of its time importing TensorFlow).\n\n"
          f"Per step, step by step (median s):\n\n| step | s |\n|---|---|\n{rows}\n\n"
          "Each step is its own process, as each is its own pod on Kubeflow: Python and "
          "TensorFlow start in every step, and artifacts are copied to and from the "
          "object-store directory. Pod scheduling and image pulls are not included.")
  report.write_section("kubeflow_steps", "Step by step (as on Kubeflow) against the local runner",
                       "python -m bench.kubeflow_steps", body)
  print(body)


if __name__ == "__main__":
  main()
