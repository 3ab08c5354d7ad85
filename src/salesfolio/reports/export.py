"""Tabular exports (CSV, XLSX, Parquet) that are safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel and
LibreOffice ("CSV injection", OWASP). Text cells that start so are prefixed with a single quote in CSV and XLSX;
numbers are never touched. Parquet keeps the data as it is (it is not opened by spreadsheets).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import IO, Literal

import pandas as pd

ExportFormat = Literal["csv", "xlsx", "parquet"]
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """Return ``value`` with a leading quote when it is text a spreadsheet would run as a formula.

    >>> neutralise("=SUM(A1:A9)")
    "'=SUM(A1:A9)"
    >>> neutralise("-12 units"), neutralise(-12.0), neutralise("ACME")
    ("'-12 units", -12.0, 'ACME')
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    return out


def format_for(path: Path) -> ExportFormat:
    """The export format named by a file's extension; ``ValueError`` naming the supported ones otherwise."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".xlsx":
        return "xlsx"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise ValueError(f"{path}: cannot export to {suffix or 'a file without extension'}; use .csv, .xlsx or .parquet")


def write_table(frame: pd.DataFrame, target: Path | IO[bytes], fmt: ExportFormat, *, sheet: str = "clients") -> None:
    """Write ``frame`` to ``target`` (a path or a binary buffer) as CSV (UTF-8 with BOM), XLSX or Parquet."""
    if fmt == "parquet":
        frame.to_parquet(target, index=False)
        return
    safe = _safe_frame(frame)
    if fmt == "csv":
        # A BOM makes Excel read UTF-8 (Polish letters) correctly.
        text = safe.to_csv(index=False)
        data = ("\ufeff" + text).encode("utf-8")
        if isinstance(target, Path):
            target.write_bytes(data)
        else:
            target.write(data)
        return
    _write_xlsx(safe, target, sheet)


def _write_xlsx(frame: pd.DataFrame, target: Path | IO[bytes], sheet: str) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(
        str(target) if isinstance(target, Path) else target,
        {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False, "nan_inf_to_errors": True},
    )
    ws = book.add_worksheet(sheet[:31])
    header = book.add_format({"bold": True, "bg_color": "#E8EEF7", "border": 1})
    money = book.add_format({"num_format": "#,##0.00"})
    share = book.add_format({"num_format": "0.0%"})
    date_fmt = book.add_format({"num_format": "yyyy-mm-dd"})
    for j, col in enumerate(frame.columns):
        ws.write_string(0, j, str(col), header)
        series = frame[col]
        is_share = any(k in str(col) for k in ("share", "growth", "pct", "probability", "p_alive", "rate"))
        cell_format = share if is_share else money
        width = max(10, min(40, len(str(col)) + 2))
        if pd.api.types.is_datetime64_any_dtype(series):
            ws.set_column(j, j, 12, date_fmt)
        elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            ws.set_column(j, j, width, cell_format)
        else:
            ws.set_column(j, j, width)
        for i, value in enumerate(series.tolist(), start=1):
            if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
                continue
            if hasattr(value, "to_pydatetime"):
                ws.write_datetime(i, j, value.to_pydatetime(), date_fmt)
            elif isinstance(value, bool):
                ws.write_boolean(i, j, value)
            elif isinstance(value, int | float):
                ws.write_number(i, j, float(value))
            elif hasattr(value, "isoformat") and not isinstance(value, str):
                ws.write_datetime(i, j, pd.Timestamp(value).to_pydatetime(), date_fmt)
            else:
                ws.write_string(i, j, str(value))
    ws.freeze_panes(1, 1)
    ws.autofilter(0, 0, max(len(frame), 1), max(len(frame.columns) - 1, 0))
    book.close()


def to_bytes(frame: pd.DataFrame, fmt: ExportFormat, *, sheet: str = "clients") -> bytes:
    """The export as bytes (for HTTP downloads)."""
    buffer = io.BytesIO()
    write_table(frame, buffer, fmt, sheet=sheet)
    return buffer.getvalue()
