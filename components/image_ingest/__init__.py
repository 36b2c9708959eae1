"""Ingest for labelled images: class sub-folders or a path,label CSV -> TFRecords
of encoded image bytes and labels, split like CSV rows."""
