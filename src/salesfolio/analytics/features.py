"""Per-client features computed inside the warehouse engine through Ibis (the frame of docs/dev/feature-spec.md).

Method: the invoice lines are read once per aggregate family and reduced before anything is counted:

1. lines -> per client, the window sums of net revenue, margin, revenue on lines with a cost and absolute revenue
   (TTM, prior TTM, trend): one grouping by client with a small hash table. Sales and returns need no sums of
   their own: over any set of lines, sales (the positive revenue) are ``(absolute + net) / 2`` and returns
   ``(absolute - net) / 2``;
   lines -> one row per (client, invoice, date) with its net revenue only; an invoice with positive net revenue is
   an order -> orders per window, first and last purchase, so no ``COUNT(DISTINCT)`` runs over lines. This
   grouping is the costliest step and the peak of memory; carrying one sum instead of seven halves its hash
   table. With materialised :func:`invoice_aggregates` (the churn model's cut-offs) both come from those rows;
2. lines joined to products -> one row per (client, category) with TTM and prior-TTM revenue -> breadth and lost
   categories;
3. TTM lines -> one row per (client, rep) -> the derived owner;
4. order dates -> window ``lag`` -> the exact median gap, by the engine's median aggregate where it has one and
   by window functions on SQLite (:func:`~salesfolio.analytics.timeseries.median_gap_expr`);
5. the small tables (clients, assessments, opportunities, cost_to_serve, activities) aggregated per client;

then everything is left-joined on the set of clients (the clients table plus clients found on invoice lines up
to ``as_of``). Only one row per client leaves the engine.

Windows (all computed from ``as_of``, never from a clock): TTM is ``as_of - 12 months < date <= as_of``, prior TTM
the 12 months before that (calendar months, see :func:`~salesfolio.analytics.timeseries.add_months`); the trend
uses the 24 complete calendar months up to ``as_of``. Inputs that are missing make their features null and add a
warning; they never stop the computation.

>>> from datetime import date
>>> w = FeatureWindows.at(date(2024, 6, 30))
>>> (w.ttm_start, w.prior_start, w.trend.first_day, w.trend.last_day)
(datetime.date(2023, 6, 30), datetime.date(2022, 6, 30), datetime.date(2022, 7, 1), datetime.date(2024, 6, 30))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from salesfolio.analytics.timeseries import (
    MonthWindow,
    add_months,
    median_gap_expr,
    relative_trend_slope,
)
from salesfolio.contract import (
    ACTIVITIES,
    ASSESSMENTS,
    CLIENTS,
    COST_TO_SERVE,
    INVOICE_LINES,
    OPPORTUNITIES,
    PRODUCTS,
    TABLES,
)

if TYPE_CHECKING:
    from salesfolio.warehouse import Warehouse

TREND_MONTHS = 24
"""Length of the trend window in complete calendar months."""
MIN_FREQUENCY_DAYS = 30
"""Frequency is measured over at least this many days, so a client who started last week is not 'weekly'."""
MIN_ORDERS_FOR_GAP = 3
"""A median gap needs at least this many order dates (two gaps)."""

_ID = CLIENTS.column("client_id").name
_CLIENT_ATTRIBUTES = tuple(
    CLIENTS.column(c).name
    for c in ("name", "industry", "size_class", "region", "country", "owner_id", "contract_type", "status", "parent_id")
)
_INVOICE = INVOICE_LINES.column("invoice_id").name
_DATE = INVOICE_LINES.column("date").name
_REVENUE = INVOICE_LINES.column("revenue").name
_COST = INVOICE_LINES.column("cost").name
_PRODUCT = INVOICE_LINES.column("product_id").name
_REP = INVOICE_LINES.column("rep_id").name
_CATEGORY = PRODUCTS.column("category").name
_PERIOD = ASSESSMENTS.column("period").name
_ASSESSED = tuple(ASSESSMENTS.column(c).name for c in ("potential", "relationship", "strategic_fit"))
_AMOUNT = COST_TO_SERVE.column("amount").name
_HOURS = ACTIVITIES.column("hours").name
_VALUE, _PROBABILITY, _CREATED, _CLOSED, _WON = (
    OPPORTUNITIES.column(c).name for c in ("value", "probability", "created", "closed", "won")
)

STRING_COLUMNS: tuple[str, ...] = (_ID, *_CLIENT_ATTRIBUTES, "owner_source")
DATE_COLUMNS: tuple[str, ...] = ("first_purchase", "last_purchase")
INT_COLUMNS: tuple[str, ...] = ("orders_ttm", "orders_prior_ttm", "orders_total")
BOOL_COLUMNS: tuple[str, ...] = ("in_clients",)
FLOAT_COLUMNS: tuple[str, ...] = (
    "revenue_ttm", "revenue_prior_ttm", "growth", "margin_ttm", "margin_prior_ttm", "margin_pct_ttm",
    "margin_pct_prior_ttm", "margin_erosion", "cost_coverage", "recency_days", "tenure_days", "frequency",
    "avg_order_value", "median_gap_days", "order_gap_ratio", "categories_ttm", "categories_prior_ttm",
    "lost_categories", "returns_share", "trend_slope", "cost_to_serve_ttm", "net_contribution", "potential",
    "relationship", "strategic_fit", "share_of_wallet", "headroom", "pipeline_weighted", "pipeline_open",
    "win_rate", "days_since_last_opportunity", "hours_ttm",
)  # fmt: skip
FEATURE_COLUMNS: tuple[str, ...] = (
    _ID, *_CLIENT_ATTRIBUTES, "owner_source", "in_clients",
    "revenue_ttm", "revenue_prior_ttm", "growth", "margin_ttm", "margin_prior_ttm", "margin_pct_ttm",
    "margin_pct_prior_ttm", "margin_erosion", "cost_coverage", "orders_ttm", "orders_prior_ttm", "orders_total",
    "first_purchase", "last_purchase", "recency_days", "tenure_days", "frequency", "avg_order_value",
    "median_gap_days", "order_gap_ratio", "categories_ttm", "categories_prior_ttm", "lost_categories",
    "returns_share", "trend_slope", "cost_to_serve_ttm", "net_contribution", *_ASSESSED, "share_of_wallet",
    "headroom", "pipeline_weighted", "pipeline_open", "win_rate", "days_since_last_opportunity", "hours_ttm",
)  # fmt: skip
"""The columns of the feature frame, in order (docs/dev/feature-spec.md)."""
_STRING_DTYPE: Any = "str" if int(pd.__version__.split(".")[0]) >= 3 else object


@dataclass(frozen=True)
class FeatureWindows:
    """The date windows of one feature run, all derived from ``as_of``.

    TTM is ``ttm_start < date <= as_of``, prior TTM ``prior_start < date <= ttm_start`` (so the last 24 months
    are ``prior_start < date <= as_of``); ``trend`` holds the complete calendar months of the trend slope.
    """

    as_of: date
    ttm_start: date
    prior_start: date
    trend: MonthWindow

    @classmethod
    def at(cls, as_of: date, trend_months: int = TREND_MONTHS) -> FeatureWindows:
        """Windows for ``as_of``: 12 and 24 calendar months back, and ``trend_months`` complete months."""
        return cls(as_of, add_months(as_of, -12), add_months(as_of, -24), MonthWindow.ending_at(as_of, trend_months))

    @property
    def span_days(self) -> int:
        """Days in the last 24 months (730 or 731): the longest period frequency is measured over."""
        return (self.as_of - self.prior_start).days

    def in_ttm(self, day: ir.DateValue) -> ir.BooleanValue:
        """Engine expression: ``day`` lies in the TTM window."""
        return (day > self.ttm_start) & (day <= self.as_of)

    def in_prior(self, day: ir.DateValue) -> ir.BooleanValue:
        """Engine expression: ``day`` lies in the prior-TTM window."""
        return (day > self.prior_start) & (day <= self.ttm_start)

    def in_24_months(self, day: ir.DateValue) -> ir.BooleanValue:
        """Engine expression: ``day`` lies in TTM or prior TTM."""
        return (day > self.prior_start) & (day <= self.as_of)


@dataclass
class FeatureResult:
    """The feature frame (one row per client, :data:`FEATURE_COLUMNS`) and the warnings about missing inputs."""

    frame: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


# -- inputs ---------------------------------------------------------------------------------------------------------
def _canonical_tables(tables: Mapping[str, ir.Table]) -> dict[str, ir.Table]:
    """Every canonical table, an empty memtable of the contract schema for those not given; columns checked."""
    out: dict[str, ir.Table] = {}
    for name, spec in TABLES.items():
        given = tables.get(name)
        if given is None:
            out[name] = ibis.memtable(spec.arrow_schema.empty_table())
            continue
        missing = [c for c in spec.names if c not in given.columns]
        if missing:
            raise ValueError(f"table {name!r} lacks contract column(s): {', '.join(missing)}")
        out[name] = given
    return out


def _as_date(as_of: date) -> date:
    if isinstance(as_of, datetime):
        return as_of.date()
    if not isinstance(as_of, date):
        raise TypeError(f"as_of must be a date, got {type(as_of).__name__}")
    return as_of


def _has_rows(table: ir.Table) -> ir.BooleanValue:
    """A scalar subquery: the table has at least one row (tells 'input missing' from 'nothing for this client')."""
    return (table.count() > 0).as_scalar()


def _ratio(numerator: ir.NumericValue, denominator: ir.NumericValue) -> ir.FloatingValue:
    """``numerator / denominator`` as float (PostgreSQL divides integers exactly otherwise), null unless > 0."""
    return ibis.ifelse(denominator > 0, numerator.cast("float64") / denominator.cast("float64"), ibis.null("float64"))


def _at_least(value: ir.NumericValue, low: float) -> ir.NumericValue:
    """``max(value, low)``, null when ``value`` is null (SQL GREATEST skips nulls on some engines, not on SQLite)."""
    return ibis.ifelse(value < low, low, value)


def _at_most(value: ir.NumericValue, high: float) -> ir.NumericValue:
    """``min(value, high)``, null when ``value`` is null."""
    return ibis.ifelse(value > high, high, value)


def _days_between(later: ir.DateValue | date, earlier: ir.DateValue) -> ir.FloatingValue:
    later_expr = ibis.literal(later) if isinstance(later, date) else later
    return later_expr.delta(earlier, unit="day").cast("float64")


# -- per-line families ----------------------------------------------------------------------------------------------
def _line_values(lines: ir.Table) -> ir.Table:
    """Each line's part of the five sums, with client, invoice and date.

    ``revenue``, ``margin``, ``revenue_costed``, ``absolute``, ``absolute_costed``; ``margin`` and the two costed
    sums are null where the line has no cost.
    """
    revenue, cost = lines[_REVENUE], lines[_COST]
    costed = cost.notnull()
    return lines.select(
        _ID,
        _INVOICE,
        _DATE,
        revenue=revenue,
        margin=revenue - cost,
        revenue_costed=ibis.ifelse(costed, revenue, ibis.null("float64")),
        absolute=revenue.abs(),
        absolute_costed=ibis.ifelse(costed, revenue.abs(), ibis.null("float64")),
    )


def _invoices(lines: ir.Table) -> ir.Table:
    """One row per (client, invoice, date) with the five sums of its lines (see :func:`invoice_aggregates`).

    An invoice (per date) with positive net revenue is an order; a credit note (net <= 0) is not. Its sales and
    returns follow from ``revenue`` and ``absolute`` (see the module docstring).
    """
    values = _line_values(lines)
    return values.group_by(_ID, _INVOICE, _DATE).aggregate(
        **{c: values[c].sum() for c in ("revenue", "margin", "revenue_costed", "absolute", "absolute_costed")}
    )


def _invoice_nets(lines: ir.Table) -> ir.Table:
    """One row per (client, invoice, date) with its net ``revenue`` only: what orders and gaps need."""
    return lines.group_by(_ID, _INVOICE, _DATE).aggregate(revenue=lines[_REVENUE].sum())


def _sum_features(rows: ir.Table, w: FeatureWindows) -> ir.Table:
    """Revenue, margin, cost-coverage and trend sums per client, from lines or from invoices.

    ``rows`` has the five sums of :func:`_line_values` per line, or per invoice (:func:`invoice_aggregates`):
    a sum over a window is the same either way, as an invoice's lines share its date.
    """
    day = rows[_DATE]
    ttm, prior = w.in_ttm(day), w.in_prior(day)
    in_trend = w.trend.contains(day)
    month_index = w.trend.index(day).cast("float64")
    return rows.group_by(_ID).aggregate(
        revenue_ttm=rows.revenue.sum(where=ttm),
        revenue_prior_ttm=rows.revenue.sum(where=prior),
        margin_ttm=rows.margin.sum(where=ttm),
        margin_prior_ttm=rows.margin.sum(where=prior),
        revenue_costed_ttm=rows.revenue_costed.sum(where=ttm),
        revenue_costed_prior=rows.revenue_costed.sum(where=prior),
        absolute_ttm=rows.absolute.sum(where=ttm),
        absolute_costed_ttm=rows.absolute_costed.sum(where=ttm),
        trend_sum=rows.revenue.sum(where=in_trend),
        trend_sum_xy=(rows.revenue * month_index).sum(where=in_trend),
    )


def _order_features(invoices: ir.Table, w: FeatureWindows) -> ir.Table:
    """Orders per window and first and last purchase per client, from (client, invoice, date, revenue) rows."""
    day = invoices[_DATE]
    is_order = invoices.revenue > 0
    return invoices.group_by(_ID).aggregate(
        orders_ttm=invoices.revenue.count(where=w.in_ttm(day) & is_order),
        orders_prior_ttm=invoices.revenue.count(where=w.in_prior(day) & is_order),
        orders_total=invoices.revenue.count(where=is_order),
        first_purchase=day.min(where=is_order),
        last_purchase=day.max(where=is_order),
    )


def _order_gaps(invoices: ir.Table, w: FeatureWindows) -> ir.Table:
    """Median days between consecutive order dates in the last 24 months: (client_id, median_gap_days)."""
    orders = invoices.filter(invoices.revenue > 0, w.in_24_months(invoices[_DATE]))
    return median_gap_expr(orders.select(_ID, _DATE), MIN_ORDERS_FOR_GAP)


def _lines_with_category(lines: ir.Table, products: ir.Table) -> ir.Table:
    """Lines joined to their product's category (lines without a product or category are left out)."""
    categories = products.filter(products[_CATEGORY].notnull()).select(
        category_product=products[PRODUCTS.column("product_id").name], category=products[_CATEGORY]
    )
    return lines.join(categories, lines[_PRODUCT] == categories.category_product)


