"""Calendar windows and purchase-rhythm expressions shared by the client features: months, trend, median gap.

Everything here builds Ibis expressions (run inside the warehouse engine) or pure date arithmetic on the
``as_of`` date the caller passes in; nothing reads a clock.

Months are calendar months. The trend window is the ``months`` *complete* calendar months ending at ``as_of``:
the month of ``as_of`` counts only when ``as_of`` is its last day, so a review run on the 5th does not see a
nearly empty last month as a collapse.

>>> from datetime import date
>>> add_months(date(2024, 2, 29), -12)
datetime.date(2023, 2, 28)
>>> w = MonthWindow.ending_at(date(2024, 6, 15), months=24)
>>> (w.first_day, w.last_day)
(datetime.date(2022, 6, 1), datetime.date(2024, 5, 31))
>>> trend_denominator(24)
27600
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
from ibis.common.exceptions import IbisError

from salesfolio.contract import INVOICE_LINES

_CLIENT = INVOICE_LINES.column("client_id").name
_DATE = INVOICE_LINES.column("date").name
_REVENUE = INVOICE_LINES.column("revenue").name
_COST = INVOICE_LINES.column("cost").name


def add_months(day: date, months: int) -> date:
    """Shift ``day`` by whole calendar ``months``; the day is clipped to the target month's length.

    ``add_months(date(2024, 3, 31), -1)`` is 29 February 2024. Used for the TTM bounds, so the 12 months ending at
    a month end start exactly on the first of a month whether or not a 29 February lies in between.
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def month_number(day: date) -> int:
    """A running month number (``year * 12 + month - 1``): consecutive months differ by one."""
    return day.year * 12 + day.month - 1


def month_number_expr(day: ir.DateValue) -> ir.IntegerValue:
    """The same running month number, as an engine expression on a date column."""
    return day.year() * 12 + day.month() - 1


