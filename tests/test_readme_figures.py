"""The numbers of the README and of the docs pages are copied from BENCHMARKS.md
(bench/report.py), never typed in: every figure a page quotes exists there, with
the same value."""
from __future__ import annotations

import pytest

from bench import report


def test_the_pages_quote_figures():
  assert any(report.quoted(p.read_text()) for p in report.quoting_pages()), \
      "neither the README nor a docs page quotes a figure"


@pytest.mark.parametrize("page", report.quoting_pages(),
                         ids=lambda p: str(p.relative_to(report.BENCHMARKS_MD.parent)))
def test_every_figure_a_page_quotes_is_the_one_benchmarks_md_measured(page):
  measured = report.figures(report.BENCHMARKS_MD.read_text())
  quoted = report.quoted(page.read_text())
  # A figure whose benchmark has never run says so; any other value must come
  # from BENCHMARKS.md.
  unknown = sorted(k for k, v in quoted.items() if k not in measured and v != report.NOT_MEASURED)
  assert not unknown, f"{page.name} quotes figures no benchmark wrote: {unknown}"
  stale = {k: (v, measured[k]) for k, v in quoted.items() if k in measured and v != measured[k]}
  assert not stale, f"{page.name} differs from BENCHMARKS.md (page, BENCHMARKS): {stale}"


def test_sync_fills_a_docs_page_from_benchmarks_md(tmp_path, monkeypatch):
  (tmp_path / "docs" / "patterns").mkdir(parents=True)
  (tmp_path / "BENCHMARKS.md").write_text(
      '<!-- bench:tuning -->\n## Tuning\n<!-- figures {"ratio": "1.47"} -->\n<!-- /bench:tuning -->\n')
  (tmp_path / "README.md").write_text("no figures\n")
  page = tmp_path / "docs" / "patterns" / "tuning.md"
  page.write_text("ran <!-- fig:tuning.ratio -->9.99<!-- /fig -->x\n")
  monkeypatch.setattr(report, "BENCHMARKS_MD", tmp_path / "BENCHMARKS.md")
  monkeypatch.setattr(report, "README_MD", tmp_path / "README.md")
  monkeypatch.setattr(report, "DOCS_DIR", tmp_path / "docs")
  report.sync_quotes()
  assert page.read_text() == "ran <!-- fig:tuning.ratio -->1.47<!-- /fig -->x\n"
  assert (tmp_path / "README.md").read_text() == "no figures\n"


def test_every_benchmark_section_names_its_command_commit_and_machine():
  text = report.BENCHMARKS_MD.read_text()
  sections = text.split("<!-- bench:")[1:]
  assert sections
  for section in sections:
    assert "Command: `" in section and "Measured: " in section, section[:80]
    assert " at commit " in section and " cores, " in section, section[:200]