def invoice_aggregates(lines: ir.Table, up_to: date) -> ir.Table:
    """The per-invoice sums behind the revenue, margin, order and rhythm features, of lines dated up to ``up_to``.

    One row per (client_id, invoice_id, date) with ``revenue``, ``margin``, ``revenue_costed``, ``absolute`` and
    ``absolute_costed`` (lines without a client are left out). Grouping the
    lines is the costliest step of :func:`client_features`; a caller computing features at several dates up to
    ``up_to`` (the churn model's cut-offs) materialises this once (``.cache()``) and passes it to each call as
    ``invoices``. Rows dated after an ``as_of`` are dropped there, and because the date is part of the key that
    gives exactly the rows of the lines dated up to ``as_of``.
    """
    return _invoices(lines.filter(lines[_ID].notnull(), lines[_DATE] <= _as_date(up_to)))


def category_revenue_expr(lines: ir.Table, products: ir.Table, start: date, end: date) -> ir.Table:
    """Net revenue per client and product category between ``start`` and ``end`` (both inclusive).

    Returns (client_id, category, revenue), one row per pair with at least one line; lines without a product, or
    whose product has no category, are left out. Returns are netted. Used by the category features and by
    whitespace analysis.
    """
    inside = lines.filter(lines[_ID].notnull(), lines[_DATE].between(ibis.literal(start), ibis.literal(end)))
    joined = _lines_with_category(inside, products)
    return joined.group_by(_ID, "category").aggregate(revenue=joined[_REVENUE].sum())


