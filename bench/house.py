"""The shape of the house, measured: the largest modules and the longest functions
of the product code (components/ and pipelines/), at a commit and now, side by side.

What a newcomer has to read to change one thing grows with the longest module and
the longest function; the limits (400 lines a module, 80 a function) are checked in
tests/test_house.py, and this writes the before and after to BENCHMARKS.md:

  python -m bench.house --before <commit>

Lines are counted as a file's lines and a function's `def` to its last line
(decorators and docstring included), from the sources as git stores them.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import subprocess
from pathlib import Path
from typing import Callable, Iterable, Optional

from bench import report

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("components", "pipelines")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


@dataclasses.dataclass(frozen=True)
class Sizes:
  modules: dict[str, int]  # path -> lines
  functions: dict[str, int]  # path:line name -> lines


def measure(read: Callable[[str], str], paths: Iterable[str]) -> Sizes:
  modules, functions = {}, {}
  for path in paths:
    text = read(path)
    modules[path] = len(text.splitlines())
    for node in ast.walk(ast.parse(text)):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        functions[f"{path}:{node.lineno} {node.name}"] = node.end_lineno - first + 1
  return Sizes(modules, functions)


def now() -> Sizes:
  """The working tree's product modules."""
  paths = sorted(str(p.relative_to(ROOT)) for top in PRODUCT for p in (ROOT / top).rglob("*.py"))
  return measure(lambda p: (ROOT / p).read_text(), paths)


def at(commit: str) -> Sizes:
  """The product modules as committed at `commit`."""
  listed = _git("ls-tree", "-r", "--name-only", commit, "--", *PRODUCT).split()
  return measure(lambda p: _git("show", f"{commit}:{p}"), [p for p in listed if p.endswith(".py")])


def _git(*args: str) -> str:
  return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True,
                        text=True).stdout


def over(sizes: dict[str, int], limit: int) -> dict[str, int]:
  return {k: v for k, v in sizes.items() if v > limit}


def _top(sizes: dict[str, int], n: int) -> list[tuple[str, int]]:
  return sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def _table(title: str, before: dict[str, int], after: dict[str, int], n: int) -> str:
  rows = [f"| {title} | lines |", "|---|---:|"]
  rows += [f"| before: `{k}` | {v} |" for k, v in _top(before, n)]
  rows += [f"| after: `{k}` | {v} |" for k, v in _top(after, n)]
  return "\n".join(rows)


def body(before: Sizes, after: Sizes, commit: str) -> str:
  def summary(s: Sizes) -> str:
    return (f"{len(s.modules)} modules, {sum(s.modules.values()):,} lines; "
            f"{len(over(s.modules, MAX_MODULE_LINES))} modules over {MAX_MODULE_LINES} lines, "
            f"{len(over(s.functions, MAX_FUNCTION_LINES))} functions over "
            f"{MAX_FUNCTION_LINES}")
  return "\n".join([
      f"Before (at {commit}): {summary(before)}.  ",
      f"After: {summary(after)}.",
      "", "Fewer and shorter is better: the longest module and function bound what a "
      "newcomer reads to change one thing.", "",
      _table("largest modules", before.modules, after.modules, 5), "",
      _table("longest functions", before.functions, after.functions, 5)])


def main(argv: Optional[list[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--before", required=True, help="the commit to compare with")
  args = parser.parse_args(argv)
  text = body(at(args.before), now(), args.before)
  print(text)
  report.write_section("house", "The house: largest modules and longest functions",
                       f"python -m bench.house --before {args.before}", text)


if __name__ == "__main__":
  main()
