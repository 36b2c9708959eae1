"""Distribution: the input pipeline against the trainer, our loop against Keras
`fit`, and two workers (synchronous, or asynchronous with a parameter server)
against one.

  python -m bench.distribution [--repeats 3]

All on the embedded taxi data (15,002 rows, the default config's features and
model), each measurement in a fresh process, repeats interleaved, medians:
- input: examples/s of the training input pipeline alone (read, parse, transform,
  shuffle, batch 128) against examples/s of our training loop: >= 3 means the
  input is not what the trainer waits for;
- loop / fit: our custom loop's examples/s against `model.fit` on the same
  dataset and model (goal >= 0.95); one virtual epoch, one eval of 1,000 rows;
- workers: seconds per step of 2 MultiWorkerMirrored workers at the same global
  batch as 1 worker (64 x 2 against 128), and of parameter-server training (1 PS,
  2 workers, coordinator; each step one worker's batch of 128) against 1 worker.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import report
from bench.common import REPO


def _measure(mode: str, config, transform_dir, examples_dir, work: Path) -> dict:
  shutil.rmtree(work, ignore_errors=True)
  work.mkdir(parents=True)
  proc = subprocess.run(
      [sys.executable, "-m", "bench._distribution_job", mode, config.to_json(),
       str(transform_dir), str(examples_dir), str(work)],
      cwd=REPO, capture_output=True, text=True,
      env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"})
  if proc.returncode != 0:
    sys.exit(f"{mode} failed:\n{proc.stderr[-3000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])


def _with(config, **trainer):
  return config.model_copy(update={"trainer": config.trainer.model_copy(update=trainer)})


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--steps", type=int, default=300, help="steps per measurement")
  args = p.parse_args(argv)
  from components.config import Strategy, load_config
  from components.csv_ingest import embedded_data
  from components.trainer import standalone_inputs

  work = Path(tempfile.mkdtemp(prefix="bench-dist-"))
  try:
    config = load_config(overrides={"trainer.eval_examples": 1000})
    data_dir = Path(embedded_data.materialize(work / "data"))
    tf1 = standalone_inputs.build(config, data_dir / "data.csv", work / "tf1")
    # Parameter-server training needs a TF2-mode transform graph: the worker
    # comparisons all use one, so that they differ only in the strategy.
    tf2 = standalone_inputs.build(_with(config, strategy=Strategy.PARAMETER_SERVER, ps=1),
                                  data_dir / "data.csv", work / "tf2")
    batch = config.trainer.per_replica_batch_size
    one_epoch = _with(config, train_steps=args.steps, num_checkpoints=1)
    runs = {
        "input": ("input", one_epoch, tf1),
        "loop": ("loop", one_epoch, tf1),
        "fit": ("fit", one_epoch, tf1),
        "one worker": ("loop", _with(config, train_steps=args.steps, num_checkpoints=2), tf2),
        "two workers": ("cluster", _with(config, train_steps=args.steps, num_checkpoints=2,
                                         workers=2, per_replica_batch_size=batch // 2), tf2),
        "parameter server": ("cluster", _with(
            config, train_steps=args.steps, num_checkpoints=2, workers=2, ps=1,
            strategy=Strategy.PARAMETER_SERVER), tf2),
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(args.repeats):
      for name, (mode, cfg, (transform_dir, examples_dir)) in runs.items():
        result = _measure(mode, cfg, transform_dir, examples_dir, work / "m")
        seconds[name].append(result["seconds"])
        print(f"[{i + 1}/{args.repeats}] {name}: {result['seconds']:.1f} s", flush=True)
  finally:
    shutil.rmtree(work, ignore_errors=True)

  med = {name: statistics.median(v) for name, v in seconds.items()}
  rate = {name: args.steps * batch / med[name] for name in ("input", "loop", "fit")}
  step = {name: med[name] / args.steps for name in ("one worker", "two workers",
                                                      "parameter server")}
  input_ratio = rate["input"] / rate["loop"]
  fit_ratio = rate["loop"] / rate["fit"]
  two = step["two workers"] / step["one worker"]
  ps = step["parameter server"] / step["one worker"]
  body = f"""\
{args.steps} steps of batch {batch} per measurement, medians of {args.repeats}.

| comparison | ratio | values | goal |
|---|---|---|---|
| input pipeline / training loop (examples/s) | **{input_ratio:.1f}** | {rate['input']:,.0f} vs {rate['loop']:,.0f} | >= 3: {'met' if input_ratio >= 3 else '**not met**'} |
| our loop / Keras `fit` (examples/s) | **{fit_ratio:.2f}** | {rate['loop']:,.0f} vs {rate['fit']:,.0f} | >= 0.95: {'met' if fit_ratio >= 0.95 else '**not met**'} |
| 2 workers / 1 worker, same global batch (s per step) | **{two:.2f}** | {step['two workers'] * 1000:.0f} vs {step['one worker'] * 1000:.0f} ms | |
| parameter server (1 PS, 2 workers) / 1 worker (s per step) | **{ps:.2f}** | {step['parameter server'] * 1000:.0f} vs {step['one worker'] * 1000:.0f} ms | |

The loop's time includes one evaluation of 1,000 eval rows; `fit`'s does not.
Worker runs include a checkpoint and an evaluation at each of 2 virtual epochs,
the 1-worker baseline too; process start-up and imports are not counted. The
input, loop and fit rows use the transform graph as the pipeline writes it by
default (TF1 mode); the worker rows all use a TF2-mode graph, which
parameter-server training needs.

On this machine's 2 cores, several workers cannot be faster than one: every
process shares the same two cores, and each synchronous step adds an all-reduce
over gRPC between processes. What these runs prove is that the strategies train
and survive failures as specified; their speed-up needs one accelerator or host
per worker."""
  report.write_section(
      "distribution", "Distribution: input pipeline, loop against fit, workers",
      "python -m bench.distribution", body,
      figures={"input_ratio": f"{input_ratio:.1f}", "fit_ratio": f"{fit_ratio:.2f}",
               "two_workers_ratio": f"{two:.2f}", "ps_ratio": f"{ps:.2f}"})
  print(body)


if __name__ == "__main__":
  main()