def _category_features(lines: ir.Table, products: ir.Table, w: FeatureWindows) -> ir.Table:
    """Categories bought (net revenue > 0) in TTM and prior TTM, and those lost: per (client, category) first."""
    inside = lines.filter(w.in_24_months(lines[_DATE]))
    joined = _lines_with_category(inside, products)
    per_category = joined.group_by(_ID, "category").aggregate(
        ttm=joined[_REVENUE].sum(where=w.in_ttm(joined[_DATE])),
        prior=joined[_REVENUE].sum(where=w.in_prior(joined[_DATE])),
    )
    bought_ttm = per_category.ttm.fill_null(0) > 0
    bought_prior = per_category.prior.fill_null(0) > 0
    return per_category.group_by(_ID).aggregate(
        categories_ttm=per_category.category.count(where=bought_ttm),
        categories_prior_ttm=per_category.category.count(where=bought_prior),
        lost_categories=per_category.category.count(where=bought_prior & ~bought_ttm),
    )


def _derived_owners(lines: ir.Table, clients: ir.Table, w: FeatureWindows) -> ir.Table:
    """The rep with the most TTM revenue on the client's lines (rounded to cents; ties: smallest rep_id).

    Only for clients without an owner_id in ``clients`` (an anti-join first, so the usual case, owners recorded,
    costs one cheap probe per TTM line instead of a grouping).
    """
    owned = clients.filter(clients[CLIENTS.column("owner_id").name].notnull()).select(_owned=clients[_ID])
    ttm = lines.filter(w.in_ttm(lines[_DATE]), lines[_REP].notnull())
    ttm = ttm.anti_join(owned, ttm[_ID] == owned._owned)
    per_rep = ttm.group_by(_ID, _REP).aggregate(revenue=ttm[_REVENUE].sum())
    per_rep = per_rep.filter(per_rep.revenue > 0)
    # Rounded, because engines add floats in different orders and an exact tie must not flip between them.
    rank = ibis.row_number().over(group_by=_ID, order_by=[per_rep.revenue.round(2).desc(), per_rep[_REP].asc()])
    ranked = per_rep.mutate(rank=rank)
    return ranked.filter(ranked["rank"] == 0).select(_ID, derived_owner=ranked[_REP])


