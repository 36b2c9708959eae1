"""`tpctl demo-retrain`: periodic retraining on monthly spans of the embedded data.

The taxi trips (2013-01 ... 2016-12) are cut into one span per month. Each cycle
reveals the next months in a landing directory, as a nightly export would, and
runs `retrain`: the newest spans as a rolling window, a warm start from the
production model, the drift gate, and a push only when the candidate beats
production. The cycles end with a table, and with one more `retrain` that finds
nothing new.
"""
from __future__ import annotations

import csv
import datetime
import os
import shutil
from pathlib import Path
from typing import Callable, Optional

from components.config import PipelineConfig, load_config
from components.csv_ingest import embedded_data
from components.registry import store
from pipelines import retraining

# Small enough for a laptop: no search (each cycle's data is new, so a search
# would rerun every cycle), a short cold start, then warm starts that fine-tune
# at a third of the learning rate.
DEMO_SETTINGS = {
    "run_dir": "runs/demo-retrain",
    "data.spans": {"newest": 12},
    "tuner.enabled": False,
    "trainer.train_steps": 100,
    "trainer.num_checkpoints": 2,
    "retrain.warm_start_steps": 200,
    "retrain.warm_start_learning_rate": 0.001,
    # A monthly span fixes the month: that column differs from a year's by design.
    "retrain.drift_exempt": ["trip_start_month"],
}


def demo_config(config_path: Optional[str], run_dir: Optional[str]) -> PipelineConfig:
  """The user's config (or the defaults) with the demo's settings, data in the run dir."""
  overrides = dict(DEMO_SETTINGS)
  if config_path:  # the user's file decides everything but where the data is
    overrides = {}
  if run_dir:
    overrides["run_dir"] = os.path.abspath(run_dir)
  config = load_config(config_path, overrides)
  landing = str(config.run_path / "data" / "landing")
  return load_config(config_path, {**overrides, "data.dir": landing})


def monthly_spans(dest: Path) -> list[str]:
  """Writes <dest>/<YYYY-MM>/data.csv, one per month of the embedded data (once)."""
  if (dest / "done").exists():
    return sorted(p.name for p in dest.iterdir() if p.is_dir())
  source = Path(embedded_data.materialize(dest.parent / "embedded")) / "data.csv"
  with open(source, newline="") as f:
    reader = csv.DictReader(f)
    header, by_month = reader.fieldnames, {}
    for row in reader:
      when = datetime.datetime.fromtimestamp(int(row["trip_start_timestamp"]),
                                             datetime.timezone.utc)
      by_month.setdefault(when.strftime("%Y-%m"), []).append(row)
  for month, rows in by_month.items():
    (dest / month).mkdir(parents=True, exist_ok=True)
    with open(dest / month / "data.csv", "w", newline="") as out:
      writer = csv.DictWriter(out, fieldnames=header)
      writer.writeheader()
      writer.writerows(rows)
  (dest / "done").touch()
  return sorted(by_month)


def reveal(months: list[str], source: Path, landing: Path) -> None:
  """Copies spans into the landing directory under a temporary name, then renames:
  a run never sees half a span."""
  landing.mkdir(parents=True, exist_ok=True)
  for month in months:
    if not (landing / month).exists():
      shutil.copytree(source / month, landing / f".{month}.incoming")
      os.replace(landing / f".{month}.incoming", landing / month)


def _row(cycle: int, summary, metric: str) -> list[str]:
  shown = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
  spans = summary.spans
  production = (f"v{summary.production_version} {shown(summary.production_metric)}"
                if summary.production_version else "none")
  pushed = f"yes, v{summary.pushed_version}" if summary.pushed_to else "no"
  return [str(cycle), f"{spans[0]}..{spans[-1]} ({len(spans)})" if spans else "-",
          summary.started_from or "-", shown(summary.candidate_metric), production, pushed]


def table(rows: list[list[str]], metric: str) -> list[str]:
  header = ["cycle", "spans used", "started from", f"candidate {metric}",
            f"production {metric}", "pushed"]
  widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
  return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]


def main(config_path: Optional[str], run_dir: Optional[str], cycles: int,
         months_per_cycle: int, say: Callable[[str], None] = print) -> list[list[str]]:
  from components.blessing import policy  # TFX: after the pre-flight
  config = demo_config(config_path, run_dir)
  source = config.run_path / "data" / "monthly"
  months = monthly_spans(source)
  window = config.data.spans.newest or months_per_cycle
  metric = policy.metric_key(config)
  rows, end = [], 0
  for cycle in range(1, cycles + 1):
    end, previous = min(len(months), window + (cycle - 1) * months_per_cycle), end
    if end == previous:
      break  # every month has arrived
    shown = months[:end]
    reveal(shown, source, Path(config.data.dir))
    say(f"\n== cycle {cycle}: spans up to {shown[-1]} have arrived ==")
    summary = retraining.retrain(config, say)
    if summary is not None:
      rows.append(_row(cycle, summary, metric))
  say("\n== one more retrain, with no new span ==")
  retraining.retrain(config, say)
  say("\n== retraining cycles ==")
  for line in table(rows, metric):
    say(line)
  say("\n== the model registry (tpctl models) ==")
  for line in store.Registry(config.serving_path).table():
    say(line)
  return rows
