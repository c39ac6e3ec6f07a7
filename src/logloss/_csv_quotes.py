"""Find a double quote that opens a CSV value which the file never closes.

logloss reads CSV files with pyarrow's ``newlines_in_values=True``, so that a quoted value
may hold line breaks. pyarrow then reads a quote that is never closed as the start of one
value that runs to the end of the file. The rows after the quote disappear into that value
without an error, however long the rest of the file is. :class:`QuoteScanner` follows
pyarrow's quoting rules over the raw bytes (quote character ``"``, a quote inside a quoted
value written as two, no escape character, delimiter ``,``) and finds such a quote.

The scan looks only at runs of consecutive quotes. A run of odd length that starts a field
(at the start of the file, or after a comma or a line break) opens a value when none is open
and closes the open one otherwise. Any other run of odd length closes an open value, or is
data inside an unquoted value, so after it no value is open. A run of even length changes
nothing. So a value is open at the end exactly when an odd number of field-starting odd runs
follow the last odd run that does not start a field. That last run is usually near the end
of a file that has quotes, so :func:`find_unclosed_quote` scans a growing tail of the file.
"""

from __future__ import annotations

import collections
import io

import numpy as np

__all__ = ["SCAN_CHUNK_SIZE", "QuoteScanner", "count_lines", "find_unclosed_quote"]

# Bytes read and scanned at a time. The scan of a chunk full of quotes allocates several
# times its size, so chunks stay small.
SCAN_CHUNK_SIZE = 1 << 20
# Bytes at the end of a file scanned first. Each further try scans 8 times as many.
TAIL_SIZE = 1 << 22

_QUOTE = ord('"')
_COMMA, _LINE_FEED, _CARRIAGE_RETURN = ord(","), ord("\n"), ord("\r")
_UTF8_BOM = b"\xef\xbb\xbf"


class QuoteScanner:
    """Scan CSV bytes chunk by chunk, in file order, for a quoted value left open at the end.

    Parameters
    ----------
    offset : int
        The file offset of the first byte fed.
    file_start : bool
        Whether that byte starts the first field of the file. Otherwise the scan cannot know
        whether a value is open at `offset`, so it skips a run of quotes that the first
        bytes continue, and :attr:`settled` is true once a later run has made the start
        irrelevant.
    """

    def __init__(self, offset: int = 0, *, file_start: bool = True):
        self._offset = offset  # file offset of the next byte to scan
        # The byte before that one, None at the start of the first field. Mid-file the leading
        # quotes are skipped, so the first run scanned starts after a byte of the chunk itself.
        self._previous: int | None = None if file_start else _QUOTE
        self._skip_quotes = not file_start
        self._held_quotes = b""  # a run of quotes at the end of the bytes so far, which the next chunk may continue
        self._opener: int | None = None  # file offset of the quote that opened the value still open
        self.settled = file_start

    def feed(self, chunk: bytes) -> None:
        """Scan the next bytes of the file."""
        if self._skip_quotes and chunk:
            skipped = len(chunk) - len(chunk.lstrip(b'"'))
            self._skip_quotes = skipped == len(chunk)
            self._offset += skipped
            chunk = chunk[skipped:]
        if not chunk:
            return
        data = self._held_quotes + chunk if self._held_quotes else chunk
        # The run of quotes at the end is held back, as the next chunk may continue it. If
        # every run before it has even length, nothing changes, and counting at C speed
        # replaces the scan: this matters for files of empty quoted values (""). Pairs of
        # quotes, counted from the left, never span two runs, so each odd run leaves one
        # quote unpaired.
        body = data.rstrip(b'"') if data[-1] == _QUOTE else data
        quotes = body.count(b'"')
        if quotes == 0 or quotes == 2 * body.count(b'""'):
            self._held_quotes = data[len(body) :]
            if body:
                self._offset += len(body)
                self._previous = body[-1]
            return
        self._scan(data, final=False)

    def finish(self) -> int | None:
        """Scan the bytes still held; return the file offset of the quote of a value left open, or None.

        Mid-file, the result is only right when :attr:`settled` is true afterwards.
        """
        if self._held_quotes:
            self._scan(self._held_quotes, final=True)
        return self._opener

    def _scan(self, data: bytes, *, final: bool) -> None:
        values = np.frombuffer(data, dtype=np.uint8)
        positions = np.flatnonzero(values == _QUOTE)
        # Runs of consecutive quotes: the indices into `positions` of their first and last quotes.
        breaks = np.flatnonzero(np.diff(positions) != 1)
        firsts = np.concatenate(([0], breaks + 1))
        lasts = np.concatenate((breaks, [positions.size - 1]))
        end = len(data)
        if not final and positions[-1] == end - 1:
            # Hold back the run of quotes at the end: the next chunk may continue it.
            end = int(positions[firsts[-1]])
            firsts, lasts = firsts[:-1], lasts[:-1]
        self._held_quotes = data[end:]
        if end == 0:
            return

        odd = (lasts - firsts) % 2 == 0
        starts = positions[firsts[odd]]
        if starts.size:
            before = values[np.maximum(starts - 1, 0)]
            starts_field = (before == _COMMA) | (before == _LINE_FEED) | (before == _CARRIAGE_RETURN)
            if starts[0] == 0:
                previous = self._previous
                starts_field[0] = previous is None or previous in (_COMMA, _LINE_FEED, _CARRIAGE_RETURN)
            closers = np.flatnonzero(~starts_field)
            if closers.size:
                # After a run that does not start a field, no value is open, whatever came before.
                self.settled = True
                is_open = False
                toggles = starts.size - 1 - int(closers[-1])
            else:
                is_open = self._opener is not None
                toggles = starts.size
            if toggles % 2 == 1:
                is_open = not is_open
            if not is_open:
                self._opener = None
            elif toggles:
                # The last run opened the value, since any run after the opening one closes it.
                self._opener = self._offset + int(starts[-1])

        self._offset += end
        self._previous = data[end - 1]