# -- small tables ---------------------------------------------------------------------------------------------------
def _latest_assessments(assessments: ir.Table, w: FeatureWindows) -> ir.Table:
    """The latest assessment with ``period <= as_of`` per client (its potential, relationship, strategic fit)."""
    known = assessments.filter(assessments[_ID].notnull(), assessments[_PERIOD] <= w.as_of)
    ranked = known.mutate(rank=ibis.row_number().over(group_by=_ID, order_by=known[_PERIOD].desc()))
    latest = ranked.filter(ranked["rank"] == 0)
    return latest.select(_ID, *(latest[c].cast("float64").name(c) for c in _ASSESSED))


def _opportunity_features(opportunities: ir.Table, w: FeatureWindows) -> ir.Table:
    """Open pipeline at ``as_of``, win rate over the last 24 months and the last opportunity's creation date.

    Open at ``as_of``: created on or before it (or no date) and not closed by then: either no close date and no
    outcome, or a close date after ``as_of`` (so a past ``as_of`` sees deals that were still open then).
    """
    o = opportunities.filter(opportunities[_ID].notnull())
    created, closed, won = o[_CREATED], o[_CLOSED], o[_WON]
    is_open = (created.isnull() | (created <= w.as_of)) & ((closed.isnull() & won.isnull()) | (closed > w.as_of))
    decided = w.in_24_months(closed) & won.notnull()
    return o.group_by(_ID).aggregate(
        pipeline_weighted=(o[_VALUE] * o[_PROBABILITY]).sum(where=is_open),
        pipeline_open=o[_ID].count(where=is_open),
        won=o[_ID].count(where=decided & (won == True)),  # noqa: E712 - an engine expression, not a Python test
        decided=o[_ID].count(where=decided),
        last_created=created.max(where=created <= w.as_of),
    )


