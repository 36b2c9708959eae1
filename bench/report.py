"""Writes one benchmark's section of BENCHMARKS.md, leaving the others alone, and
copies the figures the README and the docs pages quote from BENCHMARKS.md into
them.

A section may carry named figures (an HTML comment `<!-- figures {...} -->`); the
README or a page under docs/ quotes one as `<!-- fig:SECTION.NAME -->value<!-- /fig -->`.
Their numbers are never typed in: `sync_quotes()` fills them, and
tests/test_readme_figures.py fails when a page and BENCHMARKS.md disagree."""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
README_MD = BENCHMARKS_MD.parent / "README.md"
DOCS_DIR = BENCHMARKS_MD.parent / "docs"
_SECTION = re.compile(r"<!-- bench:(\S+) -->(.*?)<!-- /bench:\1 -->", re.S)
_FIGURES = re.compile(r"<!-- figures (\{.*?\}) -->")
# What the README shows for a figure no benchmark has written yet.
NOT_MEASURED = "(not measured yet)"
_QUOTED = re.compile(r"<!-- fig:(\S+?) -->(.*?)<!-- /fig -->", re.S)
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


def write_section(key: str, title: str, command: str, body: str,
                  figures: dict[str, str] | None = None) -> None:
  text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else HEADER
  tagged = f"\n<!-- figures {json.dumps(figures, sort_keys=True)} -->" if figures else ""
  section = (f"<!-- bench:{key} -->\n## {title}\n\nCommand: `{command}`  \n"
             f"Measured: {time.strftime('%Y-%m-%d')} at commit {_commit()}, on {_machine()}."
             f"\n\n{body}{tagged}\n"
             f"<!-- /bench:{key} -->\n")
  pattern = re.compile(rf"<!-- bench:{key} -->.*?<!-- /bench:{key} -->\n", re.S)
  text = pattern.sub(lambda _: section, text) if pattern.search(text) else text + "\n" + section
  _replace(BENCHMARKS_MD, text)
  sync_quotes()


def figures(benchmarks: str) -> dict[str, str]:
  """'section.name' -> value, for every figure BENCHMARKS.md carries."""
  out = {}
  for key, section in _SECTION.findall(benchmarks):  # a section's own figures only
    for blob in _FIGURES.findall(section):
      out.update({f"{key}.{name}": value for name, value in json.loads(blob).items()})
  return out


def quoted(page: str) -> dict[str, str]:
  """'section.name' -> value, for every figure a page (the README, a docs page) quotes."""
  return {name: value for name, value in _QUOTED.findall(page)}


def quoting_pages() -> list[Path]:
  """The pages that may quote figures: the README and every Markdown page of docs/."""
  return [README_MD, *sorted(DOCS_DIR.rglob("*.md"))]


def sync_quotes() -> None:
  """Copies every quoted figure from BENCHMARKS.md into the README and the docs."""
  known = figures(BENCHMARKS_MD.read_text())

  def fill(match):
    name = match.group(1)
    return f"<!-- fig:{name} -->{known.get(name, match.group(2))}<!-- /fig -->"
  for page in quoting_pages():
    text = page.read_text()
    if _QUOTED.search(text):
      filled = _QUOTED.sub(fill, text)
      if filled != text:
        _replace(page, filled)


def _replace(path: Path, text: str) -> None:
  tmp = path.with_suffix(".tmp")
  tmp.write_text(text)
  tmp.replace(path)
