"""A model registry laid out exactly as TF Serving reads a model base path.

<root>/<version>/   one SavedModel per integer version; TF Serving serves the highest
<root>/index.json   {"versions": [entry, ...]}: each version's metadata
<root>/.lock        fcntl lock held by push/rollback, so two pushes never share a number

A push copies into a dot-named directory (TF Serving ignores non-numeric names),
fsyncs it, records the entry in the index, and only then renames the directory to
its number: whoever sees a numbered directory sees it complete and indexed. Pruning
renames a version to a dot name before deleting it, so no reader ever finds a
half-deleted version either. Pure os/shutil/json/fcntl (no TensorFlow), so the CLI
can list models without loading TF; hence also local/POSIX paths only.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import json
import os
import re
import shutil
import uuid
from dataclasses import field
from typing import Iterator, Optional

from components.errors import UserError

INDEX_FILE = "index.json"
LOCK_FILE = ".lock"
_INCOMING = ".incoming-"
_TRASH = ".trash-"
# TF Serving's own rule: a version directory's name is an integer.
_VERSION_NAME = re.compile(r"^[0-9]+$")


class RegistryError(UserError):
  """One-line message naming the registry path / version."""


@dataclasses.dataclass
class Entry:
  version: int
  pushed_at: str  # ISO-8601 UTC, seconds
  run_id: str
  metrics: dict  # name -> float
  spans: list  # data spans trained/evaluated on ([] for a flat directory)
  checkpoint_step: Optional[int]
  checkpoint_path: Optional[str]  # the training checkpoint the model was exported from
  rollback_of: Optional[int] = None  # set when this version re-publishes an earlier one
  extra: dict = field(default_factory=dict)  # anything else the caller records

  @classmethod
  def _from_dict(cls, d: dict) -> Entry:
    # Lenient on missing optional keys so an older index still reads.
    return cls(version=int(d["version"]), pushed_at=str(d.get("pushed_at", "")),
               run_id=str(d.get("run_id", "")), metrics=dict(d.get("metrics") or {}),
               spans=list(d.get("spans") or []), checkpoint_step=d.get("checkpoint_step"),
               checkpoint_path=d.get("checkpoint_path"), rollback_of=d.get("rollback_of"),
               extra=dict(d.get("extra") or {}))


def _now() -> str:
  return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fsync_dir(path: str) -> None:
  # A rename or a new file is durable only once its directory is synced.
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def _copy_file(src: str, dst: str) -> None:
  """Copies one file and fsyncs it. Module-level so that tests can inject faults."""
  with open(src, "rb") as fin, open(dst, "wb") as fout:
    shutil.copyfileobj(fin, fout, 1 << 20)
    fout.flush()
    os.fsync(fout.fileno())


def _copy_tree(src: str, dst: str) -> None:
  """Copies src's contents into the existing directory dst."""
  for here, subdirs, files in os.walk(src, followlinks=True):
    subdirs.sort()
    rel = os.path.relpath(here, src)
    target = dst if rel == "." else os.path.join(dst, rel)
    if target != dst:
      os.mkdir(target)
    for name in sorted(files):
      _copy_file(os.path.join(here, name), os.path.join(target, name))


