"""The one CSV reader: the pre-flight check and the Ingest executor both read
through it, so a file gets the same verdict in both.

It takes a binary stream (a local file, or Beam's FileSystems for gs:// and s3://)
and yields records with the line they start on. Encodings: UTF-8, with or without
a byte-order mark, and UTF-16 with a byte-order mark (what spreadsheet programs
write as "Unicode text"). Anything else that does not decode is refused with the
file, line and byte offset. Quoted fields may hold commas, quotes and newlines;
CRLF and LF line ends are both read. Kept free of TensorFlow and Beam imports so
that errors come back in well under a second.
"""
from __future__ import annotations

import codecs
import csv
from typing import BinaryIO, Callable, Iterator, Optional

from components.errors import DataError

Opener = Callable[[str], BinaryIO]

# (byte-order mark, Python codec, name shown to users). UTF-32 comes first: its
# little-endian mark begins with UTF-16's.
_BOMS = ((codecs.BOM_UTF32_LE, None, "UTF-32 LE"), (codecs.BOM_UTF32_BE, None, "UTF-32 BE"),
         (codecs.BOM_UTF8, "utf-8", "UTF-8 with BOM"),
         (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE"),
         (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE"))


def _local_open(path: str) -> BinaryIO:
  try:
    return open(path, "rb")
  except OSError as e:
    raise DataError(f"{path}: cannot read: {e.strerror}") from None


def _sniff(path: str, stream: BinaryIO) -> tuple[str, str, int]:
  """(codec, name, length of the byte-order mark) from a file's first bytes."""
  head = stream.read(4)
  for bom, codec, name in _BOMS:
    if head.startswith(bom):
      if codec is None:
        raise DataError(f"{path}: file is {name} (byte-order mark); save it as UTF-8 CSV")
      return codec, name, len(bom)
  return "utf-8", "UTF-8", 0


def _utf8_lines(path: str, stream: BinaryIO) -> Iterator[str]:
  """Decoded lines, keeping their line ends (the csv module needs them to tell a
  quoted newline from a record end). Splitting bytes on b'\\n' is safe in UTF-8,
  and lets an undecodable byte be reported with its exact offset."""
  offset = 0
  for number, raw in enumerate(stream, start=1):
    if b"\x00" in raw:
      raise DataError(f"{path}:{number}: NUL byte at byte offset {offset + raw.index(0)}: "
                      "not a text CSV (UTF-16 without a byte-order mark, or binary?)")
    try:
      yield raw.decode("utf-8")
    except UnicodeDecodeError as e:
      raise DataError(f"{path}:{number}: not UTF-8: byte 0x{raw[e.start]:02x} at byte "
                      f"offset {offset + e.start}; save the file as UTF-8 CSV") from None
    offset += len(raw)


def _utf16_lines(path: str, stream: BinaryIO, codec: str, skipped: int) -> Iterator[str]:
  """Decoded lines, split on '\\n' only (as the csv module needs); a byte that does
  not decode is reported with its line and byte offset, like UTF-8's."""
  decoder = codecs.getincrementaldecoder(codec)("strict")
  number, pending, offset = 1, "", skipped

  def lines(text: str, final: bool = False):
    nonlocal number, pending
    *complete, pending = (pending + text).split("\n")
    out = [line + "\n" for line in complete]
    if final and pending:
      out, pending = out + [pending], ""
    for line in out:
      if "\x00" in line:
        raise DataError(f"{path}:{number}: NUL character: not a text CSV")
      number += 1
      yield line

  while chunk := stream.read(1 << 16):
    try:
      text = decoder.decode(chunk)
    except UnicodeDecodeError as e:
      before = chunk[:e.start].decode(codec, errors="ignore")
      line = number + (pending + before).count("\n")
      raise DataError(f"{path}:{line}: not valid {codec.upper()}: bytes at byte offset "
                      f"{offset + e.start}; the file is damaged or mixes encodings") from None
    offset += len(chunk)
    yield from lines(text)
  yield from lines(decoder.decode(b"", final=True), final=True)


class CsvFile:
  """One CSV file, opened for reading: its encoding, header and records."""

  def __init__(self, path: str, opener: Optional[Opener] = None):
    self.path = path
    opener = opener or _local_open
    with opener(path) as head:
      codec, self.encoding, skip = _sniff(path, head)
    # Opened again rather than rewound: not every file system's stream can seek.
    self._stream = opener(path)
    self._stream.read(skip)
    lines = (_utf8_lines(path, self._stream) if codec == "utf-8"
             else _utf16_lines(path, self._stream, codec, skip))
    # strict: an unclosed quote is an error, not a field that swallows the file.
    self._reader = csv.reader(lines, strict=True)
    self._end_line = 0  # the physical line the last record ended on
    self.header = self._read_header()

  def __enter__(self) -> "CsvFile":
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  def close(self) -> None:
    self._stream.close()

  def _next(self) -> Optional[tuple[int, list[str]]]:
    start = self._end_line + 1
    try:
      cells = next(self._reader)
    except StopIteration:
      return None
    except csv.Error as e:
      if "unexpected end of data" in str(e):
        raise DataError(f"{self.path}:{start}: a quoted field starting in this record "
                        "is never closed (an unbalanced '\"')") from None
      if "field larger than field limit" in str(e):
        raise DataError(f"{self.path}:{start}: a field starting in this record is never "
                        f"closed within {csv.field_size_limit():,} characters (an "
                        "unbalanced '\"'?)") from None
      raise DataError(f"{self.path}:{start}: malformed CSV: {e}") from None
    self._end_line = self._reader.line_num
    return start, cells

  def _read_header(self) -> list[str]:
    first = self._next()
    if first is None or not any(c.strip() for c in first[1]):
      raise DataError(f"{self.path}: file is empty (no header row)")
    header = [c.strip() for c in first[1]]
    blank = [i + 1 for i, c in enumerate(header) if not c]
    if blank:
      raise DataError(f"{self.path}:1: column {blank[0]} of the header has no name")
    seen = set()
    for name in header:
      if name in seen:
        raise DataError(f"{self.path}:1: column {name!r} appears twice in the header")
      seen.add(name)
    return header

  def records(self) -> Iterator[tuple[int, list[str]]]:
    """(line the record starts on, cells) for every non-blank record after the header."""
    while (record := self._next()) is not None:
      line, cells = record
      if cells and any(c.strip() for c in cells):
        yield line, cells

  def where(self, line: int) -> str:
    """'path:line', or 'path:line-end' for a record that spans lines."""
    end = self._end_line
    return f"{self.path}:{line}" if end <= line else f"{self.path}:{line}-{end}"
