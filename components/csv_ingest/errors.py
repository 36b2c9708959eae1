"""Kept free of TensorFlow imports so the CLI can report errors without loading TF."""


class DataError(ValueError):
  """Bad input data; the message is one line naming the file, column and value."""