class Registry:
  """A registry root on a local filesystem; readers need no lock."""

  def __init__(self, root: str):
    root = os.fspath(root)
    if "://" in root:
      raise RegistryError(
          f"model registry {root}: not a local path; atomic pushes need os.rename and "
          "fcntl locks on a local/POSIX filesystem (sync the registry to remote storage "
          "separately)")
    self.root = root

  def path(self, version: int) -> str:
    return os.path.join(self.root, str(int(version)))

  # -- reading ---------------------------------------------------------------------

  def _disk_versions(self) -> dict:
    """{number: directory name} of every numbered directory, indexed or not."""
    try:
      names = os.listdir(self.root)
    except FileNotFoundError:
      return {}
    return {int(n): n for n in names
            if _VERSION_NAME.match(n) and os.path.isdir(os.path.join(self.root, n))}

  def _read_index(self) -> dict:
    """{version: raw entry dict}; raw, so keys this code does not know survive rewrites."""
    path = os.path.join(self.root, INDEX_FILE)
    try:
      with open(path) as f:
        doc = json.load(f)
    except FileNotFoundError:
      return {}
    except (OSError, ValueError) as e:
      raise RegistryError(f"model registry index {path}: unreadable ({e})") from None
    try:
      return {int(d["version"]): d for d in doc["versions"]}
    except (KeyError, TypeError, ValueError) as e:
      raise RegistryError(f"model registry index {path}: malformed ({e!r})") from None

  def _listed(self) -> dict:
    # A version counts only when its directory and its entry both exist. Writers
    # order their steps (push: index, then rename; prune: rename, then index) so
    # that, whichever a reader reads first, it never lists an incomplete version.
    index = self._read_index()
    disk = self._disk_versions()
    return {v: index[v] for v in sorted(index) if v in disk}

  def versions(self) -> list:
    return list(self._listed())

  def entries(self) -> list:
    return [Entry._from_dict(d) for d in self._listed().values()]

  def _unknown(self, version, listed) -> RegistryError:
    have = ", ".join(str(v) for v in listed) or "none"
    return RegistryError(f"model registry {self.root}: no version {version} (versions: {have})")

  def entry(self, version: int) -> Entry:
    listed = self._listed()
    if version not in listed:
      raise self._unknown(version, listed)
    return Entry._from_dict(listed[version])

  def current(self) -> Optional[Entry]:
    entries = self.entries()
    return entries[-1] if entries else None

  # -- writing (under the lock) ----------------------------------------------------

  @contextlib.contextmanager
  def _locked(self) -> Iterator[None]:
    os.makedirs(self.root, exist_ok=True)
    fd = os.open(os.path.join(self.root, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX)
      # Holding the lock means no other push is running: any leftover temporary
      # directory belongs to a crashed one.
      self._remove_leftovers()
      yield
    finally:
      os.close(fd)  # releases the flock

  def _remove_leftovers(self) -> None:
    for name in os.listdir(self.root):
      if name.startswith((_INCOMING, _TRASH)):
        shutil.rmtree(os.path.join(self.root, name), ignore_errors=True)

  def _write_index(self, index: dict) -> None:
    path = os.path.join(self.root, INDEX_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
      json.dump({"versions": [index[v] for v in sorted(index)]}, f, indent=2)
      f.write("\n")
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(self.root)

  def _check_extra_files(self, extra_files: dict) -> dict:
    checked = {}
    for dest, src in extra_files.items():
      norm = os.path.normpath(dest)
      if os.path.isabs(dest) or norm == "." or norm.split(os.sep)[0] == "..":
        raise RegistryError(f"model registry {self.root}: extra file {dest!r} must be a "
                            "relative path inside the version")
      if not os.path.isfile(src):
        raise RegistryError(f"model registry {self.root}: extra file {dest!r}: {src} is not a file")
      checked[norm] = src
    return checked

  def _check_keep(self, keep) -> None:
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
      raise RegistryError(f"model registry {self.root}: keep must be an integer >= 1, got {keep!r}")

  def _publish(self, source_dir: str, extra_files: dict, record: dict, keep: int) -> Entry:
    """Copies source_dir (+ extra_files) in as the next version; the lock is held."""
    index = self._read_index()
    version = max([0, *self._disk_versions(), *index]) + 1
    record = {**record, "version": version, "pushed_at": _now()}
    incoming = os.path.join(self.root, f"{_INCOMING}{uuid.uuid4().hex}")
    try:
      os.mkdir(incoming)
      _copy_tree(source_dir, incoming)
      for dest, src in extra_files.items():
        target = os.path.join(incoming, dest)
        if os.path.lexists(target):
          raise RegistryError(f"model registry {self.root}: extra file {dest!r} would "
                              "overwrite a file of the model")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        _copy_file(src, target)
      # Files were synced as copied; their directory entries need the directories synced.
      for here, _, _ in os.walk(incoming, topdown=False):
        _fsync_dir(here)
      # Index before rename: a numbered directory is never visible without its entry.
      self._write_index({**index, version: record})
    except BaseException:
      shutil.rmtree(incoming, ignore_errors=True)
      raise
    # A crash right here leaves an index entry without a directory, which readers
    # skip and whose number is never reused (the next version is above it).
    os.rename(incoming, self.path(version))
    _fsync_dir(self.root)
    self._prune(keep)
    return Entry._from_dict(record)

  def _prune(self, keep: int) -> None:
    disk = self._disk_versions()
    doomed = sorted(disk)[:-keep]
    # Out of sight first (a rename), then out of the index, then deleted.
    trash = []
    for v in doomed:
      dest = os.path.join(self.root, f"{_TRASH}{v}-{uuid.uuid4().hex}")
      os.rename(os.path.join(self.root, disk[v]), dest)
      trash.append(dest)
    index = self._read_index()
    # Entries of pruned versions go, and so do those of crashed pushes: a kept
    # version is above them, so their numbers stay unreachable.
    kept = {v: d for v, d in index.items() if v in disk and v not in doomed}
    if kept != index:
      self._write_index(kept)
    for path in trash:
      shutil.rmtree(path, ignore_errors=True)

  def push(self, model_dir: str, *, run_id: str, metrics: dict, spans: list,
           checkpoint_step: Optional[int], checkpoint_path: Optional[str], keep: int,
           extra: Optional[dict] = None,
           extra_files: Optional[dict] = None) -> Entry:
    """Publishes model_dir (a SavedModel directory) as the next version, then keeps
    the newest `keep` versions. extra_files: {path inside the version: source file}."""
    self._check_keep(keep)
    model_dir = os.fspath(model_dir)
    if not os.path.isdir(model_dir):
      raise RegistryError(f"model registry {self.root}: model {model_dir} is not a local directory")
    if not any(os.path.isfile(os.path.join(model_dir, n))
               for n in ("saved_model.pb", "saved_model.pbtxt")):
      # TF Serving would fail on it, and it would be the highest version.
      raise RegistryError(f"model registry {self.root}: {model_dir} holds no saved_model.pb")
    checked = self._check_extra_files(extra_files or {})
    record = {"run_id": str(run_id),
              "metrics": {str(k): float(v) for k, v in metrics.items()},
              "spans": [str(s) for s in spans],
              "checkpoint_step": None if checkpoint_step is None else int(checkpoint_step),
              "checkpoint_path": None if checkpoint_path is None else str(checkpoint_path),
              "rollback_of": None,
              "extra": dict(extra or {})}
    try:
      json.dumps(record)
    except (TypeError, ValueError) as e:
      raise RegistryError(f"model registry {self.root}: metadata is not JSON ({e})") from None
    with self._locked():
      return self._publish(model_dir, checked, record, keep)

  def rollback(self, version: int, *, keep: int) -> Entry:
    """Re-publishes a copy of `version` as a new highest version: TF Serving serves
    the highest number, so that is the only rollback it honours."""
    self._check_keep(keep)
    with self._locked():
      listed = self._listed()
      if version not in listed:
        raise self._unknown(version, listed)
      if version == max(listed):
        raise RegistryError(f"model registry {self.root}: version {version} is already current")
      record = {**listed[version], "rollback_of": int(version)}
      return self._publish(self.path(version), {}, record, keep)

  def table(self) -> list:
    """Lines for `tpctl models`: newest first, the current version marked with *."""
    entries = self.entries()
    if not entries:
      return []
    current = entries[-1].version
    rows = [["", "version", "pushed_at", "metrics", "spans", "checkpoint", ""]]
    for e in reversed(entries):
      metrics = " ".join(f"{k}={v:.4g}" for k, v in e.metrics.items()) or "-"
      if not e.spans:
        spans = "-"
      elif len(e.spans) == 1:
        spans = f"{e.spans[0]} (1)"
      else:
        spans = f"{e.spans[0]}..{e.spans[-1]} ({len(e.spans)})"
      step = "-" if e.checkpoint_step is None else f"step {e.checkpoint_step}"
      note = "" if e.rollback_of is None else f"rollback of {e.rollback_of}"
      rows.append(["*" if e.version == current else "", str(e.version), e.pushed_at,
                   metrics, spans, step, note])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
