"""Import issues: what went wrong, where (file, spreadsheet row, source column) and in words a user understands.

Every message the importer can give is declared once in :data:`MESSAGES` (a code and a template); the data
contract documentation lists them from there, and a future translation keys on the code.

A cell-level issue reads::

    invoices.csv, row 17, column "Data faktury" (date): "31.02.2024" is not a valid date (expected
    day.month.year, as in the rest of the column)

Rows are numbered as a spreadsheet shows them: the header is row 1 and the first data row is row 2 (for an
Excel sheet, the sheet's own row number).

>>> print(cell_issue("bad_date", "a.csv", 3, "Data", "date", "31.02.2024", expected="d.m.y"))
a.csv, row 3, column "Data" (date): "31.02.2024" is not a valid date (expected d.m.y, as in the rest of the column)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MAX_ISSUES_PER_FILE = 50
"""Issues listed per file; the rest are counted (default 50)."""

MAX_VALUE_SHOWN = 60
"""Characters of a bad value quoted in a message; longer values are cut with an ellipsis."""

MESSAGES: dict[str, str] = {
    # -- the run and its files -------------------------------------------------------------------------------
    "not_found": "{file}: no such file or folder",
    "no_data_files": (
        "{file}: the folder holds no data files (CSV, TXT, TSV, XLSX, XLS, Parquet, optionally .gz or .zip)"
    ),
    "unsupported_format": (
        "{file}: files ending in {ext} are not supported; save it as CSV, XLSX or Parquet (optionally .gz or .zip)"
    ),
    "oversized": (
        "{file}: the file is {size} bytes, above the limit of {limit} bytes; split it or raise max_file_bytes in a "
        "mapping file"
    ),
    "empty_file": "{file}: the file is empty",
    "header_only": "{file}: the file has a header row but no data rows",
    "binary_file": "{file}: this is not a text file ({what}); export the data as CSV, XLSX or Parquet",
    "unreadable_excel": "{file}: cannot be read as an Excel workbook ({reason})",
    "unreadable_parquet": "{file}: cannot be read as a Parquet file ({reason})",
    "bad_archive": "{file}: {reason}",
    "no_sheet": "{file}: there is no sheet {sheet!r}; the workbook has: {sheets}",
    "no_data_sheet": "{file}: every sheet of the workbook is empty",
    "no_header": (
        "{file}: no header row found in the first {rows} rows (the first row holds {first}); add a header row or "
        'set header = false in a mapping file and name the columns "column 1", "column 2", ...'
    ),
    "bad_encoding": (
        "{file}: row {row} holds bytes that are not valid {encoding}; save the file as UTF-8 or set encoding in a "
        "mapping file"
    ),
    "ragged_row": "the row has {actual} fields but the header has {expected}",
    "unparsable_text": "{file}: cannot be read as delimited text ({reason})",
    "ambiguous_table": (
        "cannot tell which table {file} holds: it matches {first} ({first_n} columns) and {second} ({second_n} "
        "columns); pass --table"
    ),
    "unknown_table": (
        "cannot tell which table {file} holds: none of its columns ({columns}) is a known column name; pass --table "
        "and map the columns in a mapping file"
    ),
    "missing_column": (
        "{file}: no column for {table}.{column} (required); the file has: {columns}; map one with a mapping file{hint}"
    ),
    "mapping_unknown_source": (
        "{file}: the mapping names column {source!r}, which the file does not have; the file has: {columns}"
    ),
    "mapping_error": "{file}: {reason}",
    "mapping_target": (
        "{file}: the mapping maps column {source!r} to {target!r}, which {table} does not have; it has: {targets}"
    ),
    "unknown_table_name": "{file}: unknown table {table!r}; the data contract has: {tables}",
    # -- cells -----------------------------------------------------------------------------------------------
    "bad_date": "is not a valid date (expected {expected}, as in the rest of the column)",
    "date_order_flip": (
        "is not a valid date: the rows before it read as {expected}; set date_format in a mapping file"
    ),
    "date_out_of_range": "is outside the accepted dates ({first} to {last})",
    "bad_number": "is not a number (expected {expected}, as in the rest of the file)",
    "bad_integer": "is not a whole number",
    "bad_bool": "is not a yes/no value (expected one of: {expected})",
    "below_minimum": "is below the minimum of {minimum} for {table}.{column}",
    "above_maximum": "is above the maximum of {maximum} for {table}.{column}",
    "nul_byte": "contains a NUL byte (\\x00); binary data is not accepted",
    "too_long": "is {length} characters long; the limit is {limit}",
    "missing_value": "is empty; {table}.{column} is required",
    "missing_client": 'is empty; invoice lines need a client (on_missing_client = "error" in the mapping)',
    # -- across rows and files -------------------------------------------------------------------------------
    "duplicate_key": "{key} is also {other}",
    "duplicate_invoice": "invoice {invoice} is also in {other}; an invoice must come from one file",
    "unknown_client": (
        "is not a known client (not in the warehouse nor in this import's clients); import the clients "
        "first or add them to this import"
    ),
    # -- summaries -------------------------------------------------------------------------------------------
    "more_issues": "{file}: {count} more issues not listed (only the first {limit} per file are)",
}
"""Every error the importer can give, by code. Cell-level messages follow the location and the value."""

WARNINGS: dict[str, str] = {
    "dictionary": (
        "{file} looks like a data dictionary (its name says so), not data: skipped; name a table for it in a "
        "mapping file to import it anyway"
    ),
    "skipped_by_mapping": "{file}: skipped (skip = true in the mapping)",
    "no_client": (
        "{count} lines ({share}) have no client and were skipped (retail or cash sales); set "
        'on_missing_client = "error" in a mapping file to stop instead'
    ),
    "returns": "{count} lines ({share}) have a negative quantity or revenue: returns and credit notes, kept",
    "exact_duplicates": (
        "{count} lines repeat another line of the same invoice exactly; kept, each with its own line number"
    ),
    "formula": (
        "{count} text cells start like a spreadsheet formula (e.g. {example}); stored as plain text, never evaluated"
    ),
    "product_matched": 'product "{source}" read as "{target}" ({count} rows): the IDs differ only by spaces or case',
    "created": "{count} {table} created from this import's {source} (IDs not in the warehouse nor in the import)",
    "no_probability": (
        "{count} open deals are in stages without a default probability ({stages}); set stage_probabilities in a "
        "mapping file"
    ),
    "closed_without_client": "{count} closed deals have no client; kept",
    "unknown_parent": "{count} clients name a parent that is not a known client ({examples}); kept",
    "empty_rows": "{count} empty rows skipped",
}
"""Every warning the importer can give, by code (a warning never stops an import)."""


def shown(value: object) -> str:
    """``value`` as quoted in a message: control characters escaped, cut to :data:`MAX_VALUE_SHOWN` characters."""
    text = str(value)
    if len(text) > MAX_VALUE_SHOWN:
        text = text[: MAX_VALUE_SHOWN - 1] + "…"
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


@dataclass(frozen=True)
class ImportIssue:
    """One problem found while importing, located as precisely as the problem allows.

    Parameters
    ----------
    file
        The file's name as the user gave it (a path relative to the folder imported, or the file name).
    row
        The spreadsheet row (header = row 1, first data row = row 2; the sheet's own row in a workbook), or
        ``None`` for a problem with the whole file.
    column
        The column's name as in the file (``None`` when the issue is not about one column).
    canonical
        The canonical column the source column maps to (``invoice_lines.date`` is given as ``date``).
    value
        The offending value as read (``None`` when there is none).
    message
        The whole sentence shown to the user, location included.
    code
        The message's code in :data:`MESSAGES`.
    """

    file: str
    row: int | None
    column: str | None
    canonical: str | None
    value: str | None
    message: str
    code: str = field(default="error")

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The issue as a plain dict (JSON-ready)."""
        return asdict(self)


def file_issue(code: str, file: str, **params: Any) -> ImportIssue:
    """An issue about a whole file, worded from :data:`MESSAGES` ``[code]``."""
    return ImportIssue(file, None, None, None, None, MESSAGES[code].format(file=file, **params), code)


def row_issue(code: str, file: str, row: int, *, value: str | None = None, **params: Any) -> ImportIssue:
    """An issue about one row (not one cell): ``file, row N: <message>``."""
    return ImportIssue(file, row, None, None, value, f"{file}, row {row}: {MESSAGES[code].format(**params)}", code)


def cell_issue(
    code: str, file: str, row: int | None, source: str, canonical: str | None, value: object, **params: Any
) -> ImportIssue:
    """An issue about one cell: ``file, row N, column "Source" (canonical): "value" <message>``."""
    where = file if row is None else f"{file}, row {row}"
    label = f'column "{source}"' + (f" ({canonical})" if canonical and canonical != source else "")
    text = "" if value is None else shown(value)
    quoted = '""' if value is None else f'"{text}"'
    message = f"{where}, {label}: {quoted} {MESSAGES[code].format(**params)}"
    return ImportIssue(file, row, source, canonical, None if value is None else str(value), message, code)


class IssueLog:
    """The issues of one file, capped at ``limit`` listed (default :data:`MAX_ISSUES_PER_FILE`), the rest counted.

    >>> log = IssueLog("a.csv", limit=1)
    >>> log.add(file_issue("empty_file", "a.csv")); log.add(file_issue("empty_file", "a.csv"))
    >>> [i.code for i in log.all()]
    ['empty_file', 'more_issues']
    """

    def __init__(self, file: str, limit: int = MAX_ISSUES_PER_FILE) -> None:
        self.file = file
        self.limit = limit
        self.listed: list[ImportIssue] = []
        self.unlisted = 0

    def __len__(self) -> int:
        return len(self.listed) + self.unlisted

    @property
    def room(self) -> int:
        """How many more issues will be listed."""
        return max(self.limit - len(self.listed), 0)

    def add(self, issue: ImportIssue) -> None:
        """List ``issue`` while there is room, else count it."""
        if len(self.listed) < self.limit:
            self.listed.append(issue)
        else:
            self.unlisted += 1

    def count_more(self, n: int) -> None:
        """Count ``n`` issues that were not built (the caller listed as many as :attr:`room` allowed)."""
        self.unlisted += max(n, 0)

    def all(self) -> list[ImportIssue]:
        """The listed issues in row order (issues about the whole file first), plus one counting the rest."""
        listed = sorted(self.listed, key=lambda issue: issue.row or 0)
        if not self.unlisted:
            return listed
        return [*listed, file_issue("more_issues", self.file, count=self.unlisted, limit=self.limit)]


class IngestError(Exception):
    """An import that cannot go ahead; :attr:`issues` says exactly why (the message shows the first ten).

    Parameters
    ----------
    issues
        The problems found, in file and row order.
    """

    def __init__(self, issues: list[ImportIssue]) -> None:
        self.issues = list(issues)
        lines = [str(i) for i in self.issues[:10]]
        if len(self.issues) > 10:
            lines.append(f"... and {len(self.issues) - 10} more")
        super().__init__("\n".join(lines) if lines else "the import failed")
