import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")
pa_csv = pytest.importorskip("pyarrow.csv")

from logloss import DataFileError, score_file  # noqa: E402
from logloss import _csv_quotes  # noqa: E402
from logloss._csv_quotes import count_lines, find_unclosed_quote  # noqa: E402

BOM = b"\xef\xbb\xbf"


def reference_unclosed_quote(data: bytes):
    """Return the offset of the quote of a value open at the end, byte by byte as pyarrow parses."""
    state, opener = "field start", None
    start = len(BOM) if data.startswith(BOM) else 0
    for offset in range(start, len(data)):
        byte = data[offset : offset + 1]
        if state == "field start":
            if byte == b'"':
                state, opener = "quoted", offset
            elif byte not in b",\n\r":
                state = "unquoted"
        elif state == "unquoted":
            if byte in b",\n\r":
                state = "field start"
        elif state == "quoted":
            if byte == b'"':
                state = "quote in quoted"
        elif byte == b'"':  # a doubled quote inside a quoted value
            state = "quoted"
        elif byte in b",\n\r":
            state = "field start"
        else:
            state = "unquoted"
    return opener if state == "quoted" else None


def find_in_bytes(data: bytes, *, seekable: bool):
    return find_unclosed_quote(lambda: pa.BufferReader(data), len(data) if seekable else None)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet='"a,\n\r', max_size=40),
    bom=st.booleans(),
    chunk_size=st.integers(1, 9),
    tail_size=st.integers(1, 9),
    seekable=st.booleans(),
)
def test_scan_matches_bytewise_parse(text, bom, chunk_size, tail_size, seekable):
    data = (BOM if bom else b"") + text.encode()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_csv_quotes, "SCAN_CHUNK_SIZE", chunk_size)
        patch.setattr(_csv_quotes, "TAIL_SIZE", tail_size)
        found = find_in_bytes(data, seekable=seekable)
    assert found == reference_unclosed_quote(data)


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        # A quote closed in the middle of a value; the rest of the value is read unquoted.
        ('x,y\n"ab"cd,1\n2,3\n', [("abcd", 1), ("2", 3)]),
        # A quote inside an unquoted value is data.
        ('x,y\na"b,1\n2,3\n', [('a"b', 1), ("2", 3)]),
        # A doubled quote and a line break inside a quoted value.
        ('x,y\n"a""b\n",1\n2,3\n', [('a"b\n', 1), ("2", 3)]),
        # A space before the quote: the value is unquoted.
        ('x,y\n1, "2\n3,4\n', [("1", ' "2'), ("3", "4")]),
    ],
)
def test_closed_values_agree_with_pyarrow(text, rows):
    data = text.encode()
    table = pa_csv.read_csv(
        pa.BufferReader(data),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(column_types={"x": pa.string(), "y": pa.string()}),
    )
    assert [tuple(row.values()) for row in table.to_pylist()] == [tuple(map(str, row)) for row in rows]
    assert find_in_bytes(data, seekable=True) is None


@pytest.mark.parametrize("text", ['x,y\n1,"2\n3,4\n', 'x,y\n1," 2\n3,4\n'])
def test_open_value_agrees_with_pyarrow(text):
    data = text.encode()
    table = pa_csv.read_csv(pa.BufferReader(data), parse_options=pa_csv.ParseOptions(newlines_in_values=True))
    assert table.num_rows == 1
    assert find_in_bytes(data, seekable=True) == text.index('"')


@pytest.mark.parametrize(
    ("data", "offset", "expected"),
    [
        (b'a\nb"\nc\nd\n', 3, (2, 2)),
        (b'a\nb"\nc\nd', 3, (2, 2)),
        (b'a\nb"', 3, (2, 0)),
        (b'a\nb"\n', 3, (2, 0)),
        (b'"a\n', 0, (1, 0)),
        # pyarrow also ends lines at \r and \r\n.
        (b'a\rb"\rc\rd\r', 3, (2, 2)),
        (b'a\r\nb"\r\nc\r\nd', 4, (2, 2)),
    ],
)
@pytest.mark.parametrize("chunk_size", [1, 2, 1 << 20])
def test_count_lines(data, offset, expected, chunk_size, monkeypatch):
    monkeypatch.setattr(_csv_quotes, "SCAN_CHUNK_SIZE", chunk_size)
    assert count_lines(pa.BufferReader(data), offset) == expected