def _ttm_sum(table: ir.Table, day: str, value: str, name: str, w: FeatureWindows) -> ir.Table:
    """Sum of ``value`` per client over rows whose ``day`` lies in TTM."""
    inside = table.filter(table[_ID].notnull(), w.in_ttm(table[day]))
    return inside.group_by(_ID).aggregate(**{name: inside[value].sum()})


# -- the frame -----------------------------------------------------------------------------------------------------
def client_features_expr(tables: Mapping[str, ir.Table], as_of: date, *, invoices: ir.Table | None = None) -> ir.Table:
    """The Ibis expression of the feature frame: one row per client, columns :data:`FEATURE_COLUMNS`.

    Parameters
    ----------
    tables
        Canonical table name -> Ibis table (contract columns; any table may be empty or absent).
    as_of
        The reference date: nothing after it is read; all windows end at it.
    invoices
        Optional :func:`invoice_aggregates` of the same invoice lines up to a date on or after ``as_of``
        (materialised by the caller), used instead of grouping the lines again. Default: group them here.

    Returns
    -------
    ibis.Table
        Unordered; run it on the backend the tables live in (``ibis.to_sql`` shows the SQL). See the module
        docstring for the method and docs/dev/feature-spec.md for each column.
    """
    day = _as_date(as_of)
    w = FeatureWindows.at(day)
    t = _canonical_tables(tables)
    raw_lines, clients = t["invoice_lines"], t["clients"]
    lines = raw_lines.filter(raw_lines[_ID].notnull(), raw_lines[_DATE] <= day)
    known = clients.filter(clients[_ID].notnull())

    if invoices is None:
        # The sums straight from the lines; the grouping into invoices then carries only the net revenue that
        # orders and gaps need: at 10 M lines its hash table is half the size (docs/benchmarks.md).
        per_invoice = _invoice_nets(lines)
        sums = _sum_features(_line_values(lines), w)
    else:
        per_invoice = invoices.filter(invoices[_DATE] <= day)
        sums = _sum_features(per_invoice, w)
    purchases = _order_features(per_invoice, w)
    gaps = _order_gaps(per_invoice, w)
    categories = _category_features(lines, t["products"], w)
    owners = _derived_owners(lines, known, w)
    assessed = _latest_assessments(t["assessments"], w)
    pipeline = _opportunity_features(t["opportunities"], w)
    serving = _ttm_sum(t["cost_to_serve"], COST_TO_SERVE.column("period").name, _AMOUNT, "cost_to_serve_ttm", w)
    hours = _ttm_sum(t["activities"], ACTIVITIES.column("date").name, _HOURS, "hours_ttm", w)

    universe = ibis.union(known.select(_ID), sums.select(_ID), distinct=True)
    parts = (known.mutate(in_clients=ibis.literal(True)), sums, purchases, gaps, categories, owners, assessed,
             pipeline, serving, hours)  # fmt: skip
    # One chain of left joins on the universe; each part's key is renamed so no column names clash.
    joined: ir.Table = universe
    for i, part in enumerate(parts):
        keyed = part.rename({f"_key{i}": _ID})
        joined = joined.left_join(keyed, universe[_ID] == keyed[f"_key{i}"])
    return _finish(joined.select([c for c in joined.columns if not c.startswith("_key")]), w, t)


