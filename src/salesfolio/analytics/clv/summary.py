"""From purchases to the per-client summary the forecast models read: frequency, recency, T and monetary value.

Two implementations of one definition:

- :func:`rfm_summary` on a pandas frame (small data, tests, notebooks);
- :func:`rfm_summary_expr` building the same summary as an Ibis expression, so the per-line work runs inside the
  warehouse engine (DuckDB, SQLite, PostgreSQL, Spark) and only one row per client comes back.

The definition (lifetimes' ``summary_data_from_transaction_data``, adapted to B2B invoices):

1. Lines are summed per client and calendar day: **purchases on the same day are one purchase**, whatever the
   number of invoices or lines.
2. The day's **net** value counts, after returns and credit notes booked that day. **A day with a net value <= 0
   is not a purchase** (a credit note, a pure return, a free replacement). Credit notes booked on a later day are
   not matched to the purchase they reverse (invoice lines do not say which one); such days are simply not
   purchases. Clients without any purchase day up to the period end are not in the summary.
3. Per client, over the purchase days up to ``calibration_end`` (or ``observation_end`` when there is no
   calibration period):

   ``frequency``
       repeat purchases: the number of purchase days minus one;
   ``recency``
       time from the first to the last purchase day (0 when ``frequency`` is 0);
   ``T``
       time from the first purchase day to the period end (the end day itself counts as observed);
   ``monetary_value``
       mean net value of the repeat purchase days (the first purchase is left out, as the Gamma-Gamma model
       expects); 0 when ``frequency`` is 0.

4. With ``calibration_end``, the days after it up to ``observation_end`` are the holdout: ``frequency_holdout``
   (purchase days), ``monetary_value_holdout`` (mean value of those days, 0 if none), ``net_revenue_holdout``
   (net value of all days, credit-note days included) and ``duration_holdout`` (the holdout's length). Only
   clients with a purchase day up to ``calibration_end`` are in the summary.

Time is counted in whole days and divided by ``time_unit_days``: 1.0 (the default; salesfolio works in days
internally), 7.0 for weeks as in Fader, Hardie & Lee (2005). Where months are shown, a month is a calendar month
on average, 365.25 / 12 = 30.4375 days (:data:`~salesfolio.analytics.clv.base.DAYS_PER_MONTH`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from salesfolio.contract import INVOICE_LINES

if TYPE_CHECKING:
    import ibis.expr.types as ir

CLIENT_COL = INVOICE_LINES.column("client_id").name
DATE_COL = INVOICE_LINES.column("date").name
VALUE_COL = INVOICE_LINES.column("revenue").name

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
HOLDOUT_COLUMNS = ("frequency_holdout", "monetary_value_holdout", "net_revenue_holdout", "duration_holdout")


def as_date(value: dt.date | str, name: str = "date") -> dt.date:
    """Return ``value`` as a :class:`datetime.date` (a datetime or pandas Timestamp is cut to its date).

    Strings must be ISO dates (``"1997-09-30"``).
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} must be an ISO date (YYYY-MM-DD), got {value!r}") from None
    raise TypeError(f"{name} must be a date, got {type(value).__name__}")


def _check_period(
    observation_end: dt.date | str, calibration_end: dt.date | str | None, time_unit_days: float
) -> tuple[dt.date, dt.date | None]:
    end = as_date(observation_end, "observation_end")
    cal = None if calibration_end is None else as_date(calibration_end, "calibration_end")
    if cal is not None and cal > end:
        raise ValueError(f"calibration_end ({cal}) must not be after observation_end ({end})")
    if not (np.isfinite(time_unit_days) and time_unit_days > 0):
        raise ValueError("time_unit_days must be a positive number of days (1.0 for days, 7.0 for weeks)")
    return end, cal


