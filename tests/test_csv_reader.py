"""The one CSV reader: encodings, quoting, line ends, and where a bad file is bad."""
from __future__ import annotations

import codecs

import pytest

from components.csv_ingest import reader, rows, survey
from components.errors import DataError

TEXT = 'name,notes,y\nAda,"one, two",1\nBob,"line one\nline two",0\nCy,"say ""hi""",1\n'
RECORDS = [(2, ["Ada", "one, two", "1"]), (3, ["Bob", "line one\nline two", "0"]),
           (5, ["Cy", 'say "hi"', "1"])]


def _records(path):
  with reader.CsvFile(str(path)) as f:
    return f.header, f.encoding, list(f.records())


@pytest.mark.parametrize("encode, encoding", [
    (lambda t: t.encode(), "UTF-8"),
    (lambda t: codecs.BOM_UTF8 + t.encode(), "UTF-8 with BOM"),
    (lambda t: t.encode("utf-16"), "UTF-16 LE"),  # Python writes the BOM, little-endian
    (lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"), "UTF-16 BE"),
    (lambda t: t.replace("\n", "\r\n").encode(), "UTF-8"),
])
def test_every_supported_encoding_and_line_end_reads_the_same_records(tmp_path, encode, encoding):
  path = tmp_path / "a.csv"
  path.write_bytes(encode(TEXT))
  header, found, records = _records(path)
  assert header == ["name", "notes", "y"]  # no BOM glued to the first column name
  assert found == encoding
  # CRLF inside a quoted field is kept as written; elsewhere records are the same.
  assert [(n, [c.replace("\r\n", "\n") for c in cells]) for n, cells in records] == RECORDS


def test_a_record_spanning_lines_is_reported_by_its_line_range(tmp_path):
  path = tmp_path / "a.csv"
  path.write_text('a,b\n1,"x\ny",3\n')
  spec = rows.ColumnSpec(kinds={"a": rows.FLOAT}, label="b")
  with reader.CsvFile(str(path)) as f:
    parser = rows.RowParser(str(path), f.header, spec)
    [(line, cells)] = list(f.records())
    with pytest.raises(DataError, match=r"a.csv:2-3: expected 2 fields, found 3"):
      parser.parse(cells, f.where(line))


def test_undecodable_byte_is_named_with_line_and_byte_offset(tmp_path):
  path = tmp_path / "latin1.csv"
  path.write_bytes("a,b\n1,caf\u00e9\n".encode("latin-1"))  # é is byte 9
  with pytest.raises(DataError) as e:
    _records(path)
  assert str(e.value) == (f"{path}:2: not UTF-8: byte 0xe9 at byte offset 9; "
                          "save the file as UTF-8 CSV")


def test_binary_junk_is_refused_at_its_first_bad_byte(tmp_path):
  path = tmp_path / "junk.csv"
  path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
  with pytest.raises(DataError, match=r"junk.csv:1: not UTF-8: byte 0x89 at byte offset 0"):
    _records(path)


def test_utf16_without_a_byte_order_mark_is_refused(tmp_path):
  path = tmp_path / "u16.csv"
  path.write_bytes("a,b\n1,2\n".encode("utf-16-le"))
  with pytest.raises(DataError, match=r"u16.csv:1: NUL byte at byte offset 1: .*UTF-16"):
    _records(path)


def test_utf32_is_refused_by_name(tmp_path):
  path = tmp_path / "u32.csv"
  path.write_bytes("a,b\n1,2\n".encode("utf-32"))
  with pytest.raises(DataError, match=r"u32.csv: file is UTF-32 LE"):
    _records(path)


def test_an_unclosed_quote_names_the_line_it_starts_on(tmp_path):
  path = tmp_path / "a.csv"
  path.write_text('a,b\n1,2\n3,"four\n5,6\n7,8\n')
  with pytest.raises(DataError, match=r"a.csv:3: a quoted field starting in this record "
                     "is never closed"):
    _records(path)


def test_text_after_a_closing_quote_is_refused(tmp_path):
  path = tmp_path / "a.csv"
  path.write_text('a,b\n1,"two"x\n')
  with pytest.raises(DataError, match=r"a.csv:2: malformed CSV"):
    _records(path)


@pytest.mark.parametrize("header, message", [
    ("a,,b\n", "column 2 of the header has no name"),
    ("a,b,a\n", "column 'a' appears twice in the header"),
    ("\n", "file is empty"),
])
def test_bad_headers(tmp_path, header, message):
  path = tmp_path / "a.csv"
  path.write_text(header + "1,2,3\n")
  with pytest.raises(DataError, match=message):
    _records(path)


def test_files_with_different_columns_are_refused_naming_both(tmp_path):
  (tmp_path / "a.csv").write_text("x,y,z\n1,2,3\n")
  (tmp_path / "b.csv").write_text("x,y,w\n1,2,3\n")
  spec = rows.ColumnSpec(kinds={"x": rows.FLOAT}, label="y")
  files = survey.csv_files(str(tmp_path))
  with pytest.raises(DataError) as e:
    survey.common_header(files, spec, None)
  assert str(e.value) == (f"{files[1]}: header differs from {files[0]} "
                          f"(only in {files[1]}: w; only in {files[0]}: z)")


def test_files_with_the_same_columns_in_another_order_are_read_by_name(tmp_path):
  (tmp_path / "a.csv").write_text("x,y\n1,A\n")
  (tmp_path / "b.csv").write_text("y,x\nB,2\n")
  spec = rows.ColumnSpec(kinds={"x": rows.FLOAT, "y": rows.BYTES}, label="y")
  files = survey.csv_files(str(tmp_path))
  survey.common_header(files, spec, None)
  values = []
  for path in files:
    with reader.CsvFile(path) as f:
      parser = rows.RowParser(path, f.header, spec)
      values += [parser.parse(cells, f.where(n)) for n, cells in f.records()]
  assert values == [{"x": [1.0], "y": [b"A"]}, {"x": [2.0], "y": [b"B"]}]


def test_tab_separated_file_gets_a_hint(tmp_path):
  path = tmp_path / "a.csv"
  path.write_text("x\ty\n1\t2\n")
  with reader.CsvFile(str(path)) as f:
    with pytest.raises(DataError, match="tab-separated"):
      rows.check_header(str(path), f.header, rows.ColumnSpec(kinds={}, label="y"))


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_non_finite_numbers_are_refused(value):
  parser = rows.RowParser("a.csv", ["x", "y"], rows.ColumnSpec(kinds={"x": rows.FLOAT},
                                                               label="y"))
  with pytest.raises(DataError, match=f"a.csv:7: column 'x': value '{value}' is not a number"):
    parser.parse([value, "1"], "a.csv:7")


def test_damaged_utf16_names_the_line(tmp_path):
  path = tmp_path / "a.csv"
  # A lone high surrogate on line 3 cannot be decoded.
  path.write_bytes(codecs.BOM_UTF16_LE + "a,b\n1,2\n3,".encode("utf-16-le")
                   + b"\x00\xd8" + ",4\n".encode("utf-16-le"))
  with pytest.raises(DataError, match=r"a.csv:3: not valid UTF-16-LE: bytes at byte offset 22;"):
    _records(path)


def test_nul_inside_utf16_text_is_refused(tmp_path):
  path = tmp_path / "a.csv"
  path.write_bytes("a,b\n1,\x002\n".encode("utf-16"))
  with pytest.raises(DataError, match=r"a.csv:2: NUL character"):
    _records(path)


def test_nul_byte_offset_counts_earlier_lines(tmp_path):
  path = tmp_path / "a.csv"
  path.write_bytes(b"a,b\n1,2\n3,\x004\n")
  with pytest.raises(DataError, match=r"a.csv:3: NUL byte at byte offset 10:"):
    _records(path)


def test_blank_lines_are_skipped_and_records_keep_their_line_numbers(tmp_path):
  path = tmp_path / "a.csv"
  path.write_text("a,b\n\n1,2\n , \n3,4\n")
  _, _, records = _records(path)
  assert records == [(3, ["1", "2"]), (5, ["3", "4"])]


def test_a_missing_file_is_named(tmp_path):
  with pytest.raises(DataError, match=r"nope.csv: cannot read: No such file"):
    _records(tmp_path / "nope.csv")


def test_header_names_are_stripped(tmp_path):
  path = tmp_path / "a.csv"
  path.write_text(" x , y\n1,2\n")
  assert _records(path)[0] == ["x", "y"]


@pytest.mark.parametrize("header, split_key, message", [
    ("x,z", None, "a.csv: label column 'y' not found in header"),
    ("y,z", None, "a.csv: column 'x' not found in header"),
    ("x,y", "k", "a.csv: split key column 'k' (data.split_key) not found in header"),
])
def test_header_checks_name_the_missing_column(header, split_key, message):
  spec = rows.ColumnSpec(kinds={"x": rows.FLOAT, "y": rows.BYTES}, label="y")
  with pytest.raises(DataError) as e:
    rows.check_header("a.csv", header.split(","), spec, split_key)
  assert str(e.value) == message
  rows.check_header("a.csv", ["k", "x", "y"], spec, split_key)  # all present: fine


def test_header_difference_in_one_direction_names_only_that_side():
  with pytest.raises(DataError) as e:
    rows.check_same_columns("a.csv", ["x", "y"], "b.csv", ["x", "y", "z"])
  assert str(e.value) == "b.csv: header differs from a.csv (only in b.csv: z)"
  with pytest.raises(DataError) as e:
    rows.check_same_columns("a.csv", ["x", "y", "z", "w"], "b.csv", ["x", "y"])
  assert str(e.value) == "b.csv: header differs from a.csv (only in a.csv: z, w)"


def test_rows_parse_every_kind_and_null_into_typed_values():
  spec = rows.ColumnSpec(kinds={"n": rows.FLOAT, "c": rows.BYTES, "y": rows.BYTES},
                         label="y", null_values=("?",))
  parser = rows.RowParser("a.csv", ["c", "skip", "n", "y"], spec)
  assert parser.parse([" Paris ", "s", " 2.5 ", "yes"], "a.csv:2") == {
      "c": [b"Paris"], "n": [2.5], "y": [b"yes"]}
  assert parser.parse(["?", "s", "", "no"], "a.csv:3") == {"c": [], "n": [], "y": [b"no"]}
  assert parser.parse(["x", "s", "1", "?"], "a.csv:4") is None  # no label: skipped
  assert parser.label_of(["x", "s", "1", " no "]) == "no"
  with pytest.raises(DataError, match=r"a.csv:5: expected 4 fields, found 5"):
    parser.parse(["x", "s", "1", "y", "extra"], "a.csv:5")
