"""Validation rules: cells (types, bounds, dates, hostile text) and rows across files (duplicate keys).

Rules and defaults:

- Every cell that cannot be read as its column's type is an error naming file, row, source column and value.
- Bounds come from the data contract (probability 0..1, relationship and strategic fit 1..5, capacity, value,
  potential and hours >= 0).
- Dates before 1900-01-01 or more than a year after today are errors (expected close dates of open deals: up to
  five years ahead, as B2B deals run long).
- Text: a NUL byte is an error; a cell over :data:`MAX_CELL_CHARS` characters (Excel's own limit) is an error; a
  cell that starts like a spreadsheet formula (``=cmd|...``, ``@SUM(``) is stored as plain text with a warning.
  Text is never evaluated.
- Keys are unique within a file and across the files of a run (:func:`duplicate_keys`); both rows are named.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from salesfolio.contract import Table
from salesfolio.ingest.errors import MESSAGES, ImportIssue, IssueLog, cell_issue, shown
from salesfolio.ingest.staging import RunStaging

MAX_CELL_CHARS = 32_767
"""Longest text cell accepted (Excel's limit per cell)."""

EARLIEST_DATE = dt.date(1900, 1, 1)
FUTURE_DAYS = 366
"""Dates more than this many days after today are errors (default 366)."""

FUTURE_DAYS_EXPECTED_CLOSE = 5 * 366
"""The same limit for the expected close of open deals (default five years)."""

FORMULA = r"^=|^[@+\-]\s*[A-Za-z(]"


def today() -> dt.date:
    """Today's date (the one clock the importer reads: for the future-date check)."""
    return dt.date.today()


def mask_indices(mask: pa.Array) -> np.ndarray:
    """Positions where ``mask`` is true (nulls count as false)."""
    return np.flatnonzero(np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool))


def report_cells(
    log: IssueLog,
    mask: pa.Array,
    rows: np.ndarray,
    source: str,
    canonical: str,
    values: pa.Array,
    code: str,
    **params: object,
) -> int:
    """List an issue for each cell where ``mask`` is true (as many as ``log`` has room for); return the count."""
    where = mask_indices(mask)
    if len(where) == 0:
        return 0
    listed = where[: log.room]
    shown_values = pc.take(values, pa.array(listed, pa.int64())).to_pylist() if len(listed) else []
    for index, value in zip(listed, shown_values, strict=True):
        log.add(cell_issue(code, log.file, int(rows[index]), source, canonical, value, **params))
    log.count_more(len(where) - len(listed))
    return len(where)


def check_text(
    log: IssueLog, text: pa.Array, rows: np.ndarray, column: str, canonical: str
) -> tuple[pa.Array, int, str | None]:
    """Check text cells for NUL bytes and excessive length (errors) and formula-like starts (counted).

    Returns the mask of bad cells, the number of formula-like cells and the first of them.
    """
    nul = pc.fill_null(pc.match_substring(text, "\x00"), False)
    report_cells(log, nul, rows, column, canonical, text, "nul_byte")
    lengths = pc.utf8_length(text)
    long = pc.fill_null(pc.greater(lengths, MAX_CELL_CHARS), False)
    where = mask_indices(long)
    for index in where[: log.room]:
        value = str(text[int(index)].as_py())
        log.add(
            cell_issue(
                "too_long",
                log.file,
                int(rows[index]),
                column,
                canonical,
                value,
                length=f"{len(value):,}",
                limit=f"{MAX_CELL_CHARS:,}",
            )
        )
    log.count_more(len(where) - min(len(where), log.room))
    formula = pc.fill_null(pc.match_substring_regex(text, FORMULA), False)
    formulas = int(pc.sum(pc.cast(formula, pa.int64())).as_py() or 0)
    example = None
    if formulas:
        example = shown(text[int(mask_indices(formula)[0])].as_py())
    return pc.or_(nul, long), formulas, example


