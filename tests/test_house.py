"""The house stays walkable: no product module over 400 lines, no function over 80.

(Import cycles are refused by the import-linter contract that `make test` runs
first; bench/house.py measures the before and after for BENCHMARKS.md.)"""
from __future__ import annotations

from bench import house


def test_no_module_or_function_is_too_long_to_read():
  sizes = house.now()
  assert sizes.modules  # measured something: the product's modules were found
  assert house.over(sizes.modules, house.MAX_MODULE_LINES) == {}
  assert house.over(sizes.functions, house.MAX_FUNCTION_LINES) == {}


def test_lengths_count_the_whole_function_decorators_included():
  text = "@decorate\ndef f():\n  '''doc'''\n\n  return 1\n"
  sizes = house.measure(lambda _: text, ["m.py"])
  assert sizes.modules == {"m.py": 5}
  assert sizes.functions == {"m.py:2 f": 5}
