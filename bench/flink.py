"""The data steps (Ingest, StatisticsGen, SchemaGen, Transform) on the direct
runner and on Flink (`tpctl flink up`: two TaskManagers of two slots, on this
host's 2 cores), on taxi-like CSVs 1x, 10x and 100x the embedded data, side by
side in one run: time per step, rows/s and the peak memory of each process.
First (unless --no-big), a CSV of 1 GB or more in 8 files on Flink alone, reported
as failed if it does not finish within RUN_TIMEOUT_S. From the largest completed
run's per-row cost, an estimate of the TaskManagers a billion rows a day would need.

The CSVs are generated here (bench.beam_by_size's jittered copies; not
committed). Each run is `tpctl run --until Transform` in a fresh directory, so
the steps are timed as a user sees them, start-up included.

  python -m bench.flink [--scales 1,10,100] [--big-scale 560] [--no-big]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench import report
from bench.beam_by_size import synthetic_csv
from bench.common import REPO, STEP_DONE, ours_command
from pipelines.flink import cluster as cluster_lib

EMBEDDED_ROWS = 15002
# The large run's CSV is cut into files (each with the header), as a day's data
# arrives: Ingest reads one file per task, and a single file is read by one task.
BIG_FILES = 8
# A hung step is reported, not waited for: Ingest hung here with idle CPUs until
# pipelines/flink/sdk_data_plane.py. The 1 GB run takes about a third of this.
RUN_TIMEOUT_S = 2700
STEPS = ("Ingest", "StatisticsGen", "Transform")
CONFIG = """\
run_dir: run
data:
  dir: data
tuner:
  enabled: false
"""


class PeakMemory:
  """Samples the RSS of process groups every half second: name -> peak bytes (for
  a group, the peak of its members' sum)."""

  def __init__(self, groups: dict[str, list[int]]):
    self.groups, self.peak = groups, {name: 0 for name in groups}
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True)

  def __enter__(self):
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()

  def _run(self):
    while not self._stop.wait(0.5):
      for name, roots in self.groups.items():
        total = 0
        for pid in roots:
          try:
            root = psutil.Process(pid)
            total += sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
          except psutil.Error:
            pass
        self.peak[name] = max(self.peak[name], total)


def _flink_groups(flink: cluster_lib.Cluster) -> dict[str, list[int]]:
  pids = flink.status()["pids"]
  return {"jobmanager + job server": [pids["jobmanager"], pids["job-server"]],
          **{name: [pid] for name, pid in pids.items() if name.startswith("taskmanager")},
          "worker pool + workers": [pids["worker-pool"]]}


def split_csv(data_dir: Path, parts: int) -> None:
  """data_dir/data.csv -> part-000.csv ... (rows dealt out in turn), each with the
  header; the original is removed."""
  whole = data_dir / "data.csv"
  with open(whole, newline="") as f:
    header = f.readline()
    outs = [open(data_dir / f"part-{i:03d}.csv", "w", newline="") for i in range(parts)]
    try:
      for out in outs:
        out.write(header)
      for i, line in enumerate(f):
        outs[i % parts].write(line)
    finally:
      for out in outs:
        out.close()
  whole.unlink()


def run_steps(data_dir: Path, runner: str, flink: cluster_lib.Cluster) -> dict:
  """One `tpctl run --until Transform` on `runner`: wall and step seconds, peaks."""
  work = Path(tempfile.mkdtemp(prefix=f"bench-flink-{runner}-"))
  try:
    (work / "data").symlink_to(data_dir)
    (work / "config.yaml").write_text(CONFIG)
    cmd = ours_command(work / "run", work / "config.yaml", "--until", "Transform",
                       *(["--flink"] if runner == "flink" else []))
    began = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    driver = "tpctl run" + ("" if runner == "flink" else " (with its Beam workers)")
    groups = {driver: [proc.pid], **(_flink_groups(flink) if runner == "flink" else {})}
    with PeakMemory(groups) as memory:
      try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
      except subprocess.TimeoutExpired:  # report a hung step rather than hang too
        for child in psutil.Process(proc.pid).children(recursive=True):
          child.kill()
        proc.kill()
        out, err = proc.communicate()
        raise SystemExit(f"{runner} on {data_dir} did not finish in {RUN_TIMEOUT_S} s; "
                         f"its steps so far: {STEP_DONE.findall(out)}")
    if proc.returncode != 0:
      raise SystemExit(f"{runner} on {data_dir} failed:\n{err[-3000:]}")
    mode = next((line.removeprefix("beam: ") for line in out.splitlines()
                 if line.startswith("beam: ")), "?")
    return {"wall_s": time.monotonic() - began, "peak_bytes": dict(memory.peak),
            "steps": {name: float(s) for name, s in STEP_DONE.findall(out)}, "mode": mode}
  finally:
    shutil.rmtree(work, ignore_errors=True)