def check_bounds(
    log: IssueLog, spec: Table, name: str, values: pa.Array, rows: np.ndarray, source: str, shown: pa.Array | None
) -> pa.Array:
    """Errors for values outside the contract's bounds of column ``name``; returns the mask of such cells.

    ``shown`` holds the cells as read, quoted in the messages (default: the values).
    """
    column = spec.column(name)
    quoted = values if shown is None else shown
    bad = pa.array(np.zeros(len(values), dtype=bool))
    if column.minimum is not None:
        below = pc.fill_null(pc.less(values, column.minimum), False)
        report_cells(
            log,
            below,
            rows,
            source,
            name,
            quoted,
            "below_minimum",
            minimum=_number(column.minimum),
            table=spec.name,
            column=name,
        )
        bad = pc.or_(bad, below)
    if column.maximum is not None:
        above = pc.fill_null(pc.greater(values, column.maximum), False)
        report_cells(
            log,
            above,
            rows,
            source,
            name,
            quoted,
            "above_maximum",
            maximum=_number(column.maximum),
            table=spec.name,
            column=name,
        )
        bad = pc.or_(bad, above)
    return bad


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def check_dates(
    log: IssueLog, name: str, values: pa.Array, rows: np.ndarray, source: str, future_days: int = FUTURE_DAYS
) -> pa.Array:
    """Errors for dates before 1900 or more than ``future_days`` after today; returns the mask of such cells."""
    last = today() + dt.timedelta(days=future_days)
    early = pc.less(values, pa.scalar(EARLIEST_DATE, pa.date32()))
    outside = pc.fill_null(pc.or_(early, pc.greater(values, pa.scalar(last, pa.date32()))), False)
    report_cells(
        log,
        outside,
        rows,
        source,
        name,
        values,
        "date_out_of_range",
        first=EARLIEST_DATE.isoformat(),
        last=last.isoformat(),
    )
    return outside


def _key_text(key: Sequence[str], values: Sequence[object]) -> str:
    parts = [f'{k} "{shown(v)}"' if v is not None else f"{k} (empty)" for k, v in zip(key, values, strict=True)]
    return parts[0] if len(parts) == 1 else "key " + ", ".join(parts)


def duplicate_keys(stage: RunStaging, displays: Sequence[str], log_for: Callable[[int], IssueLog]) -> int:
    """Report rows whose key repeats an earlier row of the run (within a file or across files); return the count.

    Each repeat is reported on its own row and names the first row with the key. Invoice lines whose numbers
    were given by the import collide only when one invoice is spread over two files; that is reported once
    per invoice and file.
    """
    spec = stage.spec
    t = stage.table()
    key = list(spec.key)
    groups = t.group_by(key).aggregate(n=t.count())
    extra = groups.filter(groups.n > 1).n.sum().execute()
    repeated = groups.filter(groups.n > 1).count().execute()
    count = int(extra or 0) - int(repeated or 0)
    if count <= 0:
        return 0
    window = ibis.window(group_by=[t[k] for k in key], order_by=[t["_file"], t["_row"]])
    ranked = t.mutate(
        _rank=ibis.row_number().over(window),
        _first_file=t["_file"].first().over(window),
        _first_row=t["_row"].first().over(window),
    )
    repeats = ranked.filter(ranked["_rank"] > 0).order_by([ranked["_file"], ranked["_row"]])
    limit = 50 * max(len(displays), 1) + 50
    rows = repeats.select(*key, "_file", "_row", "_first_file", "_first_row").limit(limit).to_pyarrow().to_pylist()
    reported_invoices: set[tuple[int, object]] = set()
    for row in rows:
        file_index, first_file = int(row["_file"]), int(row["_first_file"])
        log = log_for(file_index)
        other = f"row {row['_first_row']}"
        other = f"in {displays[first_file]}, {other}" if first_file != file_index else f"on {other}"
        if spec.name == "invoice_lines" and first_file != file_index:
            marker = (file_index, row["invoice_id"])
            if marker in reported_invoices:
                continue
            reported_invoices.add(marker)
            message = MESSAGES["duplicate_invoice"].format(invoice=f'"{shown(row["invoice_id"])}"', other=other[3:])
        else:
            message = MESSAGES["duplicate_key"].format(key=_key_text(key, [row[k] for k in key]), other=other)
        log.add(
            ImportIssue(
                log.file,
                int(row["_row"]),
                None,
                ", ".join(key),
                None,
                f"{log.file}, row {row['_row']}: {message}",
                "duplicate_key",
            )
        )
    return count


def exact_duplicate_lines(stage: RunStaging) -> dict[int, int]:
    """Per file, the invoice lines that repeat another line of the same invoice in every column but line_no."""
    t = stage.table()
    columns = [c for c in stage.spec.names if c != "line_no"]
    groups = t.group_by(["_file", *columns]).aggregate(n=t.count())
    repeats = groups.filter(groups.n > 1)
    per_file = repeats.group_by("_file").aggregate(extra=(repeats.n - 1).sum()).to_pyarrow().to_pylist()
    return {int(r["_file"]): int(r["extra"]) for r in per_file if r["extra"]}
