"""Readers: a data file as a header plus a stream of Arrow batches, whatever its format.

- Delimited text (CSV, TSV, TXT; plain, ``.gz`` or single-file ``.zip``) streams through ``pyarrow.csv.open_csv``
  in blocks of :data:`BLOCK_BYTES` after :mod:`salesfolio.ingest.sniff` has chosen the encoding, delimiter and
  header row. Text that is not UTF-8, and space-aligned columns, pass through a streaming transcoder first.
  Every cell arrives as text; the importer types it.
- Workbooks (XLSX, XLSM, XLSB, XLS, ODS) are read with python-calamine row by row, :data:`SHEET_BATCH_ROWS` rows
  per batch; cells keep their types (numbers, dates, text).
- Parquet streams by row groups through ``pyarrow.parquet``; columns keep their types.

Rows are numbered as a spreadsheet shows them (:class:`SourceBatch.first_row`). A blank line in a text file is
kept as an empty row, so numbering stays true; the importer skips empty rows.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import io
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import pyarrow as pa
import pyarrow.csv as pacsv

from salesfolio.ingest import sniff
from salesfolio.ingest.aliases import is_known_header
from salesfolio.ingest.errors import IngestError, file_issue, row_issue
from salesfolio.ingest.mapping import FileOptions

BLOCK_BYTES = 4 << 20
"""Bytes of text parsed per batch (default 4 MiB, some 40,000 invoice lines)."""

SHEET_BATCH_ROWS = 50_000
"""Workbook rows per batch (default 50,000)."""

PARQUET_BATCH_ROWS = 65_536
"""Parquet rows per batch (default 65,536)."""

_UTF8 = ("utf-8", "utf-8-sig", "utf8", "ascii")


@dataclass
class SourceBatch:
    """A slice of a file: one array per requested source column and the spreadsheet row of its first record."""

    columns: list[pa.Array]
    first_row: int
    bytes_done: int

    @property
    def num_rows(self) -> int:
        """Rows in the batch."""
        return len(self.columns[0]) if self.columns else 0


@dataclass
class Source:
    """A file opened for import: what sniffing found and how to stream it.

    Subclasses implement :meth:`batches`; the attributes are shown in the import report.
    """

    path: Path
    display: str
    kind: str
    columns: list[str]
    header_row: int
    bytes_total: int
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    notes: list[str] = field(default_factory=list)
    decimal_hint: str | None = None

    def batches(self, positions: Sequence[int]) -> Iterator[SourceBatch]:
        """Stream the file, yielding the source columns at ``positions``."""
        raise NotImplementedError


# -- opening -----------------------------------------------------------------------------------------------------
def open_source(path: Path, display: str, options: FileOptions) -> Source:
    """Sniff ``path`` and return a :class:`Source` ready to stream.

    Raises
    ------
    IngestError
        For a file that cannot be read as data: too large, empty, header only, binary, an unreadable workbook
        or Parquet file, an archive with several data files, no header row.
    """
    size = path.stat().st_size
    if size > options.max_file_bytes:
        _fail("oversized", display, size=f"{size:,}", limit=f"{options.max_file_bytes:,}")
    if size == 0:
        _fail("empty_file", display)
    with path.open("rb") as fh:
        head = fh.read(16)
    kind = sniff.magic_kind(head)
    suffixes = [s.lower() for s in path.suffixes]
    name = path.name.lower()
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if "[Content_Types].xml" in names or name.endswith(sniff.EXCEL_EXTENSIONS):
            return ExcelSource.open(path, display, options, size)
        return _open_zip_member(path, display, options, size, names)
    if kind == "ole" or (name.endswith(sniff.EXCEL_EXTENSIONS) and kind != "gzip"):
        return ExcelSource.open(path, display, options, size)
    if kind == "parquet" or name.endswith(sniff.PARQUET_EXTENSIONS):
        return ParquetSource.open(path, display, size)
    if kind == "gzip":
        inner = path.stem.lower()
        if inner.endswith(sniff.EXCEL_EXTENSIONS + sniff.PARQUET_EXTENSIONS):
            data = gzip.decompress(path.read_bytes())
            return _open_inner(path, display, options, size, inner, data)
        return TextSource.open(path, display, options, size, "gzip", None)
    if kind is not None:
        _fail("binary_file", display, what=f"it is {kind}")
    if not name.endswith(sniff.TEXT_EXTENSIONS) and suffixes and suffixes[-1] not in sniff.TEXT_EXTENSIONS:
        _fail("unsupported_format", display, ext=suffixes[-1])
    return TextSource.open(path, display, options, size, None, None)


def _open_zip_member(path: Path, display: str, options: FileOptions, size: int, names: list[str]) -> Source:
    files = [n for n in names if not n.endswith("/") and not n.startswith("__MACOSX") and "/." not in f"/{n}"]
    data_files = [n for n in files if n.lower().endswith(sniff.DATA_EXTENSIONS)]
    chosen = data_files or files
    if len(chosen) != 1:
        reason = (
            "the archive is empty"
            if not chosen
            else f"the archive holds {len(chosen)} data files ({', '.join(chosen[:5])}); put one data file in each"
        )
        _fail("bad_archive", display, reason=reason)
    member = chosen[0]
    if member.lower().endswith(sniff.EXCEL_EXTENSIONS + sniff.PARQUET_EXTENSIONS):
        with zipfile.ZipFile(path) as archive:
            data = archive.read(member)
        return _open_inner(path, display, options, size, member.lower(), data)
    return TextSource.open(path, display, options, size, "zip", member)


def _open_inner(path: Path, display: str, options: FileOptions, size: int, inner: str, data: bytes) -> Source:
    if inner.endswith(sniff.PARQUET_EXTENSIONS):
        return ParquetSource.open(path, display, size, data)
    return ExcelSource.open(path, display, options, size, data)


def _fail(code: str, display: str, **params: Any) -> None:
    raise IngestError([file_issue(code, display, **params)])


# -- delimited text ----------------------------------------------------------------------------------------------
class _Transcoder(io.RawIOBase):
    """A byte stream re-encoded to UTF-8 on the fly; for space-aligned columns, runs of blanks become tabs."""

    def __init__(self, raw: IO[bytes], encoding: str, whitespace: bool) -> None:
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")
        self._whitespace = whitespace
        self._pending = ""
        self._out = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def _convert(self, text: str) -> str:
        if not self._whitespace:
            return text
        text = re.sub(r"(?m)^[ \t]+|[ \t]+(?=\r?$)", "", text)
        return re.sub(r"[ \t]+", "\t", text)

    def _fill(self, want: int) -> None:
        while len(self._out) < want and not self._eof:
            chunk = self._raw.read(1 << 20)
            final = not chunk
            text = self._pending + self._decoder.decode(chunk, final=final)
            if final:
                self._eof, self._pending = True, ""
            elif self._whitespace:
                cut = text.rfind("\n") + 1
                text, self._pending = text[:cut], text[cut:]
            self._out += self._convert(text).encode("utf-8")

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        self._fill(len(view))
        n = min(len(view), len(self._out))
        view[:n] = self._out[:n]
        self._out = self._out[n:]
        return n


@dataclass
class TextSource(Source):
    """Delimited text, plain or compressed (see the module docstring)."""

    compression: str | None = None
    member: str | None = None
    skip_rows: int = 0

    @classmethod
    def open(
        cls, path: Path, display: str, options: FileOptions, size: int, compression: str | None, member: str | None
    ) -> TextSource:
        """Sniff the text file at ``path``; see :func:`open_source`."""
        source = cls(path, display, "text", [], 1, size, compression=compression, member=member)
        with source._raw() as (_, stream):
            head = stream.read(65536)
        if not head:
            _fail("empty_file", display)
        if sniff.looks_binary(head):
            _fail("binary_file", display, what="it holds binary data")
        if options.encoding:
            source.encoding = options.encoding
            source.notes.append(f"encoding {options.encoding} (from the mapping)")
        else:
            with source._raw() as (_, stream):
                guess = sniff.detect_encoding(stream.read)
            source.encoding = guess.encoding
            source.notes.append(f"encoding {guess.encoding} ({guess.reason})")
        with source._raw() as (_, stream):
            try:
                text, ended = sniff.read_sample_text(stream, source.encoding)
            except LookupError:
                reason = f"unknown encoding {source.encoding!r}"
                raise IngestError([file_issue("mapping_error", display, reason=reason)]) from None
        text = text.lstrip("\ufeff")
        lines = text.splitlines()
        if not text.strip():
            _fail("empty_file", display)
        skip = 0
        if lines and re.fullmatch(r"sep=.", lines[0].strip()):
            options_delimiter: str | None = lines[0].strip()[4]
            skip, lines = 1, lines[1:]
        else:
            options_delimiter = None
        if options.delimiter:
            delimiter = sniff.WHITESPACE if options.delimiter == "whitespace" else options.delimiter
            source.notes.append("delimiter from the mapping")
        elif options_delimiter:
            delimiter = options_delimiter
            source.notes.append("delimiter from the file's sep= line")
        else:
            delimiter, why = sniff.detect_delimiter(lines[:200])
            source.notes.append(f"delimiter {_delimiter_name(delimiter)} ({why})")
        source.delimiter = delimiter
        rows = _split(lines[:400], delimiter)
        header = _header_index(rows, options, display)
        if header is None:
            names = [f"column {i}" for i in range(1, max(len(r) for r in rows) + 1)]
            header_index = -1
        else:
            names = sniff.unique_names(rows[header])
            header_index = header
        data_rows = [r for r in rows[header_index + 1 :] if any(c.strip() for c in r)]
        if not data_rows and ended:
            _fail("header_only", display)
        source.columns = names
        source.skip_rows = skip + header_index + 1
        source.header_row = skip + header_index + 1
        source.decimal_hint = "," if delimiter == ";" else None
        return source

    def _raw(self) -> _Opened:
        return _Opened(self.path, self.compression, self.member)

    def batches(self, positions: Sequence[int]) -> Iterator[SourceBatch]:
        """Stream the file with ``pyarrow.csv.open_csv``; see the module docstring."""
        internal = [f"c{i}" for i in range(len(self.columns))]
        wanted = [internal[p] for p in positions]
        ragged: list[tuple[str, int, int]] = []

        def on_ragged(row: Any) -> str:
            ragged.append((row.text, row.actual_columns, row.expected_columns))
            return "skip"

        whitespace = self.delimiter == sniff.WHITESPACE
        assert self.encoding is not None  # noqa: S101 - set by open()
        with self._raw() as (raw, stream):
            if whitespace or self.encoding.lower() not in _UTF8:
                stream = io.BufferedReader(_Transcoder(stream, self.encoding, whitespace), 1 << 20)
            options: dict[str, Any] = {
                "read_options": pacsv.ReadOptions(
                    column_names=internal, skip_rows=self.skip_rows, block_size=BLOCK_BYTES
                ),
                "parse_options": pacsv.ParseOptions(
                    delimiter="\t" if whitespace else str(self.delimiter),
                    quote_char=False if whitespace else '"',
                    newlines_in_values=not whitespace,
                    ignore_empty_lines=False,
                    invalid_row_handler=on_ragged,
                ),
                "convert_options": pacsv.ConvertOptions(
                    column_types=dict.fromkeys(internal, pa.string()),
                    include_columns=wanted,
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            }
            done = 0
            reader = None
            while True:
                try:
                    if reader is None:
                        reader = pacsv.open_csv(stream, **options)  # reads the first block
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                    if "UTF8" in str(exc) or isinstance(exc, UnicodeDecodeError):
                        _fail("bad_encoding", self.display, row=self._bad_bytes_row(), encoding=self.encoding)
                    _fail("unparsable_text", self.display, reason=str(exc).splitlines()[0])
                if ragged:
                    self._report_ragged(len(internal))
                yield SourceBatch(batch.columns, self.header_row + 1 + done, raw.tell())
                done += batch.num_rows
        if ragged:
            self._report_ragged(len(internal))

    def _bad_bytes_row(self) -> int:
        """The first line whose bytes do not decode (a slow pass, on the error path only)."""
        with self._raw() as (_, stream):
            for number, line in enumerate(stream, start=1):
                try:
                    line.decode(self.encoding or "utf-8")
                except UnicodeDecodeError:
                    return number
        return self.header_row

    def _report_ragged(self, expected: int) -> None:
        """Find the rows whose field count differs from the header's (a slow pass, on the error path only)."""
        issues = []
        with self._raw() as (_, stream):
            text = io.TextIOWrapper(stream, encoding=self.encoding or "utf-8", errors="replace", newline="")
            if self.delimiter == sniff.WHITESPACE:
                rows: Iterator[list[str]] = (line.split() for line in text)
            else:
                rows = csv.reader(text, delimiter=str(self.delimiter))
            for number, row in enumerate(rows, start=1):
                if number <= self.skip_rows or not row or len(row) == expected:
                    continue
                issues.append(row_issue("ragged_row", self.display, number, actual=len(row), expected=expected))
                if len(issues) >= 50:
                    break
        raise IngestError(issues or [row_issue("ragged_row", self.display, 0, actual="?", expected=expected)])