def rfm_summary(
    transactions: pd.DataFrame,
    *,
    client_col: str = CLIENT_COL,
    date_col: str = DATE_COL,
    value_col: str = VALUE_COL,
    observation_end: dt.date | str,
    calibration_end: dt.date | str | None = None,
    time_unit_days: float = 1.0,
) -> pd.DataFrame:
    """Summarise purchases per client (frequency, recency, T, monetary value) from a pandas frame.

    Method: lifetimes' ``summary_data_from_transaction_data`` and ``calibration_and_holdout_data`` (Davidson-Pilon
    et al.), with per-day net values after returns (see the module docstring for the exact definition).

    Parameters
    ----------
    transactions
        One row per invoice line (or purchase); other columns are ignored.
    client_col, date_col, value_col
        Column names; default the invoice-lines contract: ``client_id``, ``date``, ``revenue``. Dates may be
        dates, datetimes (cut to the day) or ISO strings; a missing value counts as 0.
    observation_end
        Last day observed (inclusive); later lines are ignored.
    calibration_end
        Optional last day of the calibration period (inclusive). When given, the summary describes the
        calibration period and the holdout columns describe ``(calibration_end, observation_end]``.
    time_unit_days
        Length of the time unit of ``recency``, ``T`` and ``duration_holdout``. Default 1.0 (days).

    Returns
    -------
    pandas.DataFrame
        One row per client, sorted by client: ``client_col``, ``frequency`` (int64), ``recency``, ``T``,
        ``monetary_value`` and, with ``calibration_end``, ``frequency_holdout`` (int64),
        ``monetary_value_holdout``, ``net_revenue_holdout``, ``duration_holdout``.

    Raises
    ------
    ValueError
        ``Required column <name> missing`` when a column is absent; on a calibration end after the observation
        end or a non-positive time unit.

    Examples
    --------
    Client A's two lines of 1 January (100 and a credit of 20) are one purchase; its repeat purchase on 11 January
    is worth 50.

    >>> lines = pd.DataFrame(
    ...     {
    ...         "client_id": ["A", "A", "A", "B"],
    ...         "date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-11", "2024-01-05"]),
    ...         "revenue": [100.0, -20.0, 50.0, 30.0],
    ...     }
    ... )
    >>> rfm_summary(lines, observation_end="2024-01-31")
      client_id  frequency  recency     T  monetary_value
    0         A          1     10.0  30.0            50.0
    1         B          0      0.0  26.0             0.0
    """
    for column in (client_col, date_col, value_col):
        if column not in transactions.columns:
            raise ValueError(f"Required column {column} missing")
    end, cal = _check_period(observation_end, calibration_end, time_unit_days)
    period_end = end if cal is None else cal
    lines = pd.DataFrame(
        {
            "client": transactions[client_col],
            "day": pd.to_datetime(transactions[date_col]).dt.normalize(),
            "value": pd.to_numeric(transactions[value_col]).astype("float64"),
        }
    ).dropna(subset=["client", "day"])
    lines = lines[lines["day"] <= pd.Timestamp(end)]
    daily = lines.groupby(["client", "day"], sort=True)["value"].sum().reset_index()
    purchases = daily[(daily["value"] > 0) & (daily["day"] <= pd.Timestamp(period_end))]
    by_client = purchases.groupby("client", sort=True)
    first_day = by_client["day"].transform("min")
    repeat_value = purchases["value"].where(purchases["day"] > first_day, 0.0)
    first = by_client["day"].min()
    days_observed = (pd.Timestamp(period_end) - first).dt.days
    frequency = (by_client.size() - 1).astype("int64")
    repeat_total = repeat_value.groupby(purchases["client"], sort=True).sum()
    summary = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (by_client["day"].max() - first).dt.days.astype("float64") / time_unit_days,
            "T": days_observed.astype("float64") / time_unit_days,
            "monetary_value": np.where(frequency > 0, repeat_total / frequency.clip(lower=1), 0.0),
        }
    )
    if cal is not None:
        holdout = daily[(daily["day"] > pd.Timestamp(cal)) & daily["client"].isin(summary.index)]
        is_purchase = holdout["value"] > 0
        grouped_by = holdout["client"]
        frequency_holdout = is_purchase.groupby(grouped_by).sum().reindex(summary.index, fill_value=0)
        revenue_holdout = holdout["value"].where(is_purchase, 0.0).groupby(grouped_by).sum()
        revenue_holdout = revenue_holdout.reindex(summary.index, fill_value=0.0)
        summary["frequency_holdout"] = frequency_holdout.astype("int64")
        summary["monetary_value_holdout"] = np.where(
            frequency_holdout > 0, revenue_holdout / frequency_holdout.clip(lower=1), 0.0
        )
        net = holdout["value"].groupby(grouped_by).sum().reindex(summary.index, fill_value=0.0)
        summary["net_revenue_holdout"] = net.astype("float64")
        summary["duration_holdout"] = float((end - cal).days) / time_unit_days
    summary.index.name = client_col
    return summary.reset_index()


