"""The README's numbers are copied from BENCHMARKS.md (bench/report.py), never typed
in: every figure it quotes exists there, with the same value."""
from __future__ import annotations

from bench import report


def test_every_figure_the_readme_quotes_is_the_one_benchmarks_md_measured():
  measured = report.figures(report.BENCHMARKS_MD.read_text())
  quoted = report.quoted(report.README_MD.read_text())
  assert quoted, "the README quotes no figure at all"
  # A figure whose benchmark has never run says so; any other value must come
  # from BENCHMARKS.md.
  unknown = sorted(k for k, v in quoted.items() if k not in measured and v != report.NOT_MEASURED)
  assert not unknown, f"README quotes figures no benchmark wrote: {unknown}"
  stale = {k: (v, measured[k]) for k, v in quoted.items() if k in measured and v != measured[k]}
  assert not stale, f"README differs from BENCHMARKS.md (README, BENCHMARKS): {stale}"


def test_every_benchmark_section_names_its_command_commit_and_machine():
  text = report.BENCHMARKS_MD.read_text()
  sections = text.split("<!-- bench:")[1:]
  assert sections
  for section in sections:
    assert "Command: `" in section and "Measured: " in section, section[:80]
    assert " at commit " in section and " cores, " in section, section[:200]
