"""The run failure the CLI reports as one line, with exit code 1: a step failed.
(An error the user can fix is a components.errors.UserError: exit code 2.) Kept
free of TensorFlow imports."""


class PipelineFailed(RuntimeError):
  """A component raised; the message names it, the cause and the full log."""
