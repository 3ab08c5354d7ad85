"""Turning source cells into typed values, a whole Arrow batch at a time (pyarrow.compute and NumPy, no row loops).

Methods and defaults:

- Text: trimmed; an empty cell is missing. Numbers read into text columns lose a trailing ``.0`` in ID columns
  (``17850.0`` -> ``"17850"``).
- Numbers (:func:`parse_numbers`): spaces, no-break spaces and apostrophes are thousands separators; a currency
  code or sign at either end is dropped (``zł``, ``PLN``, ``EUR``, ``$``, ...); ``(12,50)`` and SAP's ``12,50-``
  are negative; ``45%`` is 0.45. The decimal mark is one per file (:func:`detect_decimal`): a comma when numbers
  like ``2,55`` or ``1.234,5`` outnumber ones like ``2.55`` or ``1,234.5``; undecided files follow the mapping,
  then the delimiter (``;`` -> comma, else point). The other mark is a thousands separator and is only accepted
  in groups of three (``1.5`` in a decimal-comma file is an error, not 15).
- Dates (:class:`DateFormat`): one format per column, chosen from the first batch of values: ISO
  ``YYYY-MM-DD`` (also with ``/`` or ``.``), ``YYYYMMDD``, ``D.M.YYYY`` / ``M/D/YYYY`` / ``D-M-YY``, day and month
  name (``5 Jan 2024``, ``Jan 5, 2024``, ``5 stycznia 2024``) or Excel serial numbers (10000-80000, i.e. 1927 to
  2119). A time after the date is cut off. Day-first or month-first: a first part above 12 proves day-first, a
  second part above 12 month-first; when no value decides, the mapping's ``date_format``, then ``.`` as
  separator (day-first), then the file's hint (decimal comma -> day-first, else month-first) decides, and the
  report says which. Two-digit years: 00-69 -> 2000s, 70-99 -> 1900s (as POSIX ``%y``).
- Yes/no (:func:`parse_bools`): true/false, yes/no, y/n, t/f, 1/0, tak/nie, x, won/lost, wygrana/przegrana.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from salesfolio.ingest.mapping import DateOrder

NULL_STRING = pa.scalar(None, pa.string())

_SPACES = r"[\s\x{00a0}\x{202f}']"
_CURRENCY = r"(?i)^(?:pln|zł|zl|eur|usd|gbp|chf|[$€£])|(?:pln|zł|zl|eur|usd|gbp|chf|[$€£%])$"
_VALID_NUMBER = {
    ",": r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d*)?(?:[eE][+-]?\d+)?$|^[+-]?,\d+$",
    ".": r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][+-]?\d+)?$|^[+-]?\.\d+$",
}
_PLAIN_NUMBER = {",": r"^-?\d+(?:,\d+)?$", ".": r"^-?\d+(?:\.\d+)?$"}
_DECIMAL_EVIDENCE = {
    ",": r"\d,\d{1,2}$|\d,\d{4,}$|\.\d{3},\d|^[+-]?0,\d|\d\.\d{3}\.\d{3}",
    ".": r"\d\.\d{1,2}$|\d\.\d{4,}$|,\d{3}\.\d|^[+-]?0\.\d|\d,\d{3},\d{3}",
}
NUMBER_STYLE = {",": "decimal comma, e.g. 1 234,56", ".": "decimal point, e.g. 1,234.56"}

TRUE_WORDS = ("true", "t", "yes", "y", "1", "tak", "x", "won", "prawda", "wygrana")
FALSE_WORDS = ("false", "f", "no", "n", "0", "nie", "lost", "fałsz", "falsz", "przegrana")


# -- text ------------------------------------------------------------------------------------------------------
def as_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Any Arrow array as trimmed text, empty cells missing; integral floats without ``.0``."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_floating(arr.type):
        integral = pc.fill_null(pc.and_(pc.equal(pc.floor(arr), arr), pc.less(pc.abs(arr), 1e15)), False)
        whole = pc.cast(pc.if_else(integral, arr, pa.scalar(None, arr.type)), pa.int64(), safe=False)
        arr = pc.if_else(integral, pc.cast(whole, pa.string()), pc.cast(arr, pa.string()))
    elif pa.types.is_timestamp(arr.type) or pa.types.is_date64(arr.type):
        arr = pc.cast(pc.cast(arr, pa.date32()), pa.string())
    elif not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    trimmed = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(trimmed, ""), NULL_STRING, trimmed)


def normalise_ids(text: pa.Array) -> pa.Array:
    """IDs as strings: ``17850.0`` -> ``17850`` (spreadsheets and pandas turn integer IDs into floats)."""
    return pc.replace_substring_regex(text, r"^([+-]?\d+)\.0+$", r"\1")


# -- numbers ---------------------------------------------------------------------------------------------------
def _number_core(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    percent = pc.fill_null(pc.ends_with(text, "%"), False)
    core = pc.replace_substring_regex(text, _SPACES, "")
    core = pc.replace_substring_regex(core, _CURRENCY, "")
    core = pc.replace_substring_regex(core, r"^\((.*)\)$", r"-\1")
    core = pc.replace_substring_regex(core, r"^([^-].*)-$", r"-\1")
    return core, percent


def detect_decimal(samples: list[pa.Array]) -> tuple[str | None, str]:
    """The decimal mark the sampled number cells use (``None`` when they do not tell), and the evidence."""
    votes = {",": 0, ".": 0}
    for text in samples:
        core, _ = _number_core(text)
        for mark, pattern in _DECIMAL_EVIDENCE.items():
            votes[mark] += int(
                pc.sum(pc.cast(pc.fill_null(pc.match_substring_regex(core, pattern), False), pa.int64())).as_py() or 0
            )
    if votes[","] > votes["."]:
        return ",", f"{votes[',']} numbers like 2,55 or 1.234,5"
    if votes["."] > votes[","]:
        return ".", f"{votes['.']} numbers like 2.55 or 1,234.5"
    return None, "no number tells"


def parse_numbers(text: pa.Array, decimal: str) -> tuple[pa.Array, pa.Array]:
    """Parse trimmed text cells into float64; return the values and a mask of cells that are not numbers."""
    plain_number = pc.match_substring_regex(text, _PLAIN_NUMBER[decimal])
    if pc.all(pc.fill_null(plain_number, True)).as_py():  # the common case: no separators, signs or symbols
        digits = text if decimal == "." else pc.replace_substring(text, ",", ".")
        return pc.cast(digits, pa.float64()), pa.array(np.zeros(len(text), dtype=bool))
    core, percent = _number_core(text)
    valid = pc.fill_null(pc.match_substring_regex(core, _VALID_NUMBER[decimal]), False)
    thousands = "." if decimal == "," else ","
    plain = pc.replace_substring(core, thousands, "")
    if decimal == ",":
        plain = pc.replace_substring(plain, ",", ".")
    plain = pc.replace_substring_regex(plain, r"\.$", "")
    values = pc.cast(pc.if_else(valid, plain, NULL_STRING), pa.float64())
    values = pc.if_else(percent, pc.divide(values, 100.0), values)
    bad = pc.and_(pc.is_valid(text), pc.invert(valid))
    return values, bad


def to_float(values: pa.Array, decimal: str) -> tuple[pa.Array, pa.Array]:
    """A column of any type as float64 (text parsed with ``decimal``), with the mask of unreadable cells."""
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type) or pa.types.is_decimal(values.type):
        return pc.cast(values, pa.float64()), pa.array(np.zeros(len(values), dtype=bool))
    if pa.types.is_boolean(values.type):
        return pc.cast(values, pa.float64()), pa.array(np.zeros(len(values), dtype=bool))
    return parse_numbers(as_text(values), decimal)


def to_int(values: pa.Array, decimal: str) -> tuple[pa.Array, pa.Array, pa.Array]:
    """A column as int64: values, unreadable cells, and cells that are numbers but not whole."""
    floats, bad = to_float(values, decimal)
    fractional = pc.fill_null(pc.not_equal(pc.floor(floats), floats), False)
    whole = pc.if_else(fractional, pa.scalar(None, pa.float64()), floats)
    return pc.cast(whole, pa.int64(), safe=False), bad, fractional


# -- yes/no ----------------------------------------------------------------------------------------------------
def to_bool(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """A column as bool (words in :data:`TRUE_WORDS` / :data:`FALSE_WORDS`), with the mask of other cells."""
    if pa.types.is_boolean(values.type):
        return values, pa.array(np.zeros(len(values), dtype=bool))
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        known = pc.fill_null(pc.is_in(values, pa.array([0, 1], values.type)), False)
        return pc.if_else(known, pc.not_equal(values, 0), pa.scalar(None, pa.bool_())), pc.and_(
            pc.is_valid(values), pc.invert(known)
        )
    text = pc.utf8_lower(as_text(values))
    is_true = pc.fill_null(pc.is_in(text, pa.array(TRUE_WORDS)), False)
    is_false = pc.fill_null(pc.is_in(text, pa.array(FALSE_WORDS)), False)
    result = pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_())))
    bad = pc.and_(pc.is_valid(text), pc.invert(pc.or_(is_true, is_false)))
    return result, bad


# -- dates -----------------------------------------------------------------------------------------------------
DateKind = Literal["iso", "compact", "numeric", "day_month_name", "month_name_day", "serial", "typed"]

_DATE_PATTERNS: dict[str, str] = {
    "iso": r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?:[T ].*)?$",
    "compact": r"^(?P<y>(?:19|20)\d{2})(?P<m>[01]\d)(?P<d>[0-3]\d)(?:[T ]?\d{2}:?\d{2}(?::?\d{2}(?:\.\d+)?)?)?$",
    "numeric": r"^(?P<a>\d{1,2})(?P<s>[./-])(?P<b>\d{1,2})[./-](?P<y>\d{4}|\d{2})(?:[T ,].*)?$",
    "day_month_name": r"^(?P<d>\d{1,2})[-\s.]*(?P<mon>[^\d\s.,-]{3,})\.?[-\s.,]*(?P<y>\d{4}|\d{2})(?:[T ,].*)?$",
    "month_name_day": r"^(?P<mon>[^\d\s.,-]{3,})\.?\s+(?P<d>\d{1,2}),?\s+(?P<y>\d{4})(?:[T ,].*)?$",
    "serial": r"^(?P<n>\d{5})(?:\.\d+)?$",
}
_MONTH_PREFIXES = (
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
    "sty",
    "lut",
    "kwi",
    "maj",
    "cze",
    "lip",
    "sie",
    "wrz",
    "paź",
    "paz",
    "lis",
    "gru",
)
_MONTH_NUMBERS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 4, 5, 6, 7, 8, 9, 10, 10, 11, 12)
_ORDER_WORDS = {"dmy": "day{s}month{s}year", "mdy": "month{s}day{s}year", "ymd": "year{s}month{s}day"}
SERIAL_RANGE = (10_000, 80_000)
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")


@dataclass(frozen=True)
class DateFormat:
    """The date format of one column and why it was chosen.

    Parameters
    ----------
    kind
        Which pattern family (see the module docstring).
    order
        ``dmy`` or ``mdy`` for numeric dates (``None`` otherwise).
    separator
        The separator seen (for the description).
    reason
        Why the order was chosen (proven by the values, or which hint decided).
    decided
        False when the values did not decide the order (a later value may contradict the choice).
    """

    kind: DateKind
    order: DateOrder | None = None
    separator: str = "-"
    reason: str = ""
    decided: bool = True

    @property
    def expected(self) -> str:
        """The format in words, as messages quote it (``day.month.year``)."""
        if self.kind == "numeric" and self.order:
            return _ORDER_WORDS[self.order].format(s=self.separator)
        return {
            "iso": "year-month-day",
            "compact": "yyyymmdd",
            "numeric": "day.month.year",
            "day_month_name": "day month-name year",
            "month_name_day": "month-name day, year",
            "serial": "an Excel date serial number",
            "typed": "a date",
        }[self.kind]

    def describe(self) -> str:
        """The format and the reason, as the report shows it."""
        return f"{self.expected} ({self.reason})" if self.reason else self.expected


def _matches(text: pa.Array, kind: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(text, _DATE_PATTERNS[kind]), False)


def _count(mask: pa.Array) -> int:
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)


def detect_date_format(values: pa.Array, order_hint: DateOrder | None, hint_reason: str) -> DateFormat | None:
    """Choose the date format of a column from a sample of its cells (``None`` when the sample has no value).

    ``order_hint`` and ``hint_reason`` settle numeric dates whose values leave day and month undecided.
    """
    if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type):
        return DateFormat("typed")
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        return DateFormat("serial", reason="numbers in a date column")
    text = pc.unique(as_text(values)).drop_null()
    if len(text) == 0:
        return None
    shares = {kind: _count(_matches(text, kind)) for kind in _DATE_PATTERNS}
    kind = max(shares, key=lambda k: shares[k])
    if shares[kind] == 0:
        return DateFormat("iso", reason="no value looks like a date")
    if kind == "serial":
        n = pc.cast(pc.utf8_slice_codeunits(pc.filter(text, _matches(text, "serial")), 0, 5), pa.int64())
        if pc.min(n).as_py() < SERIAL_RANGE[0] or pc.max(n).as_py() > SERIAL_RANGE[1]:
            return DateFormat("iso", reason="numbers outside the Excel date range")
        return DateFormat("serial", reason="Excel serial numbers")
    if kind != "numeric":
        return DateFormat(kind)  # type: ignore[arg-type]
    parts = pc.extract_regex(pc.filter(text, _matches(text, "numeric")), _DATE_PATTERNS["numeric"])
    first = pc.cast(pc.struct_field(parts, "a"), pa.int32())
    second = pc.cast(pc.struct_field(parts, "b"), pa.int32())
    separator = str(pc.struct_field(parts, "s")[0].as_py())
    day_first = _count(pc.greater(first, 12))
    month_first = _count(pc.greater(second, 12))
    if day_first and month_first:
        order: DateOrder = "dmy" if day_first >= month_first else "mdy"
        return DateFormat("numeric", order, separator, f"mixed: {max(day_first, month_first)} values decide")
    if day_first:
        return DateFormat("numeric", "dmy", separator, "a first part above 12 was seen")
    if month_first:
        return DateFormat("numeric", "mdy", separator, "a second part above 12 was seen")
    if order_hint in ("dmy", "mdy"):
        return DateFormat("numeric", order_hint, separator, f"no day above 12 seen; {hint_reason}", decided=False)
    if separator == ".":
        return DateFormat(
            "numeric", "dmy", separator, "no day above 12 seen; day.month is the convention with dots", decided=False
        )
    return DateFormat("numeric", order_hint or "mdy", separator, f"no day above 12 seen; {hint_reason}", decided=False)


def _ints(parts: pa.Array, name: str) -> np.ndarray:
    field = pc.struct_field(parts, name)
    numbers = pc.cast(pc.if_else(pc.equal(field, ""), NULL_STRING, field), pa.int64())
    return np.asarray(pc.fill_null(numbers, 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _build_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray, ok: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    month_ok = (month >= 1) & (month <= 12) & (year >= 1) & (year <= 9999)
    y = np.where(ok & month_ok, year, 1970)
    m = np.where(ok & month_ok, month, 1)
    start = (y - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (m - 1)
    length = ((start + 1).astype("datetime64[D]") - start.astype("datetime64[D]")).astype(np.int64)
    valid = ok & month_ok & (day >= 1) & (day <= length)
    days = start.astype("datetime64[D]") + np.where(valid, day - 1, 0)
    return pa.array(days.astype(np.int32), type=pa.date32(), mask=~valid), valid


def parse_dates(values: pa.Array, fmt: DateFormat) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Parse a column with ``fmt``: dates, the mask of unreadable cells, and the mask of flipped cells.

    Flipped cells are valid only in the other day/month order: they contradict an order chosen by a hint.
    """
    n = len(values)
    none = pa.array(np.zeros(n, dtype=bool))
    if pa.types.is_date32(values.type):
        return values, none, none
    if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type):
        return pc.cast(values, pa.date32()), none, none
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        serial = np.asarray(pc.fill_null(pc.cast(values, pa.float64()), 0).to_numpy(zero_copy_only=False))
        ok = np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False)) & (serial >= 61) & (serial < 2958466)
        days = _EXCEL_EPOCH + np.where(ok, np.floor(serial), 0).astype("timedelta64[D]")
        dates = pa.array(days.astype(np.int32), type=pa.date32(), mask=~ok)
        return dates, pc.and_(pc.is_valid(values), pa.array(~ok)), none
    text = as_text(values)
    present = np.asarray(pc.is_valid(text).to_numpy(zero_copy_only=False))
    if fmt.kind == "serial":
        numbers, bad = parse_numbers(text, ".")
        dates, bad_serial, _ = parse_dates(numbers, fmt)
        return dates, pc.or_(bad, bad_serial), none
    pattern = _DATE_PATTERNS["iso" if fmt.kind == "typed" else fmt.kind]
    parts = pc.extract_regex(text, pattern)
    matched = np.asarray(pc.is_valid(parts).to_numpy(zero_copy_only=False))
    year = _ints(parts, "y")
    if fmt.kind in ("numeric", "day_month_name"):
        year = np.where(year < 100, np.where(year < 70, year + 2000, year + 1900), year)
    flipped = np.zeros(n, dtype=bool)
    if fmt.kind == "numeric":
        first, second = _ints(parts, "a"), _ints(parts, "b")
        day, month = (first, second) if fmt.order == "dmy" else (second, first)
        dates, valid = _build_dates(year, month, day, matched)
        _, valid_swapped = _build_dates(year, day, month, matched)
        flipped = ~valid & valid_swapped
    elif fmt.kind in ("day_month_name", "month_name_day"):
        prefix = pc.utf8_slice_codeunits(pc.utf8_lower(pc.struct_field(parts, "mon")), 0, 3)
        index = pc.index_in(prefix, value_set=pa.array(_MONTH_PREFIXES))
        month = np.asarray(pc.fill_null(pc.take(pa.array(_MONTH_NUMBERS), index), 0).to_numpy(zero_copy_only=False))
        dates, valid = _build_dates(year, month.astype(np.int64), _ints(parts, "d"), matched)
    else:
        dates, valid = _build_dates(year, _ints(parts, "m"), _ints(parts, "d"), matched)
    bad = present & ~valid
    return dates, pa.array(bad & ~flipped), pa.array(bad & flipped)
