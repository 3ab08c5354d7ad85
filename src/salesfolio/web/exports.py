"""Exports of the client list: CSV (data) and XLSX (a formatted sheet), both of the current filter and scope.

* CSV: UTF-8 with a byte-order mark (so spreadsheet programs detect the encoding and Polish letters survive),
  comma-separated, RFC 4180 quoting, stable column names (:data:`EXPORT_COLUMNS`), numbers with a decimal point.
* XLSX (xlsxwriter, constant memory): headers in the user's language, money as ``#,##0``, shares as ``0.0%``,
  frozen header row and an autofilter; a second sheet says which snapshot, filters and user produced it.

Both are safe against formula injection (OWASP "CSV injection"): a text cell that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return gets a leading apostrophe, so a client named ``=HYPERLINK(...)`` stays text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import xlsxwriter

from salesfolio.web import labels
from salesfolio.web.i18n import N_, Lang

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportColumn:
    """A column of the export: attribute of the snapshot row, its header (gettext message) and its kind."""

    name: str
    header: str
    kind: str  # text, money, percent, number, decimal


EXPORT_COLUMNS: tuple[ExportColumn, ...] = (
    ExportColumn("client_id", N_("Client ID"), "text"),
    ExportColumn("name", N_("Client"), "text"),
    ExportColumn("owner_id", N_("Owner"), "text"),
    ExportColumn("team", N_("Team"), "text"),
    ExportColumn("industry", N_("Industry"), "text"),
    ExportColumn("region", N_("Region"), "text"),
    ExportColumn("country", N_("Country"), "text"),
    ExportColumn("segment", N_("Segment"), "text"),
    ExportColumn("abc_revenue", N_("ABC"), "text"),
    ExportColumn("risk_level", N_("Risk"), "text"),
    ExportColumn("score", N_("Score"), "decimal"),
    ExportColumn("band", N_("Band"), "text"),
    ExportColumn("revenue_ttm", N_("Revenue TTM"), "money"),
    ExportColumn("margin_ttm", N_("Margin TTM"), "money"),
    ExportColumn("growth", N_("Growth"), "percent"),
    ExportColumn("potential", N_("Potential"), "money"),
    ExportColumn("headroom", N_("Headroom"), "money"),
    ExportColumn("expected_loss", N_("Revenue at risk"), "money"),
    ExportColumn("n_signals", N_("Signals"), "number"),
    ExportColumn("churn_probability", N_("Churn probability"), "percent"),
    ExportColumn("p_alive", N_("P(alive)"), "percent"),
    ExportColumn("expected_revenue", N_("Expected revenue"), "money"),
)


def safe_text(value: str) -> str:
    """``value`` with a leading apostrophe when a spreadsheet would read it as a formula.

    >>> safe_text("=1+2")
    "'=1+2"
    >>> safe_text("-SUM(A1)")
    "'-SUM(A1)"
    >>> safe_text("ACME")
    'ACME'
    """
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


def _cell(row: Any, column: ExportColumn) -> str | float | int | None:
    value = getattr(row, column.name)
    if value is None:
        return None
    if column.kind == "text":
        return safe_text(str(value))
    return value if isinstance(value, int) and column.kind == "number" else float(value)


def clients_csv(rows: Iterable[Any]) -> bytes:
    """The rows (objects with the :data:`EXPORT_COLUMNS` as attributes) as CSV bytes (see the module docstring)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.name for c in EXPORT_COLUMNS])
    for row in rows:
        writer.writerow(["" if (v := _cell(row, c)) is None else v for c in EXPORT_COLUMNS])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def clients_xlsx(rows: Iterable[Any], lang: Lang, about: list[tuple[str, str]], generated_at: dt.datetime) -> bytes:
    """The rows as an XLSX workbook; ``about`` lists (label, value) pairs for the second sheet."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "constant_memory": True, "strings_to_formulas": False})
    header = book.add_format({"bold": True, "bg_color": "#EEF3FA", "bottom": 1, "text_wrap": True, "valign": "top"})
    formats = {
        "money": book.add_format({"num_format": "#,##0"}),
        "percent": book.add_format({"num_format": "0.0%"}),
        "decimal": book.add_format({"num_format": "0.0"}),
        "number": book.add_format({"num_format": "0"}),
    }
    sheet = book.add_worksheet(lang.gettext("Clients")[:31])
    widths = {"text": 16, "money": 14, "percent": 10, "decimal": 9, "number": 9}
    for i, column in enumerate(EXPORT_COLUMNS):
        width = 36 if column.name == "name" else widths[column.kind]
        sheet.set_column(i, i, width)
        sheet.write_string(0, i, lang.gettext(column.header), header)
    sheet.freeze_panes(1, 2)
    n = 0
    for n, row in enumerate(rows, start=1):
        for i, column in enumerate(EXPORT_COLUMNS):
            value = _cell(row, column)
            if value is None:
                continue
            if isinstance(value, str):
                if column.name == "segment":
                    value = labels.segment_label(lang, getattr(row, column.name))
                elif column.name == "risk_level":
                    value = labels.risk_label(lang, getattr(row, column.name))
                sheet.write_string(n, i, value)
            else:
                sheet.write_number(n, i, value, formats[column.kind])
    sheet.autofilter(0, 0, max(n, 1), len(EXPORT_COLUMNS) - 1)
    info = book.add_worksheet(lang.gettext("About")[:31])
    info.set_column(0, 0, 28)
    info.set_column(1, 1, 60)
    bold = book.add_format({"bold": True})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    info.write_string(0, 0, lang.gettext("Generated"), bold)
    info.write_datetime(0, 1, generated_at.replace(tzinfo=None), stamp)
    info.write_string(1, 0, lang.gettext("Rows"), bold)
    info.write_number(1, 1, n)
    for r, (label, value) in enumerate(about, start=2):
        info.write_string(r, 0, label, bold)
        info.write_string(r, 1, safe_text(value))
    book.close()
    return buffer.getvalue()
