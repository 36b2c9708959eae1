"""Every error a user may see, under one base class.

The CLI catches `UserError` and prints its message as the one line a user reads,
with exit code 2 (bad input: nothing written, nothing pushed). Anything else that
escapes is a bug in the product, and keeps its traceback. Kept free of TensorFlow
imports, so that the CLI reports a bad config or CSV without loading TF.
"""


class UserError(ValueError):
  """A problem the user can fix; the message is one line naming the file, key,
  column or value. (A ValueError, so code that predates this class still catches it.)"""


class ConfigError(UserError):
  """A configuration problem, with a one-line message naming the file and key."""


class DataError(UserError):
  """Bad input data; the message is one line naming the file, column and value."""
