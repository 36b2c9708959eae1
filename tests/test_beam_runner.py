"""The Beam runner a run uses: named (never Beam's Prism download), in process for
small inputs, worker processes for large ones, as configured when forced."""
from __future__ import annotations

from components.config import BeamConfig
from pipelines import beam_runner

MB = 1_000_000


def test_auto_runs_small_inputs_in_process_and_large_ones_in_workers():
  beam = BeamConfig(in_process_max_mb=100)
  small = beam_runner.choose(beam, 2 * MB, cores=8)
  large = beam_runner.choose(beam, 300 * MB, cores=8)
  assert small.args()[:2] == ["--runner=FnApiRunner", "--direct_running_mode=in_memory"]
  assert large.args()[:3] == ["--runner=FnApiRunner", "--direct_running_mode=multi_processing",
                              "--direct_num_workers=7"]
  assert "2.0 MB of input <= beam.in_process_max_mb 100" in small.describe()
  assert "300.0 MB of input > beam.in_process_max_mb 100" in large.describe()


def test_a_forced_mode_wins_over_the_input_size():
  assert "--direct_num_workers=3" in beam_runner.choose(
      BeamConfig(mode="multi_processing", workers=3), 1, cores=2).args()
  assert beam_runner.choose(BeamConfig(mode="in_process"), 10**12).mode == "in_process"


def test_kubeflow_steps_choose_by_their_cores():
  assert beam_runner.for_pod(BeamConfig(), cores=2).mode == "in_process"
  assert "--direct_num_workers=3" in beam_runner.for_pod(BeamConfig(), cores=4).args()


def test_tfx_does_not_pack_itself_for_local_workers():
  """TFX builds an sdist of itself for remote Beam workers (seconds per Beam
  step) unless the args name a dependency; local workers share this venv."""
  from tfx.utils import dependency_utils
  for choice in (beam_runner.choose(BeamConfig(), 1),
                 beam_runner.choose(BeamConfig(mode="multi_processing"), 1)):
    assert dependency_utils.make_beam_dependency_flags(choice.args()) == choice.args()