@dataclass(frozen=True)
class MonthWindow:
    """A run of complete calendar months: ``first_day`` of the first month to ``last_day`` of the last.

    ``start_number`` is the :func:`month_number` of the first month, so a line's month index in the window is
    ``month_number(date) - start_number`` (0 for the oldest month, ``months - 1`` for the newest).
    """

    first_day: date
    last_day: date
    start_number: int
    months: int

    @classmethod
    def ending_at(cls, as_of: date, months: int) -> MonthWindow:
        """The ``months`` complete calendar months up to ``as_of`` (its own month only if ``as_of`` ends it)."""
        if months < 2:
            raise ValueError(f"a month window needs at least 2 months, got {months}")
        end = month_number(as_of)
        if (as_of + timedelta(days=1)).month == as_of.month:
            end -= 1  # as_of's month is not complete yet
        start = end - months + 1
        first_day = date(start // 12, start % 12 + 1, 1)
        end_year, end_month0 = divmod(end, 12)
        last_day = date(end_year, end_month0 + 1, calendar.monthrange(end_year, end_month0 + 1)[1])
        return cls(first_day, last_day, start, months)

    def contains(self, day: ir.DateValue) -> ir.BooleanValue:
        """Engine expression: ``day`` falls inside the window."""
        return day.between(ibis.literal(self.first_day), ibis.literal(self.last_day))

    def index(self, day: ir.DateValue) -> ir.IntegerValue:
        """Engine expression: the month index of ``day`` in the window (0 = oldest month)."""
        return month_number_expr(day) - self.start_number


def trend_denominator(months: int) -> int:
    """``n * Sxx - Sx**2`` for x = 0 .. n-1: the fixed denominator of the OLS slope over a full month grid."""
    sx = months * (months - 1) // 2
    sxx = (months - 1) * months * (2 * months - 1) // 6
    return months * sxx - sx * sx


def relative_trend_slope(sum_y: ir.FloatingValue, sum_xy: ir.FloatingValue, months: int) -> ir.FloatingValue:
    """OLS slope of monthly revenue on the month index, divided by the mean monthly revenue.

    Method: ordinary least squares of y (revenue of a month) on x (month index 0 .. n-1) over *all* n months of
    the window, months without a purchase counting as y = 0. With x fixed, Sx = n(n-1)/2 and
    Sxx = (n-1)n(2n-1)/6 are constants and only Sy = sum(revenue) and Sxy = sum(x * revenue) are needed per
    client, so no month grid has to be joined:

        slope = (n * Sxy - Sx * Sy) / (n * Sxx - Sx**2),  mean = Sy / n,  result = slope / mean.

    Null when Sy <= 0 (no positive average to relate the slope to). -0.05 means revenue falls by 5 % of an
    average month per month.
    """
    n = months
    sx = n * (n - 1) // 2
    numerator = (sum_xy * n - sum_y * sx) * n
    return ibis.ifelse(sum_y > 0, numerator / (sum_y * trend_denominator(n)), ibis.null("float64"))


def portable_median(table: ir.Table, key: str, value: str, name: str, min_count: int = 1) -> ir.Table:
    """Exact median of ``value`` per ``key``, with window functions only (runs on SQLite, which has no median).

    Method: number the values of each key in ascending order (``row_number``, 0-based) and count them over the
    same ordered window (so the engine sorts once); the median is the mean of the values whose rank r satisfies
    ``count - 2 <= 2 r <= count`` (the middle value for an odd count, the two middle values for an even one),
    i.e. the interpolated median of ``percentile_cont(0.5)``, pandas ``median`` and DuckDB ``median``. Keys with
    fewer than ``min_count`` values (default 1) get no row.
    """
    ordered = ibis.window(group_by=key, order_by=value, rows=(None, None))
    ranked = table.select(
        key,
        value,
        rank=ibis.row_number().over(group_by=key, order_by=value),
        count=table[value].count().over(ordered),
    )
    rank2, count = ranked["rank"] * 2, ranked["count"]
    middle = ranked.filter(count >= min_count, count - 2 <= rank2, rank2 <= count)
    return middle.group_by(key).aggregate(**{name: middle[value].cast("float64").mean()})


MedianMethod = Literal["auto", "aggregate", "window"]
"""How :func:`median_gap_expr` computes its exact median: the engine's ``median`` aggregate, window functions
(:func:`portable_median`), or ``auto``: the aggregate where the tables' engine has one, else the windows."""


def aggregate_median(table: ir.Table, key: str, value: str, name: str, min_count: int = 1) -> ir.Table:
    """Exact median of ``value`` per ``key`` by the engine's own aggregate (``median`` / ``percentile_cont(0.5)``).

    The same result as :func:`portable_median` (the interpolated median: the mean of the two middle values for an
    even count) in one grouping instead of a sort and a grouping. DuckDB compiles it to ``percentile_cont``,
    PostgreSQL to ``percentile_cont(0.5) WITHIN GROUP``, Spark to ``percentile`` (all exact); SQLite has none.
    Keys with fewer than ``min_count`` values (default 1) get no row.
    """
    values = table[value]
    grouped = table.group_by(key).aggregate(**{name: values.cast("float64").median(), "_values": values.count()})
    return grouped.filter(grouped["_values"] >= min_count).drop("_values")


def engine_has_median(table: ir.Table) -> bool:
    """True when the engine ``table`` is bound to computes an exact median aggregate (DuckDB, PostgreSQL, Spark).

    Asked of the backend (``has_operation``), so no engine is named here. A table of in-memory data only
    (memtables) is bound to no engine until it runs: False, so its expression compiles for every engine.
    """
    try:
        backend = table._find_backend()
    except IbisError:
        return False
    return bool(backend.has_operation(ops.Median))


def median_gap_expr(orders: ir.Table, min_orders: int = 3, *, method: MedianMethod = "auto") -> ir.Table:
    """Median number of days between a client's consecutive order dates: (client_id, median_gap_days).

    ``orders`` holds one row per order (client_id, date); several orders on one day are allowed. Gaps come from a
    window ``lag`` over each client's orders sorted by date; zero gaps (a second order on the same day) are
    dropped, which leaves exactly the gaps between consecutive distinct order dates without a ``DISTINCT`` pass.
    The median is exact on every backend: ``method="aggregate"`` uses the engine's median
    (:func:`aggregate_median`), ``"window"`` the window functions of :func:`portable_median` (SQLite has no
    median), ``"auto"`` (default) the aggregate where :func:`engine_has_median`. Clients with fewer than
    ``min_orders`` distinct order dates (default 3, i.e. fewer than two gaps) get no row.
    """
    previous = orders[_DATE].lag().over(group_by=_CLIENT, order_by=_DATE)
    gaps = orders.select(_CLIENT, gap=orders[_DATE].delta(previous, unit="day"))
    gaps = gaps.filter(gaps.gap > 0)
    if method == "auto":
        method = "aggregate" if engine_has_median(orders) else "window"
    if method == "aggregate":
        return aggregate_median(gaps, _CLIENT, "gap", "median_gap_days", min_count=min_orders - 1)
    if method == "window":
        return portable_median(gaps, _CLIENT, "gap", "median_gap_days", min_count=min_orders - 1)
    raise ValueError(f"method must be 'auto', 'aggregate' or 'window', not {method!r}")


def monthly_revenue_expr(lines: ir.Table, as_of: date, months: int = 24) -> ir.Table:
    """Revenue and margin per client and calendar month: (client_id, month, revenue, margin).

    The window is the ``months`` complete calendar months up to ``as_of`` (default 24, the window of the trend
    slope; see :class:`MonthWindow`). ``month`` is the first day of the month. Rows exist only for months with
    invoice lines (the chart fills the others with zero, as the trend slope counts them). ``revenue`` is net of
    returns; ``margin`` is ``sum(revenue - cost)`` over the lines with a cost, null when the month has none.
    """
    window = MonthWindow.ending_at(as_of, months)
    inside = lines.filter(lines[_CLIENT].notnull(), window.contains(lines[_DATE]))
    return (
        inside.group_by(_CLIENT, month=inside[_DATE].truncate("M"))
        .aggregate(revenue=inside[_REVENUE].sum(), margin=(inside[_REVENUE] - inside[_COST]).sum())
        .order_by(_CLIENT, "month")
    )
