"""Every config snippet the README and the docs show is one the loader accepts: a
```yaml block whose top-level keys are config sections is loaded as a config
file (a user copies them), so a renamed key or a missing companion setting fails
here rather than in a user's first run."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from components.config import PipelineConfig, load_config

REPO = Path(__file__).resolve().parent.parent
_YAML_BLOCK = re.compile(r"^```ya?ml[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _config_blocks():
  for page in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
    for n, block in enumerate(_YAML_BLOCK.findall(page.read_text()), 1):
      data = yaml.safe_load(block)
      # Kubernetes manifests and other YAML are not configs.
      if isinstance(data, dict) and set(data) <= set(PipelineConfig.model_fields):
        yield pytest.param(block, id=f"{page.relative_to(REPO)}#{n}")


@pytest.mark.parametrize("block", _config_blocks())
def test_a_config_snippet_loads(block, tmp_path):
  config = tmp_path / "config.yaml"
  config.write_text(block)
  load_config(config)  # raises ConfigError, naming the key, when it would not
