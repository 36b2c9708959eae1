"""Writes one benchmark's section of BENCHMARKS.md, leaving the others alone."""
from __future__ import annotations

import os
import platform
import re
import time
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = ("# Benchmarks\n\nEach section is written by the command it names (run from the "
          "repository root in the project venv, or all at once with `make bench`). Figures "
          "are medians and ratios measured in one run on the machine named in the section; "
          "this machine is noisy, so compare ratios, not absolute seconds.\n")


def _machine() -> str:
  return (f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
          f"{os.cpu_count()} cores, no GPU")


def write_section(key: str, title: str, command: str, body: str) -> None:
  text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else HEADER
  section = (f"<!-- bench:{key} -->\n## {title}\n\nCommand: `{command}`  \n"
             f"Measured: {time.strftime('%Y-%m-%d')} on {_machine()}.\n\n{body}\n"
             f"<!-- /bench:{key} -->\n")
  pattern = re.compile(rf"<!-- bench:{key} -->.*?<!-- /bench:{key} -->\n", re.S)
  text = pattern.sub(lambda _: section, text) if pattern.search(text) else text + "\n" + section
  tmp = BENCHMARKS_MD.with_suffix(".tmp")
  tmp.write_text(text)
  tmp.replace(BENCHMARKS_MD)