def _finish(b: ir.Table, w: FeatureWindows, t: Mapping[str, ir.Table]) -> ir.Table:
    """Derive the spec's columns from the joined per-client aggregates."""
    has_categories = _has_rows(t["products"].filter(t["products"][_CATEGORY].notnull()))
    has_opportunities = _has_rows(t["opportunities"])
    has_cost_to_serve = _has_rows(t["cost_to_serve"])
    has_activities = _has_rows(t["activities"])

    def present_or_null(flag: ir.BooleanValue, value: ir.NumericValue) -> ir.FloatingValue:
        return ibis.ifelse(flag, value.fill_null(0).cast("float64"), ibis.null("float64"))

    owner_from_clients = b.owner_id.notnull()
    revenue_ttm = b.revenue_ttm.fill_null(0.0)
    revenue_prior = b.revenue_prior_ttm.fill_null(0.0)
    margin_pct_ttm = _ratio(b.margin_ttm, b.revenue_costed_ttm)
    margin_pct_prior = _ratio(b.margin_prior_ttm, b.revenue_costed_prior)
    orders_ttm = b.orders_ttm.fill_null(0)
    orders_prior = b.orders_prior_ttm.fill_null(0)
    recency = _days_between(w.as_of, b.last_purchase)
    tenure = _days_between(w.as_of, b.first_purchase)
    frequency_days = _at_least(_at_most(tenure, w.span_days), MIN_FREQUENCY_DAYS)
    cost_to_serve = present_or_null(has_cost_to_serve, b.cost_to_serve_ttm)
    potential = b.potential
    columns: dict[str, Any] = {
        _ID: b[_ID],
        "name": b["name"].fill_null(b[_ID]),
        **{c: b[c] for c in _CLIENT_ATTRIBUTES if c not in ("name", "owner_id")},
        "owner_id": ibis.coalesce(b.owner_id, b.derived_owner),
        "owner_source": ibis.cases(
            (owner_from_clients, "clients"), (b.derived_owner.notnull(), "invoice_lines"), else_=ibis.null("string")
        ),
        "in_clients": b.in_clients.fill_null(False),
        "revenue_ttm": revenue_ttm,
        "revenue_prior_ttm": revenue_prior,
        "growth": ibis.ifelse(revenue_prior > 0, revenue_ttm / revenue_prior - 1, ibis.null("float64")),
        "margin_ttm": b.margin_ttm,
        "margin_prior_ttm": b.margin_prior_ttm,
        "margin_pct_ttm": margin_pct_ttm,
        "margin_pct_prior_ttm": margin_pct_prior,
        "margin_erosion": margin_pct_prior - margin_pct_ttm,
        "cost_coverage": _ratio(b.absolute_costed_ttm.fill_null(0.0), b.absolute_ttm),
        "orders_ttm": orders_ttm,
        "orders_prior_ttm": orders_prior,
        "orders_total": b.orders_total.fill_null(0),
        "first_purchase": b.first_purchase,
        "last_purchase": b.last_purchase,
        "recency_days": recency,
        "tenure_days": tenure,
        "frequency": (orders_ttm + orders_prior).cast("float64") * 365.0 / frequency_days,
        "avg_order_value": _ratio(revenue_ttm, orders_ttm),
        "median_gap_days": b.median_gap_days,
        "order_gap_ratio": _ratio(recency, b.median_gap_days),
        "categories_ttm": present_or_null(has_categories, b.categories_ttm),
        "categories_prior_ttm": present_or_null(has_categories, b.categories_prior_ttm),
        "lost_categories": present_or_null(has_categories, b.lost_categories),
        # -returns / sales = ((absolute - net) / 2) / ((absolute + net) / 2), TTM (module docstring)
        "returns_share": _ratio(b.absolute_ttm - b.revenue_ttm, b.absolute_ttm + b.revenue_ttm),
        "trend_slope": relative_trend_slope(b.trend_sum, b.trend_sum_xy, w.trend.months),
        "cost_to_serve_ttm": cost_to_serve,
        "net_contribution": b.margin_ttm - cost_to_serve.fill_null(0.0),
        **{c: b[c] for c in _ASSESSED},
        "share_of_wallet": _ratio(revenue_ttm, potential),
        "headroom": _at_least(potential - revenue_ttm, 0.0),
        "pipeline_weighted": present_or_null(has_opportunities, b.pipeline_weighted),
        "pipeline_open": present_or_null(has_opportunities, b.pipeline_open),
        "win_rate": _ratio(b.won, b.decided),
        "days_since_last_opportunity": _days_between(w.as_of, b.last_created),
        "hours_ttm": present_or_null(has_activities, b.hours_ttm),
    }
    return b.select(**{name: columns[name] for name in FEATURE_COLUMNS})


