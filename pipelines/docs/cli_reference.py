"""The `tpctl` reference, generated from the argparse parser that `tpctl` itself
runs, so that every command and flag is documented with the help, choices and
default the CLI has (a hand-written reference drifts: it once said DirectRunner
after the runner had changed). Flags whose help is suppressed are internal and
left out, as `tpctl COMMAND --help` leaves them out.

`python -m pipelines.docs.cli_reference` prints it as Markdown; the docs build
takes it from `markdown()` (pipelines/docs/hooks.py)."""
from __future__ import annotations

import argparse
from collections.abc import Iterator

from pipelines.cli import parser as cli_parser


def markdown(parser: argparse.ArgumentParser | None = None) -> str:
  """The whole reference: the top-level usage, then a section per command."""
  parser = parser or cli_parser.build()
  intro = (f"{parser.description} Generated from the argparse parser by "
           "`python -m pipelines.docs.cli_reference`; `tpctl COMMAND --help` prints the "
           "same help.")
  parts = ["# Command-line reference", "", intro, "", "```text", _usage(parser), "```", "",
           "| Command | What it does |", "| --- | --- |"]
  commands = list(_commands(parser))
  parts += [f"| [`{name}`](#{_anchor(name)}) | {_cell(help_)} |"
            for name, help_, _ in commands]
  if parser.epilog:
    parts += ["", " ".join(parser.epilog.split())]
  for name, help_, sub in commands:
    parts += ["", f"## tpctl {name}", "", _cell(sub.description or help_), "", "```text",
              _usage(sub), "```", ""]
    parts += _arguments(sub)
    for child, child_help, grandchild in _commands(sub):
      parts += ["", f"### tpctl {name} {child}", "", _cell(grandchild.description or child_help),
                "", "```text", _usage(grandchild), "```", ""]
      parts += _arguments(grandchild)
  return "\n".join(parts) + "\n"


def _commands(parser: argparse.ArgumentParser
              ) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
  """(name, help, parser) of each subcommand, in the order `--help` lists them."""
  for action in parser._actions:
    if isinstance(action, argparse._SubParsersAction):
      helps = {a.dest: a.help or "" for a in action._choices_actions}
      for name, sub in action.choices.items():
        yield name, helps.get(name, ""), sub


def _arguments(parser: argparse.ArgumentParser) -> list[str]:
  rows = []
  formatter = parser._get_formatter()
  for action in parser._actions:
    if action.help == argparse.SUPPRESS or isinstance(
        action, (argparse._HelpAction, argparse._SubParsersAction)):
      continue
    name = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.dest}`"
    value = "" if action.nargs == 0 else f"`{_metavar(action)}`"
    help_ = formatter._expand_help(action) if action.help else ""
    if action.choices is not None:
      help_ = _sentence(help_) + "One of: " + ", ".join(f"`{c}`" for c in action.choices) + "."
    if action.required and action.option_strings:
      help_ = _sentence(help_) + "Required."
    rows.append(f"| {name} | {value} | {_default(action)} | {_cell(help_)} |")
  if not rows:
    return ["No options beyond `-h`, `--help`."]
  return ["| Argument | Value | Default | Description |", "| --- | --- | --- | --- |", *rows]


def _metavar(action: argparse.Action) -> str:
  if action.metavar is not None:
    return action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
  if action.choices is not None:
    return "{" + ",".join(map(str, action.choices)) + "}"
  return action.dest.upper() if action.option_strings else action.dest


def _default(action: argparse.Action) -> str:
  if action.nargs == 0 or action.default in (None, argparse.SUPPRESS) or action.required:
    return ""
  return f"`{action.default}`"


def _usage(parser: argparse.ArgumentParser) -> str:
  return " ".join(parser.format_usage().split())


def _sentence(text: str) -> str:
  """`text` ended as a sentence, ready for another to follow."""
  text = text.strip()
  return text + ("" if not text or text.endswith(".") else ".") + (" " if text else "")


def _anchor(name: str) -> str:
  return "tpctl-" + name


def _cell(text: str) -> str:
  """One table cell or paragraph: one line, pipes escaped."""
  return " ".join(text.split()).replace("|", "\\|")


if __name__ == "__main__":
  print(markdown(), end="")
