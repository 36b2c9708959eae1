"""The trials table (trials.csv) and plot (trials.png) of a search."""
from __future__ import annotations

import csv
import datetime
import io
import json

import matplotlib

matplotlib.use("Agg")  # no display in pipelines or CI
import matplotlib.pyplot as plt  # noqa: E402

COLUMNS = ["trial", "values", "objective", "status", "steps", "seconds", "worker", "started",
           "ended"]


def rows(trials: list, results: dict[str, dict]) -> list[dict]:
  """One row per trial of the oracle, in creation order; results: what each
  finished trial recorded (steps, seconds)."""
  out = []
  for trial in sorted(trials, key=lambda t: int(t.trial_id) if t.trial_id.isdigit()
                      else t.trial_id):
    done = results.get(trial.trial_id, {})
    values = {k: v for k, v in trial.hyperparameters.values.items()
              if not k.startswith("tuner/")}
    out.append({"trial": trial.trial_id, "values": json.dumps(values, sort_keys=True),
                "objective": trial.score if trial.score is not None else "",
                "status": trial.status, "steps": done.get("steps", ""),
                "seconds": round(done["seconds"], 1) if "seconds" in done else "",
                "worker": done.get("worker", ""),
                "started": _iso(done.get("started")), "ended": _iso(done.get("ended"))})
  return out


def _iso(epoch) -> str:
  if epoch is None:
    return ""
  return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(
      timespec="milliseconds")


def to_csv(table: list[dict]) -> str:
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, COLUMNS)
  writer.writeheader()
  writer.writerows(table)
  return buffer.getvalue()


def to_png(table: list[dict], metric: str, direction: str) -> bytes:
  """Objective per trial, and the best so far."""
  scored = [(i + 1, float(r["objective"])) for i, r in enumerate(table) if r["objective"] != ""]
  fig, ax = plt.subplots(figsize=(6, 3.5))
  if scored:
    xs, ys = zip(*scored)
    pick = min if direction == "min" else max
    best = [pick(ys[:i + 1]) for i in range(len(ys))]
    ax.plot(xs, ys, "o", label="trial")
    ax.step(xs, best, where="post", label="best so far")
    ax.legend()
  ax.set_xlabel("trial (in order of creation)")
  ax.set_ylabel(f"eval {metric}")
  ax.set_title("Hyperparameter search")
  fig.tight_layout()
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=100)
  plt.close(fig)
  return buffer.getvalue()