def feature_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """The feature frame from a raw result of :func:`client_features_expr`: columns in spec order, dtypes fixed.

    Backends return different dtypes for the same values (object or str, NaN or None, int or float); this makes
    them the spec's: strings ``str``, dates ``datetime64[s]``, order counts ``int64``, ``in_clients`` bool, all
    other numbers ``float64``. Rows sorted by client_id.
    """
    frame = raw.reindex(columns=list(FEATURE_COLUMNS))
    for c in STRING_COLUMNS:
        # missing stays missing (pandas 3 "str" keeps NaN; pandas 2 would write the text "None", so object there)
        frame[c] = frame[c].astype(object).where(frame[c].notna(), None).astype(_STRING_DTYPE)
    for c in DATE_COLUMNS:
        frame[c] = pd.to_datetime(frame[c]).astype("datetime64[s]")
    for c in INT_COLUMNS:
        frame[c] = frame[c].astype("int64")
    for c in BOOL_COLUMNS:
        frame[c] = frame[c].astype("bool")
    for c in FLOAT_COLUMNS:
        frame[c] = frame[c].astype("float64")
    return frame.sort_values(_ID, kind="stable").reset_index(drop=True)


def _clients(n: int) -> str:
    return "1 client" if n == 1 else f"{n} clients"


