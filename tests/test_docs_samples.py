"""Every console sample the docs show is what the product prints now: the samples
are docs/samples/*.txt, written by `python -m pipelines.docs.samples` from the
real CLI; the cheap ones are re-run here and must match byte for byte."""
from __future__ import annotations

import re

import pytest

from components.config import load_config
from pipelines.docs import samples

REPO = samples.REPO


def test_every_cheap_sample_matches_what_tpctl_prints_now():
  stale = samples.stale([s for s in samples.SAMPLES if s.cheap])
  assert not stale, ("samples differ from what tpctl prints now (rerun python -m "
                     f"pipelines.docs.samples {' '.join(stale)}): {stale}")


def test_every_stored_sample_comes_from_a_command():
  stored = {p.stem for p in samples.SAMPLES_DIR.glob("*.txt")}
  known = {s.name for s in samples.SAMPLES}
  assert stored - known == set(), "docs/samples/ holds files no command writes"
  assert known - stored == set(), "run python -m pipelines.docs.samples --all"
  for sample in samples.SAMPLES:
    assert samples.path(sample).read_text().startswith(samples.command(sample) + "\n")


@pytest.mark.parametrize("sample", [s for s in samples.SAMPLES if not s.cheap],
                         ids=lambda s: s.name)
def test_a_run_sample_shows_every_step_the_pipeline_has_now(sample):
  """A run's sample is not re-run (minutes; its timings and metrics vary), but its
  progress lines must name the steps a run has now, counted right."""
  from pipelines.pipeline import create_pipeline  # TFX: imported only here
  args = list(sample.args)
  config = load_config(REPO / args[args.index("--config") + 1] if "--config" in args else None)
  steps = [c.id for c in create_pipeline(config, data_dir="/data", pipeline_root="/root",
                                         serving_dir="/serving", checkpoint_root="/ckpt").components]
  lines = samples.STEP_LINE.findall(samples.path(sample).read_text())
  assert lines, f"{sample.name}: no progress lines"
  assert {int(total) for _, total, _ in lines} == {len(steps)}, f"{sample.name}: not {len(steps)} steps"
  counts = [int(n) for n, _, _ in lines]
  assert counts == sorted(counts), f"{sample.name}: steps counted out of order"
  assert {name for _, _, name in lines} == set(steps), f"{sample.name}: steps differ from {steps}"


def test_pages_include_only_samples_that_exist():
  included = set()
  for page in [REPO / "README.md", *(REPO / "docs").rglob("*.md")]:
    included |= set(re.findall(r'--8<-- "([^"]+)"', page.read_text()))
  missing = sorted(p for p in included if not (REPO / p).is_file())
  assert not missing, f"pages include samples that do not exist: {missing}"


def test_check_mode_names_a_stale_sample(tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(samples, "SAMPLES_DIR", tmp_path)
  (tmp_path / "tpctl-help.txt").write_text("$ tpctl --help\nusage: an old one\n")
  assert samples.main(["--check", "tpctl-help"]) == 1
  assert "stale: docs/samples/tpctl-help.txt" in capsys.readouterr().out
  assert samples.main(["tpctl-help"]) == 0
  assert samples.main(["--check", "tpctl-help"]) == 0
