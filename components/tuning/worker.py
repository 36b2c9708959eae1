"""One worker of a parallel search: asks the chief's oracle for trials and runs
them with the Trainer's loop, until the oracle says stop.

    KERASTUNER_TUNER_ID=worker0 KERASTUNER_ORACLE_IP=... KERASTUNER_ORACLE_PORT=... \\
        python -m components.tuning.worker --config-json ... --transform-graph DIR \\
        --train PATTERN --eval PATTERN --directory DIR
"""
from __future__ import annotations

import argparse
import os
import sys


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m components.tuning.worker",
                              description=__doc__.split("\n\n")[0])
  for flag in ("--config-json", "--transform-graph", "--train", "--eval", "--directory"):
    p.add_argument(flag, required=True)
  args = p.parse_args(argv)
  import tensorflow as tf
  threads = int(os.environ.get("TP_TUNER_THREADS", "0"))
  if threads:  # before any op: a share of the cores, not all of them
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
  from components import progress
  from components.config import PipelineConfig
  from components.tuning import search
  config = PipelineConfig.from_json(args.config_json)
  tuner = search.LoopTuner(search.oracle(config), config=config,
                           transform_graph=args.transform_graph,
                           train_pattern=args.train, eval_pattern=args.eval,
                           directory=args.directory,
                           say=progress.speaker(search.STEP))
  tuner.search(verbose=0)
  return 0


if __name__ == "__main__":
  sys.exit(main())
