"""Errors the CLI reports as one line (kept free of TensorFlow imports)."""


class PipelineFailed(RuntimeError):
  """A component raised; the message names it, the cause and the full log."""
