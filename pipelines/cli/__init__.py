"""tpctl: run the training-patterns pipeline.

  tpctl run [--config FILE]      run the whole pipeline on this host
  tpctl retrain [--config FILE]  run it only if new data (a new span) has arrived
  tpctl models [--config FILE]   list the pushed model versions (the registry)
  tpctl rollback VERSION         make an earlier version current again
  tpctl demo-retrain             retraining cycles on monthly spans of the demo data
  tpctl demo-memorize            memorize a simulator's grid, against the usual way
  tpctl compare-transfer         transfer-learning modes against training from scratch
  tpctl check [--config FILE]    only the pre-flight: config, data files, splits
  tpctl config [--config FILE]   print the effective configuration as YAML
  tpctl compile [-o FILE]        write the Kubeflow Pipelines v2 spec (YAML)
  tpctl submit [--host URL]      run the pipeline once on Kubeflow Pipelines
  tpctl schedule --cron CRON     create a recurring run (6-field cron, seconds first)
  tpctl unschedule [--name N]    delete that recurring run
  tpctl gpu-check                could TensorFlow use a GPU here? (CUDA libraries)
  tpctl flink up|down|status     a Flink cluster on this host for the Beam steps

The parser is built in parser.py from one module per group of commands (local_runs,
models, demos, inspection, on_kubeflow, this_host), each holding its commands' flags
and the functions that run them; here, every failure becomes one line and an exit
code (UserError: 2, PipelineFailed: 1).
"""
from __future__ import annotations

import os
import sys
import traceback

# Keep TensorFlow's C++ start-up chatter (also in Beam workers) off the console.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from components.errors import UserError  # noqa: E402
from pipelines.cli import parser  # noqa: E402
from pipelines.errors import PipelineFailed  # noqa: E402


def main(argv=None) -> int:
  args = parser.build().parse_args(argv)
  # Progress lines must reach `| tee`, nohup and CI logs while a step runs, not
  # when a block-sized buffer fills.
  sys.stdout.reconfigure(line_buffering=True)
  try:
    return args.handler(args)
  except UserError as e:  # bad input or config: nothing written, nothing pushed
    print(f"tpctl: error: {e}", file=sys.stderr)
    return 2
  except PipelineFailed as e:
    print(f"tpctl: error: {e}", file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    print("tpctl: interrupted", file=sys.stderr)
    return 130
  except Exception as e:  # outside any component: still one line, then details
    last = traceback.extract_tb(e.__traceback__)[-1]
    print(f"tpctl: error: {type(e).__name__}: {(str(e).splitlines() or [''])[0]} "
          f"(at {os.path.basename(last.filename)}:{last.lineno})", file=sys.stderr)
    return 1