class _Opened:
    """The raw file (for progress: its position) and the decompressed byte stream over it."""

    def __init__(self, path: Path, compression: str | None, member: str | None) -> None:
        self.path, self.compression, self.member = path, compression, member
        self._closers: list[Any] = []

    def __enter__(self) -> tuple[IO[bytes], IO[bytes]]:
        raw = self.path.open("rb")
        self._closers.append(raw)
        stream: IO[bytes] = raw
        if self.compression == "gzip":
            stream = cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
        elif self.compression == "zip":
            archive = zipfile.ZipFile(raw)
            self._closers.append(archive)
            stream = archive.open(str(self.member))
        self._closers.append(stream)
        return raw, stream

    def __exit__(self, *exc: object) -> None:
        for closer in reversed(self._closers):
            closer.close()
        self._closers.clear()


def _split(lines: list[str], delimiter: str) -> list[list[str]]:
    if delimiter == sniff.WHITESPACE:
        return [line.split() for line in lines]
    return [list(r) for r in csv.reader(lines, delimiter=delimiter)]


def _delimiter_name(delimiter: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", sniff.WHITESPACE: "whitespace"}[delimiter]


def _header_index(rows: Sequence[Sequence[Any]], options: FileOptions, display: str) -> int | None:
    if not options.header:
        return None
    if options.header_row:
        if options.header_row > len(rows):
            _fail("mapping_error", display, reason=f"header_row {options.header_row} is past the rows read")
        return options.header_row - 1
    found = sniff.find_header([[_cell_text(c) for c in r] for r in rows], is_known_header)
    if found is None:
        first = next((r for r in rows if any(_cell_text(c) for c in r)), [])
        shown = ", ".join(_cell_text(c) for c in first[:5])
        _fail("no_header", display, rows=min(len(rows), sniff.HEADER_SEARCH_ROWS), first=f'"{shown}"')
    return found


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# -- workbooks ---------------------------------------------------------------------------------------------------
@dataclass
class ExcelSource(Source):
    """A workbook sheet read through python-calamine."""

    data: bytes | None = None
    header_index: int = 0

    @classmethod
    def open(cls, path: Path, display: str, options: FileOptions, size: int, data: bytes | None = None) -> ExcelSource:
        """Open the workbook, choose the sheet and find the header row; see :func:`open_source`."""
        from python_calamine import CalamineWorkbook

        try:
            book = CalamineWorkbook.from_filelike(io.BytesIO(data)) if data else CalamineWorkbook.from_path(str(path))
            names = list(book.sheet_names)
            chosen, rows = cls._choose(book, names, options, display)
        except IngestError:
            raise
        except Exception as exc:  # calamine raises its own error types for every kind of damage
            reason = str(exc).strip() or type(exc).__name__
            raise IngestError([file_issue("unreadable_excel", display, reason=reason)]) from None
        header = _header_index(rows, options, display)
        if header is None:
            width = max(len(r) for r in rows)
            columns = [f"column {i}" for i in range(1, width + 1)]
            header = -1
        else:
            columns = sniff.unique_names([_cell_text(c) for c in rows[header]])
        source = cls(path, display, "excel", columns, header + 1, size, sheet=chosen, data=data, header_index=header)
        source.notes.append(f"sheet {chosen!r}" + (" (from the mapping)" if options.sheet else " (first with data)"))
        if not any(any(_cell_text(c) for c in r) for r in rows[header + 1 :]) and len(rows) < 40:
            _fail("header_only", display)
        return source

    @staticmethod
    def _choose(book: Any, names: list[str], options: FileOptions, display: str) -> tuple[str, list[list[Any]]]:
        if options.sheet is not None:
            if options.sheet not in names:
                _fail("no_sheet", display, sheet=options.sheet, sheets=", ".join(names))
            candidates = [options.sheet]
        else:
            candidates = names
        for name in candidates:
            rows = []
            for row in book.get_sheet_by_name(name).iter_rows():
                rows.append(list(row))
                if len(rows) >= 40:
                    break
            if any(any(_cell_text(c) for c in r) for r in rows):
                return name, rows
        if options.sheet is not None:
            _fail("empty_file", display)
        _fail("no_data_sheet", display)
        raise AssertionError("unreachable")

    def batches(self, positions: Sequence[int]) -> Iterator[SourceBatch]:
        """Read the sheet row by row, :data:`SHEET_BATCH_ROWS` per batch, cells keeping their types."""
        from python_calamine import CalamineWorkbook

        data = self.data
        book = CalamineWorkbook.from_filelike(io.BytesIO(data)) if data else CalamineWorkbook.from_path(str(self.path))
        sheet = book.get_sheet_by_name(str(self.sheet))
        height = max(int(sheet.height or 1), 1)
        pending: list[list[Any]] = []
        first_row = self.header_index + 2
        for index, row in enumerate(sheet.iter_rows()):
            if index <= self.header_index:
                continue
            pending.append([row[p] if p < len(row) else None for p in positions])
            if len(pending) >= SHEET_BATCH_ROWS:
                yield SourceBatch(_columns(pending, len(positions)), first_row, self.bytes_total * index // height)
                first_row += len(pending)
                pending = []
        if pending:
            yield SourceBatch(_columns(pending, len(positions)), first_row, self.bytes_total)


def _columns(rows: list[list[Any]], width: int) -> list[pa.Array]:
    return [_typed([r[i] for r in rows]) for i in range(width)]


def _typed(cells: list[Any]) -> pa.Array:
    """One workbook column as the narrowest Arrow type that holds every cell (text when types mix)."""
    values = [None if (c is None or c == "") else c for c in cells]
    kinds = {type(v) for v in values if v is not None}
    if kinds and kinds <= {int, float}:
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    if kinds and kinds <= {dt.date, dt.datetime}:
        return pa.array([v.date() if isinstance(v, dt.datetime) else v for v in values], pa.date32())
    if kinds == {bool}:
        return pa.array(values, pa.bool_())
    return pa.array(
        [None if v is None else _cell_text(v) if not isinstance(v, dt.date) else _date_text(v) for v in values],
        pa.string(),
    )


def _date_text(value: dt.date) -> str:
    return (value.date() if isinstance(value, dt.datetime) else value).isoformat()


# -- Parquet -----------------------------------------------------------------------------------------------------
@dataclass
class ParquetSource(Source):
    """A Parquet file streamed by row groups."""

    data: bytes | None = None
    rows_total: int = 0

    @classmethod
    def open(cls, path: Path, display: str, size: int, data: bytes | None = None) -> ParquetSource:
        """Read the schema of the Parquet file at ``path``; see :func:`open_source`."""
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(io.BytesIO(data) if data else path)
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise IngestError([file_issue("unreadable_parquet", display, reason=str(exc).splitlines()[0])]) from None
        if meta.metadata.num_rows == 0:
            _fail("header_only", display)
        columns = sniff.unique_names(meta.schema_arrow.names)
        return cls(path, display, "parquet", columns, 1, size, data=data, rows_total=meta.metadata.num_rows)

    def batches(self, positions: Sequence[int]) -> Iterator[SourceBatch]:
        """Stream :data:`PARQUET_BATCH_ROWS` rows at a time, only the columns asked for."""
        import pyarrow.parquet as pq

        reader = pq.ParquetFile(io.BytesIO(self.data) if self.data else self.path)
        names = reader.schema_arrow.names
        wanted = [names[p] for p in positions]
        done = 0
        for batch in reader.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=sorted(set(wanted))):
            arrays = [batch.column(batch.schema.get_field_index(n)) for n in wanted]
            done += batch.num_rows
            yield SourceBatch(arrays, done - batch.num_rows + 2, self.bytes_total * done // max(self.rows_total, 1))