def _gb(n: int) -> str:
  return f"{n / 2**30:.2f}"


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--scales", default="1,10,100")
  p.add_argument("--big-scale", type=int, default=560,
                 help="copies of the embedded data for the large Flink-only run "
                      "(560: 1.15 GB)")
  p.add_argument("--no-big", action="store_true")
  args = p.parse_args(argv)
  scales = [int(s) for s in args.scales.split(",")]
  flink = cluster_lib.default_cluster()
  was_up = flink.status()["ready"]
  flink.up()
  work = Path(tempfile.mkdtemp(prefix="bench-flink-data-"))
  results = {}
  try:
    big = None
    if not args.no_big:  # first: the longest run, and the one most likely to fail
      data = work / "big"
      size = synthetic_csv(data, args.big_scale)
      split_csv(data, BIG_FILES)
      print(f"x{args.big_scale} ({size / 1e9:.2f} GB in {BIG_FILES} files) on flink ...",
            flush=True)
      try:
        big = (args.big_scale, size, run_steps(data, "flink", flink), None)
      except SystemExit as failed:  # reported as such, with the rest measured
        print(f"  {failed}", flush=True)
        big = (args.big_scale, size, None, str(failed).splitlines()[0])
      shutil.rmtree(data, ignore_errors=True)
    for scale in scales:
      data = work / f"x{scale}"
      size = synthetic_csv(data, scale)
      for runner in ("direct", "flink"):
        print(f"x{scale} ({size / 1e6:.0f} MB) on {runner} ...", flush=True)
        r = run_steps(data, runner, flink)
        results[(scale, runner)] = r
        print(f"  {r['mode']}: {r['steps']}  peaks GB: "
              f"{ {k: _gb(v) for k, v in r['peak_bytes'].items()} }", flush=True)
      shutil.rmtree(data, ignore_errors=True)
  finally:
    shutil.rmtree(work, ignore_errors=True)
    if not was_up:
      flink.down()
  body, figures = _report(scales, results, big)
  command = "python -m bench.flink" + (f" --scales {args.scales}" if args.scales != "1,10,100"
                                       else "") + (" --no-big" if args.no_big else
                                                   f" --big-scale {args.big_scale}")
  report.write_section("flink", "The Beam steps on Flink against the direct runner",
                       command, body, figures)
  print(body)


