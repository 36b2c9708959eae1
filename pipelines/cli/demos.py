"""`tpctl demo-retrain`, `tpctl demo-memorize` and `tpctl compare-transfer`: the
demonstrations, each several pipeline runs ending with a table."""
from __future__ import annotations

from components.errors import ConfigError
from pipelines.cli.options import with_config


def add_commands(sub) -> None:
  demo = with_config(sub.add_parser(
      "demo-retrain", help="demo: retraining cycles on monthly spans of the embedded data",
      description="Splits the embedded taxi data into monthly spans (2013-01 ... "
      "2016-12), reveals them a few months per cycle, and runs `retrain` each cycle: a "
      "rolling window of the newest spans, a warm start from the production model, and a "
      "push only when the candidate beats production. Ends with a table of the cycles."))
  demo.set_defaults(handler=_demo_retrain)
  demo.add_argument("--cycles", type=int, default=4, metavar="N",
                    help="retraining cycles (default: %(default)s)")
  demo.add_argument("--months-per-cycle", type=int, default=6, metavar="M",
                    help="new monthly spans per cycle (default: %(default)s)")
  with_config(sub.add_parser(
      "demo-memorize", help="demo: memorize a simulator's whole grid, against the usual way",
      description="Useful overfitting. Runs the pipeline twice on the same simulator grid "
      "(default: pipelines/configs/memorize_projectile.yaml, 29,141 points, about 15 "
      "minutes on 2 cores; memorize_heated_rod.yaml is quicker): memorizing (every point "
      "trains and evaluates, no regularization, no early stopping, blessed on the worst "
      "error) and the usual way (80/20 split, L2, early stopping). Scores both exported "
      "models on every grid point and prints a table; the error maps are PNGs.")
  ).set_defaults(handler=_demo_memorize)
  _add_compare_transfer(sub)


def _add_compare_transfer(sub) -> None:
  transfer = with_config(sub.add_parser(
      "compare-transfer", help="compare transfer-learning modes on the same images",
      description="Runs the pipeline once on an image task (default: pipelines/configs/"
      "transfer_digits.yaml, 20 digits per class on ImageNet MobileNet v1), then trains "
      "each mode on its examples through the same training loop: scratch (the same "
      "network, random weights), feature_extraction (frozen base, cached bottleneck "
      "features), fine_tune (the head, then the top layers) and progressive (more layers "
      "per stage, each judged on eval data). Each run keeps its best checkpoint on the eval "
      "split; the table is test-split accuracy (median over seeds) and training time. A "
      "test split is added (6/2/2 buckets) if the config has none."))
  transfer.set_defaults(handler=_compare_transfer)
  transfer.add_argument("--modes", default=",".join(("scratch", "feature_extraction",
                                                    "fine_tune", "progressive")),
                        help="comma-separated modes (default: %(default)s)")
  transfer.add_argument("--seeds", default="0", help="comma-separated trainer seeds; the "
                        "table shows the median (default: %(default)s)")


def _demo_retrain(args) -> int:
  from pipelines import demo_retrain
  demo_retrain.main(args.config, args.run_dir, args.cycles, args.months_per_cycle)
  return 0


def _demo_memorize(args) -> int:
  from pipelines import memorize_comparison
  memorize_comparison.main(args.config, args.run_dir)
  return 0


def _compare_transfer(args) -> int:
  from pipelines import transfer_comparison
  modes = [m.strip() for m in args.modes.split(",") if m.strip()]
  unknown = sorted(set(modes) - set(transfer_comparison.MODES))
  if unknown:
    raise ConfigError(f"--modes: {unknown[0]!r} is not one of "
                      f"{', '.join(transfer_comparison.MODES)}")
  try:
    seeds = [int(s) for s in args.seeds.split(",")]
  except ValueError:
    raise ConfigError(f"--seeds: {args.seeds!r} is not a comma-separated list of "
                      f"integers") from None
  transfer_comparison.main(args.config, args.run_dir, modes, seeds)
  return 0
