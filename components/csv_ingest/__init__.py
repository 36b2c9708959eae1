"""Ingest: CSV files with declared column kinds -> gzip tf.Example TFRecords."""