def _scan_stream(stream, offset: int) -> QuoteScanner:
    if offset == 0:
        head = stream.read(len(_UTF8_BOM))
        # pyarrow skips a UTF-8 byte order mark, so the first field starts after it.
        scanner = QuoteScanner(len(head)) if head == _UTF8_BOM else QuoteScanner(0)
        if head != _UTF8_BOM:
            scanner.feed(head)
    else:
        scanner = QuoteScanner(offset, file_start=False)
    while chunk := stream.read(SCAN_CHUNK_SIZE):
        scanner.feed(chunk)
    return scanner


def find_unclosed_quote(open_stream, size: int | None) -> int | None:
    """Return the file offset of a double quote whose value the file never closes, or None.

    `open_stream` opens a new pyarrow input stream at the start of the file. With the file's
    `size`, the stream must be seekable: the scan then reads a tail of the file, and a longer
    one until a run of quotes settles the state or the tail is the whole file. Without it,
    as for a compressed file, see :func:`_find_in_stream`.
    """
    if size is None:
        return _find_in_stream(open_stream)
    tail = TAIL_SIZE
    while True:
        start = size - tail
        if start <= len(_UTF8_BOM):
            start = 0  # from the start, where a byte order mark is skipped
        stream = open_stream()
        stream.seek(start)
        scanner = _scan_stream(stream, start)
        opener = scanner.finish()
        if scanner.settled:
            return opener
        tail *= 8


def _find_in_stream(open_stream) -> int | None:
    """Scan a stream that cannot seek: read it whole, keep its last bytes, and scan those.

    The stream is read a second time, and scanned whole, only when its tail does not settle
    the state.
    """
    stream = open_stream()
    tail_chunks: collections.deque[bytes] = collections.deque()
    tail_size = total = 0
    while chunk := stream.read(SCAN_CHUNK_SIZE):
        tail_chunks.append(chunk)
        tail_size += len(chunk)
        total += len(chunk)
        while tail_size - len(tail_chunks[0]) >= TAIL_SIZE:
            tail_size -= len(tail_chunks.popleft())
    start = total - tail_size
    if start == 0 or start > len(_UTF8_BOM):
        scanner = _scan_stream(io.BytesIO(b"".join(tail_chunks)), start)
        opener = scanner.finish()
        if scanner.settled:
            return opener
    return _scan_stream(open_stream(), 0).finish()


def count_lines(stream, offset: int) -> tuple[int, int]:
    """Return the 1-based line of byte `offset` of `stream`, and the lines after that line.

    A line ends at ``\n``, ``\r\n`` or ``\r``, as pyarrow reads them, and a line break
    that ends the file ends the last line rather than starting an empty one.
    """
    before = after = 0
    position = 0
    last = b""
    while chunk := stream.read(SCAN_CHUNK_SIZE):
        if last == b"\r" and chunk.startswith(b"\n"):
            # A \r\n split between two chunks, whose \r was counted already. The offset is
            # that of a quote, so the \n is before or after it.
            if position < offset:
                before -= 1
            else:
                after -= 1
        cut = min(max(offset - position, 0), len(chunk))
        before += _line_breaks(chunk, 0, cut)
        after += _line_breaks(chunk, cut, len(chunk))
        position += len(chunk)
        last = chunk[-1:]
    if after == 0:
        return before + 1, 0
    # The first line break from the offset on ends the offset's own line. A last line without
    # a line break counts too.
    return before + 1, after - 1 + (last not in (b"\n", b"\r"))


def _line_breaks(data: bytes, start: int, end: int) -> int:
    """Return the number of line breaks in ``data[start:end]``, where ``\r\n`` counts as one."""
    return data.count(b"\n", start, end) + data.count(b"\r", start, end) - data.count(b"\r\n", start, end)
