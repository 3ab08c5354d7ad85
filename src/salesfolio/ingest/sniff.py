"""Sniffing a file before reading it: its format, compression, text encoding, delimiter and header row.

Methods and defaults:

- Format from the magic bytes first (a workbook renamed ``.csv`` is still read as a workbook), the extension
  second. ``.gz`` and single-file ``.zip`` archives are opened transparently.
- Encoding (:func:`detect_encoding`): a byte-order mark wins (UTF-8, UTF-16); otherwise the text is read up to
  its first non-ASCII bytes and those are tried as strict UTF-8; failing that, a choice between cp1250 (Central
  European) and cp1252 (Western, a superset of latin-1 for text) by the characters each decoding produces:
  read as cp1250, Polish letters (``ł ś ż``) count for it and anything else non-ASCII against it; read as cp1252,
  letters count for it and symbols (``³ ¿ ¯``) against it; ties go to cp1250. charset-normalizer decides only
  when both code pages leave undefined bytes.
- Delimiter (:func:`detect_delimiter`): of ``, ; TAB |`` the one giving the same field count (above one) on
  most sampled lines, more fields winning ties; failing all, runs of spaces and tabs (CDNOW-style columns).
  An Excel ``sep=;`` first line is honoured.
- Header row (:func:`find_header`): the first of the first 30 rows with the most cells that are known column
  names; failing that, the first row whose cells are mostly non-numeric text and as wide as the data below it.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

TEXT_EXTENSIONS = (".csv", ".txt", ".tsv", ".tab", ".dat", ".psv")
EXCEL_EXTENSIONS = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
PARQUET_EXTENSIONS = (".parquet", ".pq")
COMPRESSED_EXTENSIONS = (".gz", ".zip")
DATA_EXTENSIONS = TEXT_EXTENSIONS + EXCEL_EXTENSIONS + PARQUET_EXTENSIONS
"""Extensions the importer reads (optionally followed by ``.gz``); a folder is imported as its files with these."""

SAMPLE_BYTES = 1 << 20
"""Bytes of decoded text sampled for the delimiter and the header row (default 1 MiB)."""

HEADER_SEARCH_ROWS = 30
"""Rows searched for the header (default 30)."""

DELIMITERS = (",", ";", "\t", "|")
WHITESPACE = " "
"""The delimiter value standing for 'runs of spaces and tabs'."""

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
    (b"PAR1", "parquet"),
    (b"\x1f\x8b", "gzip"),
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF document"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"SQLite format 3", "an SQLite database"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
    (b"BZh", "a bzip2 archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
)

_PL_LETTERS = set("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ")
_COMMON_SYMBOLS = set("€„”“‘’‚–—«»°§©®…•\u00a0")  # the same bytes in cp1250 and cp1252, common in any text


def magic_kind(head: bytes) -> str | None:
    """What the first bytes say the file is (``zip``, ``ole``, ``parquet``, ``gzip`` or a description)."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def looks_binary(head: bytes) -> bool:
    """True when ``head`` (the first bytes of a file claimed to be text) is binary, not text.

    UTF-16 text has a zero in every other byte; other text has at most a stray NUL (rejected later, cell by
    cell) and few control characters. Binary: at least 4 NUL bytes making over 1 % of the bytes (outside a UTF-16
    pattern), or over 5 % other control characters than tab, CR, LF and form feed.
    """
    if not head or head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or utf16_without_bom(head):
        return False
    nul = head.count(0)
    controls = sum(1 for b in head if 0 < b < 32 and b not in (9, 10, 12, 13))
    return (nul >= 4 and nul > len(head) / 100) or controls > len(head) / 20


def utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le`` / ``utf-16-be`` when every other byte of ``head`` is mostly zero (ASCII text in UTF-16)."""
    sample = head[: 4096 - 4096 % 2]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


@dataclass(frozen=True)
class EncodingGuess:
    """The encoding chosen and why (shown in the report)."""

    encoding: str
    reason: str


def detect_encoding(read: Callable[[int], bytes]) -> EncodingGuess:
    """Choose the text encoding of a stream read through ``read(n)`` (which this function consumes).

    See the module docstring for the method. Reads at most up to the first non-ASCII bytes plus 1 MiB.
    """
    head = read(SAMPLE_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return EncodingGuess("utf-8-sig", "UTF-8 byte-order mark")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return EncodingGuess("utf-16", "UTF-16 byte-order mark")
    bare16 = utf16_without_bom(head)
    if bare16:
        return EncodingGuess(bare16, "UTF-16 without byte-order mark (every other byte zero)")
    chunk = head
    while chunk.isascii():
        chunk = read(SAMPLE_BYTES)
        if not chunk:
            return EncodingGuess("utf-8", "ASCII only")
    start = next(i for i, b in enumerate(chunk) if b >= 128)
    window = chunk[max(start - 64, 0) :] + read(SAMPLE_BYTES)
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(window, final=False)
    except UnicodeDecodeError:
        decoded = codecs.getincrementaldecoder("utf-8")("replace").decode(window, final=False)
        invalid = decoded.count("\ufffd")
        if sum(1 for c in decoded if ord(c) > 127) - invalid > invalid:
            return EncodingGuess("utf-8", "mostly valid UTF-8")  # mixed: reading stops at the bad bytes
        return _code_page(window)
    return EncodingGuess("utf-8", "valid UTF-8")


def _code_page(window: bytes) -> EncodingGuess:
    # Each reading is scored: plausible characters minus twice the implausible ones. Read as cp1250 the text is
    # taken to be Polish: Polish letters are plausible, other non-ASCII letters and symbols are not. Read as
    # cp1252 any letter is plausible and symbols inside words are not. Ties go to cp1250 (the first users are
    # Polish: "ś" and "ć" read as "œ" and "æ" in cp1252 and nothing else tells them apart).
    scores: dict[str, int] = {}
    for encoding in ("cp1250", "cp1252"):
        text = window.decode(encoding, errors="replace")
        if "\ufffd" in text:
            continue
        high = [c for c in text if ord(c) > 127 and c not in _COMMON_SYMBOLS]
        plausible = (lambda c: c in _PL_LETTERS) if encoding == "cp1250" else str.isalpha
        good = sum(1 for c in high if plausible(c))
        scores[encoding] = good - 2 * (len(high) - good)
    if not scores:
        from charset_normalizer import from_bytes

        best = from_bytes(window).best()
        if best is not None and best.encoding:
            return EncodingGuess(str(best.encoding), "charset-normalizer (bytes undefined in cp1250 and cp1252)")
        return EncodingGuess("latin-1", "no better guess (every byte read as latin-1)")
    if scores.get("cp1250", -(10**9)) >= scores.get("cp1252", -(10**9)):
        return EncodingGuess("cp1250", "not UTF-8; Polish letters (cp1250)")
    return EncodingGuess("cp1252", "not UTF-8; Western European letters (cp1252, a superset of latin-1)")


def read_sample_text(stream: IO[bytes], encoding: str) -> tuple[str, bool]:
    """Decode up to :data:`SAMPLE_BYTES` of ``stream``; return the text and whether the stream ended."""
    raw = stream.read(SAMPLE_BYTES) or b""
    ended = len(raw) < SAMPLE_BYTES
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    text = decoder.decode(raw, final=ended)
    if not ended and "\n" in text:
        text = text[: text.rindex("\n") + 1]  # only whole lines
    return text, ended


def _field_counts(lines: Sequence[str], delimiter: str) -> list[int]:
    if delimiter == WHITESPACE:
        return [len(line.split()) for line in lines]
    return [len(row) for row in csv.reader(lines, delimiter=delimiter)]


def detect_delimiter(lines: Sequence[str]) -> tuple[str, str]:
    """Choose the delimiter of the sampled ``lines``; return it and the reason (see the module docstring)."""
    lines = [line for line in lines if line.strip()][:200]
    if not lines:
        return ",", "no lines to judge (comma assumed)"
    best: tuple[float, int, str] | None = None
    for delimiter in DELIMITERS:
        counts = _field_counts(lines, delimiter)
        mode, times = Counter(counts).most_common(1)[0]
        share = times / len(counts)
        if mode > 1 and share >= 0.6 and (best is None or (share, mode) > best[:2]):
            best = (share, mode, delimiter)
    if best is not None and best[0] >= 0.9:
        return best[2], "same field count on most lines"
    counts = _field_counts(lines, WHITESPACE)
    mode, times = Counter(counts).most_common(1)[0]
    if mode > 1 and times / len(counts) >= 0.9 and (best is None or times / len(counts) > best[0]):
        return WHITESPACE, "columns separated by runs of spaces"
    if best is not None:
        return best[2], "same field count on most lines"
    return ",", "one column only (comma assumed)"


_NUMBERISH = re.compile(r"^[\s+\-(]*[\d.,:/\s%]+[)\-]?\s*[a-zA-Z$€£zł]{0,3}$")


def _is_text_label(cell: str) -> bool:
    return bool(cell.strip()) and not _NUMBERISH.match(cell.strip())


def find_header(rows: Sequence[Sequence[str]], known: Callable[[str], bool]) -> int | None:
    """Index of the header among ``rows`` (the first rows of a file or sheet), or ``None`` when none looks like one.

    ``known(cell)`` tells whether a cell is a recognised column name (any table's alias).
    """
    rows = list(rows[:HEADER_SEARCH_ROWS])
    if not rows:
        return None
    hits = [sum(1 for c in row if known(str(c))) for row in rows]
    top = max(hits)
    if top >= 2 or (top == 1 and len(rows) == 1):
        return hits.index(top)
    widths = [sum(1 for c in row if str(c).strip()) for row in rows]
    typical = Counter(w for w in widths if w).most_common(1)
    if not typical:
        return None
    width = typical[0][0]
    for i, row in enumerate(rows):
        cells = [str(c) for c in row if str(c).strip()]
        labels = sum(1 for c in cells if _is_text_label(c))
        distinct = len({c.strip().lower() for c in cells}) == len(cells)
        if len(cells) >= max(width * 0.6, 1) and labels >= max(len(cells) * 0.7, 1) and distinct:
            return i
    return None


def unique_names(names: Sequence[str]) -> list[str]:
    """Header names made unique and non-empty: blanks become ``column N``, repeats get `` (2)``, `` (3)``, ..."""
    out: list[str] = []
    seen: Counter[str] = Counter()
    for i, raw in enumerate(names, start=1):
        name = str(raw).strip().lstrip("\ufeff") or f"column {i}"
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


DICTIONARY_NAME = re.compile(r"(^|[\s_.-])(data[\s_-]*)?(dictionary|readme|codebook|metadata|schema)($|[\s_.-])", re.I)


def looks_like_dictionary(path: Path) -> bool:
    """True for files whose name says they describe data rather than hold it (``data_dictionary.csv``)."""
    return bool(DICTIONARY_NAME.search(path.name.split(".")[0]))
