"""`tpctl check` and `tpctl config`: what a run would read, without running
anything (and without importing TensorFlow)."""
from __future__ import annotations

from pipelines.cli.options import load, with_config


def add_commands(sub) -> None:
  with_config(sub.add_parser(
      "check", help="check the config and data without running anything",
      description="The pre-flight that `tpctl run` starts with, alone: reads the config "
      "and every data row the way Ingest will, and prints the files (rows, encoding), "
      "the columns used, and each split's size and class balance. Bad input is one "
      "line and exit code 2. Writes nothing and imports no TensorFlow.")
  ).set_defaults(handler=_check)
  with_config(sub.add_parser(
      "config", help="print the effective configuration as YAML",
      description="Every key, with the config file and the flags applied over the defaults. "
      "The output reads back as the same configuration: `tpctl config > my.yaml`, then "
      "`--config my.yaml`.")).set_defaults(handler=_config)


def _config(args) -> int:
  import yaml
  config = load(args)
  # A file that reads back as this same config (`tpctl config > my.yaml`): run_dir as
  # the absolute path it is (a relative one would be read relative to the file), and
  # without step_view, which the pipeline sets on a step's view, never a file.
  effective = config.model_dump(mode="json", exclude={"step_view"})
  effective["run_dir"] = str(config.run_path)
  print(yaml.safe_dump(effective, sort_keys=False), end="")
  return 0


def _check(args) -> int:
  from pipelines import preflight
  print("\n".join(preflight.main_check(load(args), args.config)))
  print("ok: a run would start with this data")
  return 0
