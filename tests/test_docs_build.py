"""The docs site builds with `mkdocs build --strict` (mkdocs.yml): a broken internal
link or anchor, a page missing from the nav or a nav entry without a page, a
missing sample file or a committed copy of a generated page fails the suite."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def build_site(dest: Path) -> subprocess.CompletedProcess:
  """`mkdocs build --strict` of the repository's docs into `dest`."""
  env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner about its successor
  return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                         str(REPO / "mkdocs.yml"), "-d", str(dest)],
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
                        check=False)


def test_the_site_builds_strict(tmp_path):
  proc = build_site(tmp_path / "site")
  assert proc.returncode == 0, proc.stderr[-3000:]
  site = tmp_path / "site"
  for page in ("index.html", "reference/cli/index.html", "reference/config/index.html",
               "benchmarks/index.html", "patterns/checkpoints/index.html"):
    assert (site / page).is_file(), page
  cli = (site / "reference/cli/index.html").read_text()
  assert "tpctl run" in cli and "--resume-from" in cli
  assert "trainer.train_steps" in (site / "reference/config/index.html").read_text()
  assert not (site / "samples").exists()  # included into pages, not published


def test_no_generated_page_is_committed_under_docs():
  from pipelines.docs import hooks
  committed = [p for p in hooks.generated_pages() if (REPO / "docs" / p).exists()]
  assert not committed, f"generated at build time, delete: {committed}"