def write_text(path, text):
    data = text.encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_unclosed_quote_raises(tmp_path, suffix):
    # In the last column, which is not read, pyarrow loses the rows after the quote silently.
    rows = ["1,0.9,a", '0,0.2,"b', "1,0.7,c", "0,0.1,d"]
    path = write_text(tmp_path / f"s{suffix}", "label,prob,note\n" + "".join(row + "\n" for row in rows))
    message = rf"s\{suffix}: a double quote on line 3 of the CSV file opens a value that no quote closes, so the 2 lines after it"
    with pytest.raises(DataFileError, match=message) as caught:
        score_file(path, label="label", prob="prob")
    assert caught.value.row is None


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_unclosed_quote_named_in_parse_error(tmp_path, suffix):
    # In another column pyarrow finds too few fields, and the message names the quote.
    rows = ["1,0.9,a", '0,"0.2,b', "1,0.7,c"]
    path = write_text(tmp_path / f"s{suffix}", "label,prob,note\n" + "".join(row + "\n" for row in rows))
    message = r"(?s)cannot parse row 1 \(0-based\).*as the header \(3\)\. A double quote on line 3 opens a value that no quote closes"
    with pytest.raises(DataFileError, match=message) as caught:
        score_file(path, label="label", prob="prob")
    assert caught.value.row == 1


def test_unclosed_quote_after_long_tail(tmp_path, monkeypatch):
    # The scan starts at a tail without a quote, so it must read further back.
    monkeypatch.setattr(_csv_quotes, "TAIL_SIZE", 64)
    rows = ['1,0.5,"x'] + ["0,0.25,y"] * 200
    path = write_text(tmp_path / "s.csv", "label,prob,note\n" + "".join(row + "\n" for row in rows))
    with pytest.raises(DataFileError, match=r"line 2 of the CSV file .* the 200 lines after it"):
        score_file(path, label="label", prob="prob")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # On the last line: no line is lost, but the file is still malformed.
        ('label,prob,note\n1,0.5,a\n0,0.25,"b\n', r"line 3 of the CSV file opens a value that no quote closes\. Close"),
        # pyarrow also ends lines at \r, so the line count must too.
        ('label,prob,note\r1,0.9,a\r0,0.2,"b\r1,0.3,c\r0,0.4,d\r', r"line 3 of the CSV file .* the 2 lines after it"),
        # In the header, which pyarrow then cannot read at all.
        ('"label,prob\n1,0.5\n', r"line 1 of the CSV file opens a value that no quote closes"),
    ],
)
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_unclosed_quote_line(tmp_path, suffix, text, message):
    path = write_text(tmp_path / f"s{suffix}", text)
    with pytest.raises(DataFileError, match=message):
        score_file(path, label="label", prob="prob")


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_closed_quotes_score(tmp_path, suffix):
    text = '\ufefflabel,"prob",note\n1,0.5,"a\nb"\n0,0.25,"say ""hi"""\n1,0.75,x"y\n'
    path = write_text(tmp_path / f"s{suffix}", text)
    assert score_file(path, label="label", prob="prob").count == 3


def empty_quoted_values_file(tmp_path, monkeypatch, last_row):
    # Chunks whose runs of quotes all have even length skip the scan. Small chunks and tails
    # put many such chunks before the last row.
    monkeypatch.setattr(_csv_quotes, "SCAN_CHUNK_SIZE", 16)
    monkeypatch.setattr(_csv_quotes, "TAIL_SIZE", 16)
    rows = ['1,0.5,""'] * 50 + [last_row]
    return write_text(tmp_path / "s.csv", "label,prob,note\n" + "".join(row + "\n" for row in rows))


def test_empty_quoted_values_pass(tmp_path, monkeypatch):
    path = empty_quoted_values_file(tmp_path, monkeypatch, "0,0.25,x")
    assert score_file(path, label="label", prob="prob").count == 51


def test_unclosed_quote_after_empty_values(tmp_path, monkeypatch):
    path = empty_quoted_values_file(tmp_path, monkeypatch, '0,0.25,"x')
    with pytest.raises(DataFileError, match=r"line 52 of the CSV file opens a value that no quote closes"):
        score_file(path, label="label", prob="prob")
