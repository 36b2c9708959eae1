"""MkDocs hooks (mkdocs.yml `hooks:`): puts the pages generated from the code into
every build, so they are never written by hand and never committed stale. Nothing
is written into docs/: the pages exist only in the build.

- reference/cli.md: every tpctl command and flag, from the argparse parser;
- reference/config.md: every config key, from the pydantic schema;
- benchmarks.md: BENCHMARKS.md, the file the benchmarks write, with the figures it
  draws (bench/figures/, linked from the repository root, so published at the
  same path in the site)."""
from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

from components.config import reference
from pipelines.docs import cli_reference

_REPO = Path(__file__).resolve().parents[2]


def generated_pages() -> dict[str, str]:
  """Each generated page's path under docs/ and its Markdown."""
  return {"reference/cli.md": cli_reference.markdown(),
          "reference/config.md": reference.markdown(),
          "benchmarks.md": (_REPO / "BENCHMARKS.md").read_text()}


def on_files(files: Files, config) -> Files:
  for src_uri, content in generated_pages().items():
    if files.get_file_from_path(src_uri) is not None:
      raise ValueError(f"docs/{src_uri} is generated at build time: delete the committed copy")
    files.append(File.generated(config, src_uri, content=content))
  for figure in sorted((_REPO / "bench" / "figures").glob("*.png")):
    files.append(File.generated(config, f"bench/figures/{figure.name}",
                                abs_src_path=str(figure)))
  return files
