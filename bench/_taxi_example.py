"""Runs TFX's own taxi_pipeline_native_keras.py (from the installed tfx package) once,
with every path under one work directory. Used by bench/local_loop.py."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import logging  # noqa: E402
from tfx.examples.chicago_taxi_pipeline import taxi_pipeline_native_keras as taxi  # noqa: E402
from tfx.orchestration.local.local_dag_runner import LocalDagRunner  # noqa: E402


def main(work: str, workers: str = "") -> None:
  """workers: empty for the example's own Beam args (all cores), "in_process" for
  Beam in the pipeline's own process (as our local runs on small data), else a
  worker count."""
  logging.set_verbosity(logging.WARNING)
  example_dir = os.path.dirname(taxi.__file__)
  LocalDagRunner().run(taxi._create_pipeline(  # pylint: disable=protected-access
      pipeline_name="taxi_native_keras",
      pipeline_root=os.path.join(work, "pipeline_root"),
      data_root=os.path.join(example_dir, "data", "simple"),
      module_file=os.path.join(example_dir, "taxi_utils_native_keras.py"),
      serving_model_dir=os.path.join(work, "serving"),
      metadata_path=os.path.join(work, "metadata.db"),
      beam_pipeline_args=_beam_args(workers)))


def _beam_args(workers: str) -> list[str]:
  if workers == "in_process":
    return ["--runner=FnApiRunner", "--direct_running_mode=in_memory"]
  if workers:
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
  return taxi._beam_pipeline_args  # pylint: disable=protected-access


if __name__ == "__main__":
  main(*sys.argv[1:])