def rfm_summary_expr(
    lines: ir.Table,
    *,
    client_col: str = CLIENT_COL,
    date_col: str = DATE_COL,
    value_col: str = VALUE_COL,
    observation_end: dt.date | str,
    calibration_end: dt.date | str | None = None,
    time_unit_days: float = 1.0,
) -> ir.Table:
    """Build the per-client summary of :func:`rfm_summary` as an Ibis expression over invoice lines.

    Method and definition as :func:`rfm_summary`; the result has the same columns, types and values (floats may
    differ in the last bits, because engines add in a different order). Nothing is executed here: call
    ``.to_pandas()`` or ``.to_pyarrow()`` on the result. Uses only portable operations (group-by, a window
    minimum, filtered aggregates, date differences in days), tested on DuckDB and SQLite.

    Parameters
    ----------
    lines
        The invoice lines (canonical ``invoice_lines`` table, or any table with the three columns). A timestamp
        date column is cut to its date.
    client_col, date_col, value_col, observation_end, calibration_end, time_unit_days
        As for :func:`rfm_summary`.

    Returns
    -------
    ibis.expr.types.Table
        One row per client, ordered by client.
    """
    import ibis

    for column in (client_col, date_col, value_col):
        if column not in lines.columns:
            raise ValueError(f"Required column {column} missing")
    end, cal = _check_period(observation_end, calibration_end, time_unit_days)
    period_end = end if cal is None else cal
    day = lines[date_col]
    if day.type().is_timestamp():
        day = day.date()
    base = lines.select(client=lines[client_col], day=day, value=lines[value_col].cast("float64"))
    base = base.filter(base.client.notnull(), base.day.notnull(), base.day <= ibis.literal(end))
    daily = base.group_by(["client", "day"]).aggregate(value=base.value.sum())
    purchases = daily.filter(daily.value > 0, daily.day <= ibis.literal(period_end))
    purchases = purchases.mutate(first_day=purchases.day.min().over(group_by=purchases.client))
    per_client = purchases.group_by("client").aggregate(
        first=purchases.day.min(),
        last=purchases.day.max(),
        days=purchases.day.count(),
        repeat_total=purchases.value.sum(where=purchases.day > purchases.first_day),
    )
    unit = ibis.literal(float(time_unit_days))
    frequency = (per_client.days - 1).cast("int64")
    summary = per_client.select(
        client=per_client.client,
        frequency=frequency,
        recency=per_client["last"].delta(per_client["first"], unit="day").cast("float64") / unit,
        T=ibis.literal(period_end).delta(per_client["first"], unit="day").cast("float64") / unit,
        monetary_value=ibis.ifelse(
            frequency > 0, per_client.repeat_total.fill_null(0.0) / frequency.cast("float64"), 0.0
        ),
    )
    if cal is not None:
        after = daily.filter(daily.day > ibis.literal(cal))
        holdout = after.group_by("client").aggregate(
            h_frequency=after.value.count(where=after.value > 0),
            h_revenue=after.value.sum(where=after.value > 0),
            h_net=after.value.sum(),
        )
        joined = summary.left_join(holdout, "client")
        h_frequency = joined.h_frequency.fill_null(0).cast("int64")
        summary = joined.select(
            "client",
            *SUMMARY_COLUMNS,
            frequency_holdout=h_frequency,
            monetary_value_holdout=ibis.ifelse(
                h_frequency > 0, joined.h_revenue.fill_null(0.0) / h_frequency.cast("float64"), 0.0
            ),
            net_revenue_holdout=joined.h_net.fill_null(0.0).cast("float64"),
            duration_holdout=ibis.literal(float((end - cal).days) / time_unit_days),
        )
    return summary.rename({client_col: "client"}).order_by(client_col)
