"""`tpctl models` and `tpctl rollback`: the pushed model versions (the registry in
the serving directory)."""
from __future__ import annotations

from pipelines.cli.options import load, with_config


def add_commands(sub) -> None:
  with_config(sub.add_parser(
      "models", help="list the model versions in the serving directory (the registry)",
      description="Newest first; * marks the current version (the one TF Serving "
      "serves: the highest number). Shows each version's metrics, data spans, "
      "checkpoint step, and whether it re-publishes an earlier version.")
  ).set_defaults(handler=_models)
  rollback = with_config(sub.add_parser(
      "rollback", help="make an earlier model version current again",
      description="Publishes a copy of VERSION as the new highest version, atomically "
      "(TF Serving serves the highest number, so this is the rollback it honours). The "
      "registry keeps retrain.keep_versions versions."))
  rollback.set_defaults(handler=_rollback)
  rollback.add_argument("version", type=int, metavar="VERSION",
                        help="a version number that `tpctl models` lists")


def _models(args) -> int:
  from components.registry import store
  config = load(args)
  lines = store.Registry(config.serving_path).table()
  print("\n".join(lines) if lines else f"no models in {config.serving_path}")
  return 0


def _rollback(args) -> int:
  from components.registry import store
  config = load(args)
  entry = store.Registry(config.serving_path).rollback(
      args.version, keep=config.retrain.keep_versions)
  print(f"version {entry.version} is now current: a copy of version {args.version} "
        f"(checkpoint {entry.checkpoint_path})")
  return 0