def _report(scales, results, big) -> tuple[str, dict]:
  lines = ["Wall seconds per step of `tpctl run --until Transform` (start-up and job "
           "submission included), rows per second over Ingest + StatisticsGen + "
           "Transform, and peak resident memory per process (GB). Flink: one JobManager, "
           "two TaskManagers of two slots, parallelism 2, the Beam job server and the "
           "worker pool, all on this host's 2 cores.", "",
           "| data | runner | Ingest s | StatisticsGen s | Transform s | rows/s | peak memory GB |",
           "|---|---|---|---|---|---|---|"]
  for scale in scales:
    for runner in ("direct", "flink"):
      r = results[(scale, runner)]
      steps = r["steps"]
      total = sum(steps.get(s, 0) for s in STEPS)
      rows = EMBEDDED_ROWS * scale
      peaks = ", ".join(f"{name} {_gb(v)}" for name, v in r["peak_bytes"].items())
      lines.append(f"| {scale}x ({rows:,} rows) | {runner} | "
                   + " | ".join(f"{steps.get(s, 0):.0f}" for s in STEPS)
                   + f" | {rows / total:,.0f} | {peaks} |")
  one = {runner: sum(results[(scales[0], runner)]["steps"].get(s, 0) for s in STEPS)
         for runner in ("direct", "flink")}
  overhead = one["flink"] - one["direct"]
  modes = sorted({results[(scale, "direct")]["mode"] for scale in scales})
  lines += ["", "- The direct runner ran as `tpctl run` chose: " + "; ".join(modes) + "."]
  lines += [f"- **Flink's fixed overhead** on the {scales[0]}x data: {overhead:.0f} s "
            f"over the three steps ({one['flink']:.0f} s against {one['direct']:.0f} s on "
            f"the direct runner): job submission, stage scheduling and Python workers "
            f"forked per task."]
  figures = {"overhead_s": f"{overhead:.0f}"}
  top = scales[-1]
  flink_top = sum(results[(top, "flink")]["steps"].get(s, 0) for s in STEPS)
  direct_top = sum(results[(top, "direct")]["steps"].get(s, 0) for s in STEPS)
  per_row = flink_top * 2 / (EMBEDDED_ROWS * top)  # core-seconds per row, 2 cores
  figures.update(flink_vs_direct_top=f"{flink_top / direct_top:.1f}")
  lines.append(f"- At {top}x, Flink took {flink_top / direct_top:.1f}x the direct runner's "
               f"time on these 2 cores. The point is scale-out, not speed on one host.")
  if big and big[2] is None:
    scale, size, _, failure = big
    lines.append(f"- **{size / 1e9:.2f} GB of CSV ({EMBEDDED_ROWS * scale:,} rows, "
                 f"{BIG_FILES} files) on Flink did not complete**: {failure}")
    big = None
  if big:
    scale, size, r, _ = big
    steps = r["steps"]
    total = sum(steps.get(s, 0) for s in STEPS)
    rows = EMBEDDED_ROWS * scale
    per_row = total * 2 / rows
    tm_peaks = [v for k, v in r["peak_bytes"].items() if k.startswith("taskmanager")]
    lines.append(f"- **{size / 1e9:.2f} GB of CSV ({rows:,} rows, {BIG_FILES} files) on "
                 f"Flink, to completion**: "
                 + ", ".join(f"{s} {steps.get(s, 0):.0f} s" for s in STEPS)
                 + "; peak memory: "
                 + ", ".join(f"{k} {_gb(v)}" for k, v in r["peak_bytes"].items()) + ".")
    figures.update(big_gb=f"{size / 1e9:.2f}", big_rows=f"{rows:,}",
                   big_tm_peak_gb=_gb(max(tm_peaks)) if tm_peaks else "0")
  # Bounded on Flink: a TaskManager's peak against the driver's on the direct runner.
  def peak(r, prefix):
    return max((v for k, v in r["peak_bytes"].items() if k.startswith(prefix)), default=0)
  runs = [(f"{scale}x", results[(scale, "flink")], results[(scale, "direct")])
          for scale in scales] + ([(f"{big[0]}x", big[2], None)] if big else [])
  lines.append("- **Peak memory as the data grows**, a TaskManager on Flink against "
               "`tpctl run` with its workers on the direct runner: "
               + "; ".join(f"{name} {_gb(peak(f, 'taskmanager'))} against "
                           + (_gb(peak(d, 'tpctl run')) if d else "(not run)")
                           for name, f, d in runs) + " GB.")
  largest = runs[-1][1]
  control = largest["peak_bytes"].get("jobmanager + job server", 0)
  rows_per_day = 1e9
  need_core_s = rows_per_day * per_row
  tms_day = need_core_s / 86400
  tms_hour = need_core_s / 3600
  figures.update(core_us_per_row=f"{per_row * 1e6:.0f}", tms_1h=f"{tms_hour:.0f}")
  lines.append(
      f"- **A billion rows a day**: the largest Flink run cost {per_row * 1e6:.0f} "
      f"core-microseconds per row over the three steps (counting both cores as busy "
      f"throughout). "
      f"A billion rows is then {need_core_s / 3600:,.0f} core-hours: {tms_day:.1f} "
      f"one-core TaskManagers if the steps may take the whole day, {tms_hour:.0f} to "
      f"finish within an hour. This assumes the cost per row stays flat (the steps "
      f"here are CPU-bound; with more TaskManagers the shuffles cross a network that "
      f"this host did not have), that the input is split into files that can be read "
      f"in parallel, and that the JobManager and job server ({_gb(control)} GB together "
      f"at the largest run here) do not grow with the data.")
  return "\n".join(lines), figures


if __name__ == "__main__":
  main()
