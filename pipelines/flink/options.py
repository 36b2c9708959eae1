"""Beam options of the Flink runner (Java side) that Beam's Python SDK does not
declare. Python drops an argument it does not know before the pipeline reaches
the job server, so declaring it here is what lets it through: importing this
module is enough (Beam collects every PipelineOptions subclass)."""
from apache_beam.options.pipeline_options import PipelineOptions


class FlinkBatchOptions(PipelineOptions):

  @classmethod
  def _add_argparse_args(cls, parser):
    # PIPELINED (Beam's default) runs a step's stages at once, joined by bounded
    # network buffers: at 100x the embedded data, Ingest stopped with every task
    # waiting on another. BATCH_FORCED makes every exchange blocking.
    parser.add_argument("--execution_mode_for_batch", choices=["PIPELINED", "BATCH_FORCED"],
                        default=None, help="Flink's execution mode for batch pipelines")
