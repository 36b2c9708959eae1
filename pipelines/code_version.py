"""A digest of the code a step runs, for TFX's cache.

Our steps name their code by module path (it is installed in the image), and TFX
keys its cache on a step's properties, not on that code. So each step gets the
digest of its entry module and every `components` module it imports, directly or
not: editing the trainer reruns the Trainer and what follows it, not Transform.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from pathlib import Path

PACKAGE = "components"


@functools.lru_cache(maxsize=None)
def _root() -> Path:
  return Path(importlib.util.find_spec(PACKAGE).origin).parent.parent


def _source(module: str) -> Path | None:
  """The module's file, found without importing it (None: not a module)."""
  base = _root().joinpath(*module.split("."))
  for path in (base.with_suffix(".py"), base / "__init__.py"):
    if path.is_file():
      return path
  return None


def _imports(module: str, path: Path) -> set[str]:
  """The `components` modules `module` imports (a package's submodules included)."""
  found: set[str] = set()
  package = module if path.name == "__init__.py" else module.rpartition(".")[0]
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:  # relative: from . import x
        base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                        + ([base] if base else []))
      names = [base] + [f"{base}.{a.name}" for a in node.names]
    else:
      continue
    for name in names:
      parts = name.split(".")
      if parts[0] != PACKAGE:
        continue
      # `import components.trainer.loop` runs components/__init__ and trainer/__init__ too.
      found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
  return {m for m in found if _source(m)}


@functools.lru_cache(maxsize=None)
def closure(module: str) -> tuple[str, ...]:
  """`module` and the `components` modules it imports, transitively, sorted."""
  seen, todo = set(), [module]
  while todo:
    m = todo.pop()
    if m in seen:
      continue
    seen.add(m)
    todo.extend(_imports(m, _source(m)) - seen)
  return tuple(sorted(seen))


def digest(module: str) -> str:
  """SHA-256 (16 hex digits) over the names and sources of closure(module)."""
  h = hashlib.sha256()
  for m in closure(module):
    h.update(m.encode() + b"\0" + _source(m).read_bytes() + b"\0")
  return h.hexdigest()[:16]
