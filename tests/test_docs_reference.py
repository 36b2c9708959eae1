"""The reference pages of the docs site are generated from the code (MkDocs hook
pipelines/docs/hooks.py), so that no command, flag or config key goes
undocumented: every tpctl command and flag, found by walking the parser tpctl
runs, appears in the CLI reference; the config reference is the one that
tests/test_config.py checks key by key against the schema."""
from __future__ import annotations

import argparse
import subprocess
import sys

from components.config import reference
from pipelines.cli import parser as cli_parser
from pipelines.docs import cli_reference, hooks


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
  """(command path, action) for every action of every (sub)command."""
  for action in parser._actions:
    yield path, action
    if isinstance(action, argparse._SubParsersAction):
      for name, sub in action.choices.items():
        yield from _walk(sub, (*path, name))


def test_every_command_and_flag_is_in_the_cli_reference():
  text = cli_reference.markdown()
  walked = list(_walk(cli_parser.build()))
  commands = {path for path, _ in walked if path}
  assert len(commands) >= 10  # the walk reached the subcommands
  for path in commands:
    assert f"\n## tpctl {' '.join(path)}\n" in text or f"\n### tpctl {' '.join(path)}\n" in text, path
  missing = []
  for path, action in walked:
    if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
      continue  # internal flags, hidden from --help too; commands are checked above
    section = text.split(f"tpctl {' '.join(path)}\n", 1)[-1].split("\n## ", 1)[0] if path else text
    for flag in action.option_strings or [action.dest]:
      if isinstance(action, argparse._HelpAction):
        continue
      if f"`{flag}`" not in section:
        missing.append(f"tpctl {' '.join(path)} {flag}")
  assert not missing, f"flags missing from the CLI reference: {missing}"


def test_the_cli_reference_gives_each_flag_its_help_choices_and_default():
  text = cli_reference.markdown()
  flink = text.split("\n## tpctl flink\n", 1)[1]
  assert "| `--taskmanagers` | `N` | `2` | TaskManagers to start" in flink
  assert "One of: `up`, `down`, `status`." in flink
  run = text.split("\n## tpctl run\n", 1)[1].split("\n## ", 1)[0]
  assert "`--beam-mode`" in run and "One of: `auto`, `in_process`, `multi_processing`." in run
  assert "%(default)" not in text  # help strings are expanded as --help expands them


def test_the_site_publishes_the_generated_references_and_benchmarks():
  pages = hooks.generated_pages()
  assert pages["reference/cli.md"] == cli_reference.markdown()
  # tests/test_config.py checks that this text documents every key.
  assert pages["reference/config.md"] == reference.markdown()
  assert pages["benchmarks.md"] == (hooks._REPO / "BENCHMARKS.md").read_text()


def test_python_m_prints_the_cli_reference():
  printed = subprocess.run([sys.executable, "-m", "pipelines.docs.cli_reference"],
                           cwd=hooks._REPO, capture_output=True, text=True, check=True).stdout
  assert printed == cli_reference.markdown()