def feature_warnings(frame: pd.DataFrame) -> list[str]:
    """Warnings naming each input that is missing, read off the feature frame (see feature-spec.md)."""
    if frame.empty:
        return ["no clients and no invoice lines up to as_of: the feature frame is empty"]
    out: list[str] = []
    if not frame.in_clients.any():
        out.append("no clients table: names are client IDs and client attributes are empty")
    elif not frame.in_clients.all():
        n = int((~frame.in_clients).sum())
        out.append(f"{_clients(n)} {'appears' if n == 1 else 'appear'} on invoice lines but not in clients: "
                   f"{'its' if n == 1 else 'their'} name is the client ID")  # fmt: skip
    if (frame.orders_total == 0).all() and (frame.revenue_ttm == 0).all() and (frame.revenue_prior_ttm == 0).all():
        out.append("no sales on invoice lines up to as_of: revenue and order features are zero")
    if frame.margin_ttm.isna().all() and frame.margin_prior_ttm.isna().all():
        out.append("no cost on invoice lines: margin features are empty")
    else:
        partial = int((frame.cost_coverage < 1).sum())
        if partial:
            out.append(f"cost missing on part of the invoice lines of {_clients(partial)}: margins use the lines "
                       "with cost (see cost_coverage)")  # fmt: skip
    if frame.categories_ttm.isna().all():
        out.append("no product categories: category features are empty")
    if frame[list(_ASSESSED)].isna().all().all():
        out.append("no assessments: potential, share of wallet and headroom are empty")
    elif frame.potential.isna().all():
        out.append("no potential in assessments: share of wallet and headroom are empty")
    if frame.pipeline_open.isna().all():
        out.append("no opportunities: pipeline features are empty")
    if frame.cost_to_serve_ttm.isna().all():
        out.append("no cost_to_serve: net contribution equals margin")
    if frame.hours_ttm.isna().all():
        out.append("no activities: hours are empty")
    derived = int((frame.owner_source == "invoice_lines").sum())
    if derived:
        out.append(f"owner derived from invoice lines for {_clients(derived)} without owner_id "
                   "(the rep with most TTM revenue)")  # fmt: skip
    ownerless = int(frame.owner_source.isna().sum())
    if ownerless:
        out.append(f"{_clients(ownerless)} {'has' if ownerless == 1 else 'have'} no owner")
    return out


def client_features(tables: Mapping[str, ir.Table], as_of: date, *, invoices: ir.Table | None = None) -> FeatureResult:
    """Compute the client feature frame in the engine the tables live in and return it with its warnings.

    Runs :func:`client_features_expr` (one query; only per-client rows come back), fixes dtypes (strings,
    ``datetime64[s]`` dates, ``int64`` order counts, ``float64`` for everything numeric that may be missing),
    sorts by client_id and lists the missing inputs (:func:`feature_warnings`). ``invoices``: optional
    materialised :func:`invoice_aggregates` to reuse (see there); the frame is the same with or without.
    """
    expr = client_features_expr(tables, as_of, invoices=invoices)
    # Through Arrow, converted column by column: Ibis's ``execute`` turns every column that holds a null into
    # Python objects first (about 4 M of them for 100 k clients: ~0.5 CPU s and 100+ MB at 10 M lines).
    frame = feature_frame(expr.to_pyarrow().to_pandas(date_as_object=False))
    return FeatureResult(frame, feature_warnings(frame))


def features_from_warehouse(warehouse: Warehouse, as_of: date) -> FeatureResult:
    """:func:`client_features` over every canonical table of ``warehouse`` (tables not loaded count as empty)."""
    return client_features({name: warehouse.table(name) for name in TABLES}, as_of)
