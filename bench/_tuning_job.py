"""One search of bench.tuning, in a fresh process:

  python -m bench._tuning_job CONFIG_JSON TRANSFORM_DIR EXAMPLES_DIR WORK_DIR

Prints the path of the search's trials.csv and its wall seconds as JSON.
"""
from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(config_json: str, transform_dir: str, examples_dir: str, work: str) -> None:
  from tfx.components.trainer.fn_args_utils import FnArgs

  from components.tuning import executor as tuning_executor
  from components.trainer import data
  began = time.monotonic()
  result = tuning_executor.tuner_fn(FnArgs(
      working_dir=work, transform_graph_path=transform_dir,
      train_files=[data.split_pattern(examples_dir, "train")],
      eval_files=[data.split_pattern(examples_dir, "eval")],
      custom_config={"config": config_json, "checkpoint_root": work}))
  result.tuner.search(**result.fit_kwargs)
  print(json.dumps({"trials_csv": os.path.join(result.tuner.project_dir, "trials.csv"),
                    "seconds": time.monotonic() - began}))


if __name__ == "__main__":
  main(*sys.argv[1:])
