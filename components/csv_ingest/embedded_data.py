"""The embedded default data: Chicago taxi trips that ship inside the tfx wheel.

The task is "big tipper": did the tip exceed 20% of the fare? We derive that
label once and drop `tips` (it would leak the answer), so that the pipeline sees
an ordinary CSV with a label column, exactly like a user's own data.
"""
from __future__ import annotations

import csv
import importlib.util
import os
from pathlib import Path
from typing import Optional

# Located without importing tfx (which would load TensorFlow).
TAXI_CSV = (Path(importlib.util.find_spec("tfx").origin).parent / "examples"
            / "chicago_taxi_pipeline" / "data" / "simple" / "data.csv")
LABEL = "big_tipper"


def _big_tipper(row: dict) -> str:
  try:
    return "1" if float(row["tips"]) > 0.2 * float(row["fare"]) else "0"
  except ValueError:  # blank fare or tips: not a big tipper, as in TFX's example
    return "0"


def materialize(dest_dir: str | os.PathLike, max_rows: Optional[int] = None) -> str:
  """Writes <dest_dir>/data.csv (atomically) unless it is already there."""
  dest = Path(dest_dir)
  target = dest / "data.csv"
  if target.exists():
    return str(dest)
  dest.mkdir(parents=True, exist_ok=True)
  tmp = dest / ".data.csv.tmp"
  with open(TAXI_CSV, newline="") as src, open(tmp, "w", newline="") as out:
    reader = csv.DictReader(src)
    fields = [f for f in reader.fieldnames if f != "tips"] + [LABEL]
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    for i, row in enumerate(reader):
      if max_rows is not None and i >= max_rows:
        break
      row[LABEL] = _big_tipper(row)
      del row["tips"]
      writer.writerow(row)
  os.replace(tmp, target)
  return str(dest)
