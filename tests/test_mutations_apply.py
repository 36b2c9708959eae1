"""`make mutants` is only as current as its patches: each one must still apply to
the code it breaks. Checked here in seconds, so that moving code cannot leave a
mutation silently stale until the next (15-minute) mutation run."""
from __future__ import annotations

import subprocess

import pytest

from tests.mutants.__main__ import HERE, REPO, load

MUTATIONS = load()


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_the_patch_still_applies_and_its_guard_tests_exist(mutation):
  check = subprocess.run(["git", "apply", "--check", str(HERE / mutation.patch)], cwd=REPO,
                         capture_output=True, text=True)
  assert check.returncode == 0, check.stderr
  for test in mutation.tests:
    path, _, name = test.partition("::")
    assert (REPO / path).is_file(), test
    assert f"def {name.split('[')[0]}(" in (REPO / path).read_text(), test
