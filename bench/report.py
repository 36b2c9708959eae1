"""Writes one benchmark's section of BENCHMARKS.md, leaving the others alone."""
from __future__ import annotations

import os
import platform
import re
import subprocess
import time
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = ("# Benchmarks\n\nEach section is written by the command it names (run from the "
          "repository root in the project venv, or all at once with `make bench`). Figures "
          "are medians and ratios measured in one run on the machine named in the section; "
          "this machine is noisy, so compare ratios, not absolute seconds.\n")


def _gpus() -> str:
  """Looked up, not assumed: NVIDIA GPUs that nvidia-smi lists."""
  try:
    proc = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
  except (OSError, subprocess.TimeoutExpired):
    return "no GPU (no nvidia-smi)"
  n = sum(1 for line in proc.stdout.splitlines() if line.startswith("GPU "))
  return f"{n} GPU(s)" if proc.returncode == 0 and n else "no GPU (nvidia-smi lists none)"


def _commit() -> str:
  def git(*args):
    return subprocess.run(["git", *args], cwd=BENCHMARKS_MD.parent, capture_output=True,
                          text=True).stdout.strip()
  head = git("rev-parse", "--short", "HEAD") or "unknown"
  return head + (" with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no", "--", "*.py") else "")


def _machine() -> str:
  return (f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
          f"{os.cpu_count()} cores, {_gpus()}")


def write_section(key: str, title: str, command: str, body: str) -> None:
  text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else HEADER
  section = (f"<!-- bench:{key} -->\n## {title}\n\nCommand: `{command}`  \n"
             f"Measured: {time.strftime('%Y-%m-%d')} at commit {_commit()}, on {_machine()}."
             f"\n\n{body}\n"
             f"<!-- /bench:{key} -->\n")
  pattern = re.compile(rf"<!-- bench:{key} -->.*?<!-- /bench:{key} -->\n", re.S)
  text = pattern.sub(lambda _: section, text) if pattern.search(text) else text + "\n" + section
  tmp = BENCHMARKS_MD.with_suffix(".tmp")
  tmp.write_text(text)
  tmp.replace(BENCHMARKS_MD)
