"""The data-quality report: what is missing or doubtful in the warehouse, with counts, shares and examples.

:func:`assess` runs one Ibis query per check on the canonical tables (so it works on every warehouse backend,
DuckDB and SQLite tested) and returns a :class:`QualityReport`: a list of :class:`QualityCheck` in a fixed order,
each with ``count`` of ``total`` affected, ``share = count / total`` (``None`` when ``total`` is 0), up to ten
example rows (the most revenue first, where revenue applies) and advice on what to fix.

Windows follow the client feature frame (docs/dev/feature-spec.md): the last twelve months (TTM) are
``as_of - 365 days < date <= as_of``; the owner derived for a client without one is the rep with the most TTM
revenue on the client's invoice lines (ties by ``rep_id``), which is what the analytics use.

Severity: ``error`` when an analysis cannot run at all (no invoice lines), ``warning`` when numbers will be
wrong or criteria drop out unless the data are fixed, ``info`` otherwise (a count of 0 is always ``info``).
Thresholds are the module constants below.

>>> import pyarrow as pa, datetime as dt
>>> from salesfolio.warehouse import Warehouse
>>> wh = Warehouse.connect("duckdb://")
>>> _ = wh.replace("clients", pa.table({"client_id": ["c1", "c2"], "name": ["Alfa", "Beta"]}))
>>> report = assess(wh, as_of=dt.date(2024, 12, 31))
>>> report.check("clients_without_lines").count
2
>>> wh.close()
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import ibis
import ibis.expr.types as ir

from salesfolio.contract import TABLES
from salesfolio.reports.quality import (
    QualityCheck,
    QualityReport,
    Severity,
)
from salesfolio.warehouse import Warehouse

MAX_EXAMPLES = 10
TTM_DAYS = 365
COST_GAP_WARNING = 0.05
"""Share of revenue on lines without cost above which margin figures are called unreliable."""
NO_PRODUCT_WARNING = 0.20
"""Share of revenue on lines without product above which category analyses are called unreliable."""
RETURNS_WARNING = 0.10
"""Returns (negative revenue) as a share of gross revenue above which the report warns."""
ASSESSMENT_WARNING = 0.25
"""Share of clients without an assessment (or potential) above which potential-based criteria are weak."""
STALE_DAYS = 45
"""Days between the last invoice line and ``as_of`` above which the data are called stale."""


# -- helpers on Ibis expressions ---------------------------------------------------------------------------------
def _blank(column: ir.Column, *, strip: bool = True) -> ir.BooleanColumn:
    """Null or empty; with ``strip``, also only whitespace.

    Invoice lines are tested without ``strip``: trimming ten million strings costs more than all other line
    checks together, and the importer stores cells already stripped.
    """
    if strip:
        return column.isnull() | (column.strip() == "")
    return column.isnull() | (column == "")


def _rows(expr: ir.Table, limit: int | None = None) -> list[dict[str, Any]]:
    if limit is not None:
        expr = expr.limit(limit)
    return [{k: _plain(v) for k, v in row.items()} for row in expr.to_pyarrow().to_pylist()]


def _one(expr: ir.Table) -> dict[str, Any]:
    rows = _rows(expr)
    return rows[0] if rows else {}


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 2)
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def _share(count: int, total: int) -> float | None:
    return count / total if total else None


def _ratio(part: float | None, whole: float | None) -> float | None:
    if part is None or whole is None or whole <= 0:
        return None
    return part / whole


def _severity(count: int, level: Severity) -> Severity:
    return "info" if count == 0 else level


@dataclass(frozen=True)
class _Context:
    """The tables and windows shared by the checks."""

    wh: Warehouse
    as_of: dt.date
    clients: ir.Table
    reps: ir.Table
    products: ir.Table
    lines: ir.Table
    costs: ir.Table
    opportunities: ir.Table
    assessments: ir.Table

    @property
    def ttm_start(self) -> dt.date:
        """The first day after the TTM window's start (lines with ``date > as_of - 365``)."""
        return self.as_of - dt.timedelta(days=TTM_DAYS)

    def ttm(self, t: ir.Table, column: str = "date") -> ir.Table:
        return t.filter((t[column] > self.ttm_start) & (t[column] <= self.as_of))

    def revenue_ttm(self) -> ir.Table:
        """client_id, revenue_ttm for clients with TTM lines."""
        t = self.ttm(self.lines)
        return t.group_by("client_id").aggregate(revenue_ttm=t.revenue.sum())

    def client_count(self) -> int:
        return int(self.clients.count().execute())

    @cached_property
    def line_summary(self) -> dict[str, Any]:
        """Counts and sums over all invoice lines, in one scan (the line checks read their totals here)."""
        t = self.lines
        no_cost, no_product, negative, future = (
            t.cost.isnull(),
            _blank(t.product_id, strip=False),
            t.revenue < 0,
            t.date > self.as_of,
        )
        summary = _one(
            t.aggregate(
                n=t.count(),
                first=t.date.min(),
                last=t.date.max(),
                revenue=t.revenue.sum(),
                no_cost=no_cost.ifelse(1, 0).sum(),
                no_cost_revenue=no_cost.ifelse(t.revenue, 0.0).sum(),
                no_product=no_product.ifelse(1, 0).sum(),
                no_product_revenue=no_product.ifelse(t.revenue, 0.0).sum(),
                returns=negative.ifelse(1, 0).sum(),
                returned=negative.ifelse(-t.revenue, 0.0).sum(),
                gross=negative.ifelse(0.0, t.revenue).sum(),
                future=future.ifelse(1, 0).sum(),
                future_revenue=future.ifelse(t.revenue, 0.0).sum(),
            )
        )
        counts = ("n", "no_cost", "no_product", "returns", "future")
        return {k: int(v or 0) if k in counts else v for k, v in summary.items()}


def _count(expr: ir.Table) -> int:
    return int(expr.count().execute())


def _by_revenue(ctx: _Context, t: ir.Table) -> ir.Table:
    """``t`` (which has client_id) with the client's TTM revenue (0 when none), most revenue first."""
    rev = ctx.revenue_ttm().rename(revenue_client_id="client_id")
    joined = t.left_join(rev, t.client_id == rev.revenue_client_id)
    return joined.select(*[joined[c] for c in t.columns], revenue_ttm=joined.revenue_ttm.fill_null(0.0)).order_by(
        [ibis.desc("revenue_ttm"), "client_id"]
    )


def _with_names(ctx: _Context, t: ir.Table) -> ir.Table:
    """``t`` (which has client_id) with the client's name from clients (null for clients missing there)."""
    names = ctx.clients.select(name_client_id=ctx.clients.client_id, name=ctx.clients.name)
    joined = t.left_join(names, t.client_id == names.name_client_id)
    return joined.select("client_id", "name", *[c for c in t.columns if c != "client_id"])


# -- the checks --------------------------------------------------------------------------------------------------
def derived_owners(wh: Warehouse, *, as_of: dt.date) -> ir.Table:
    """client_id, owner_id: the rep with the most TTM revenue on each client's invoice lines (ties by rep_id).

    Lines with a blank ``rep_id`` are ignored; clients without such a line in the window get no row.
    """
    lines = wh.table("invoice_lines")
    t = lines.filter(
        (lines.date > as_of - dt.timedelta(days=TTM_DAYS)) & (lines.date <= as_of) & ~_blank(lines.rep_id, strip=False)
    )
    per_rep = t.group_by(["client_id", "rep_id"]).aggregate(revenue=t.revenue.sum())
    ranked = per_rep.mutate(
        rank=ibis.row_number().over(group_by=per_rep.client_id, order_by=[ibis.desc(per_rep.revenue), per_rep.rep_id])
    )
    return ranked.filter(ranked["rank"] == 0).select("client_id", owner_id=ranked.rep_id)


def _date_coverage(ctx: _Context) -> QualityCheck:
    lines, summary = ctx.lines, ctx.line_summary
    if summary["n"] == 0:
        return QualityCheck(
            "date_coverage", "Months without invoice lines", "error", 0, 0, None, [],
            "No invoice lines are loaded: import the ERP's invoice lines first; every analysis starts from them.",
            {"first_date": None, "last_date": None, "months_with_lines": 0, "days_since_last_line": None},
        )  # fmt: skip
    first, last = summary["first"], summary["last"]
    month = (lines.date.year() * 12 + lines.date.month() - 1).name("month")
    present = {int(r["month"]) for r in _rows(lines.select(month).distinct())}
    start = first.year * 12 + first.month - 1
    end = max(ctx.as_of.year * 12 + ctx.as_of.month - 1, start)
    gaps = [m for m in range(start, end + 1) if m not in present]
    days_since = max((ctx.as_of - last).days, 0)
    advice = (
        "Months without a single invoice line are usually a missing export file: re-export them, or the "
        "trend, seasonality and churn signals read them as a collapse in sales."
    )
    if days_since > STALE_DAYS:
        advice += f" The last line is {days_since} days before the reference date: load the latest months."
    return QualityCheck(
        id="date_coverage",
        title="Months without invoice lines",
        severity=_severity(len(gaps), "warning"),
        count=len(gaps),
        total=end - start + 1,
        share=_share(len(gaps), end - start + 1),
        examples=[{"month": f"{m // 12}-{m % 12 + 1:02d}"} for m in gaps[:MAX_EXAMPLES]],
        advice=advice,
        details={
            "first_date": first,
            "last_date": last,
            "months_with_lines": len(present),
            "days_since_last_line": days_since,
        },
    )


def _future_lines(ctx: _Context) -> QualityCheck:
    lines = ctx.lines
    future = lines.filter(lines.date > ctx.as_of)
    count, total = ctx.line_summary["future"], ctx.line_summary["n"]
    examples = _rows(
        future.select("invoice_id", "line_no", "client_id", "date", "revenue").order_by(
            [ibis.desc("date"), "invoice_id", "line_no"]
        ),
        MAX_EXAMPLES,
    )
    return QualityCheck(
        "future_lines", "Invoice lines dated after the reference date", _severity(count, "warning"), count, total,
        _share(count, total), examples,
        f"Analyses as of {ctx.as_of.isoformat()} ignore these lines. If the reference date is today, the dates "
        "are wrong (a day/month swap on import is the usual cause): check the date format of the source.",
        {"revenue": ctx.line_summary["future_revenue"] if count else 0.0,
         "last_date": ctx.line_summary["last"] if count else None},
    )  # fmt: skip


def _client_stubs(ctx: _Context) -> QualityCheck:
    lines, clients = ctx.lines, ctx.clients
    stubs = lines.anti_join(clients, lines.client_id == clients.client_id)
    per_client = stubs.group_by("client_id").aggregate(
        lines=stubs.count(), revenue=stubs.revenue.sum(), first_date=stubs.date.min(), last_date=stubs.date.max()
    )
    summary = _one(
        per_client.aggregate(n=per_client.count(), lines=per_client.lines.sum(), revenue=per_client.revenue.sum())
    )
    count = int(summary.get("n") or 0)
    total = int(lines.client_id.nunique().execute())
    examples = _rows(per_client.order_by([ibis.desc("revenue"), "client_id"]), MAX_EXAMPLES)
    return QualityCheck(
        "client_stubs", "Clients on invoice lines missing from the client list", _severity(count, "warning"),
        count, total, _share(count, total), examples,
        "These clients are analysed with their ID as name and no industry, region or owner: add them to the "
        "client list (or fix the client IDs on the lines).",
        {"lines": int(summary.get("lines") or 0), "revenue": summary.get("revenue") or 0.0},
    )  # fmt: skip


def _clients_without_owner(ctx: _Context) -> QualityCheck:
    clients = ctx.clients
    missing = clients.filter(_blank(clients.owner_id)).select("client_id", "name")
    derived = derived_owners(ctx.wh, as_of=ctx.as_of).rename(derived_client_id="client_id", derived_owner="owner_id")
    joined = missing.left_join(derived, missing.client_id == derived.derived_client_id).select(
        "client_id", "name", "derived_owner"
    )
    summary = _one(joined.aggregate(n=joined.count(), derivable=joined.derived_owner.count()))
    count, derivable = int(summary.get("n") or 0), int(summary.get("derivable") or 0)
    total = ctx.client_count()
    return QualityCheck(
        id="clients_without_owner",
        title="Clients without owner",
        severity=_severity(count - derivable, "warning"),
        count=count,
        total=total,
        share=_share(count, total),
        examples=_rows(_by_revenue(ctx, joined), MAX_EXAMPLES),
        advice=(
            "Set owner_id in the CRM export. Until then the analyses use the rep with the most revenue on the "
            f"client's invoice lines in the last 12 months ({derivable:,} of {count:,} clients)"
            + (f"; left unassigned, with no such line: {count - derivable:,}." if count > derivable else ".")
        ),
        details={"derived_from_invoice_lines": derivable, "unassigned": count - derivable},
    )


def _owners_not_in_reps(ctx: _Context) -> QualityCheck:
    clients, reps = ctx.clients, ctx.reps
    owned = clients.filter(~_blank(clients.owner_id))
    unknown = owned.anti_join(reps, owned.owner_id == reps.rep_id).select("client_id", "name", "owner_id")
    count, total = _count(unknown), _count(owned)
    return QualityCheck(
        "owners_not_in_reps", "Clients whose owner is not in the rep list", _severity(count, "warning"), count,
        total, _share(count, total), _rows(_by_revenue(ctx, unknown), MAX_EXAMPLES),
        "Add these owners to the reps file (with team and capacity), or correct the owner IDs: their clients "
        "drop out of team views, effort and capacity planning.",
        {"owners": int(unknown.owner_id.nunique().execute())},
    )  # fmt: skip


def _effective_owners(ctx: _Context) -> ir.Table:
    """owner_id of every client: clients.owner_id, else the owner derived from invoice lines (may be null)."""
    clients = ctx.clients
    derived = derived_owners(ctx.wh, as_of=ctx.as_of).rename(derived_client_id="client_id", derived_owner="owner_id")
    joined = clients.left_join(derived, clients.client_id == derived.derived_client_id)
    recorded = _blank(joined.owner_id).ifelse(ibis.null("string"), joined.owner_id)
    return joined.select(owner_id=ibis.coalesce(recorded, joined.derived_owner))


def _reps_without_clients(ctx: _Context) -> QualityCheck:
    reps = ctx.reps
    owners = _effective_owners(ctx)
    idle = reps.anti_join(owners, reps.rep_id == owners.owner_id).select("rep_id", "name", "team")
    count, total = _count(idle), _count(reps)
    return QualityCheck(
        "reps_without_clients", "Reps without clients", _severity(count, "info"), count, total,
        _share(count, total), _rows(idle.order_by("rep_id"), MAX_EXAMPLES),
        "Reps who own no client (directly or through their invoice lines) count as idle capacity: remove people "
        "who left, or assign their clients.",
    )  # fmt: skip


def _clients_without_lines(ctx: _Context) -> QualityCheck:
    clients, lines = ctx.clients, ctx.lines
    silent = clients.anti_join(lines, clients.client_id == lines.client_id).select("client_id", "name", "status")
    count, total = _count(silent), ctx.client_count()
    share = _share(count, total)
    return QualityCheck(
        "clients_without_lines", "Clients without any invoice line",
        _severity(count, "warning" if share is not None and share > 0.5 else "info"), count, total, share,
        _rows(silent.order_by("client_id"), MAX_EXAMPLES),
        "Prospects have no invoice yet and that is fine; for a client that did buy, check that its ID is the same "
        "in the client list and on the invoice lines.",
    )  # fmt: skip


def _inactive_clients(ctx: _Context) -> QualityCheck:
    lines = ctx.lines
    bought = lines.filter((lines.date <= ctx.as_of) & (lines.revenue > 0))
    last = bought.group_by("client_id").aggregate(last_purchase=bought.date.max(), revenue_total=bought.revenue.sum())
    inactive = last.filter(last.last_purchase <= ctx.ttm_start)
    count, total = _count(inactive), _count(last)
    examples = _rows(_with_names(ctx, inactive).order_by([ibis.desc("revenue_total"), "client_id"]), MAX_EXAMPLES)
    share = _share(count, total)
    return QualityCheck(
        "inactive_clients", "Clients without a purchase in the last 12 months",
        _severity(count, "warning" if share is not None and share > 0.5 else "info"), count, total, share,
        examples,
        "Not an error in itself: these clients score low on recency and show as lost. If most of the list is "
        "inactive, the client list probably holds years of dead accounts: mark them inactive in the CRM.",
    )  # fmt: skip


def _duplicate_lines(ctx: _Context) -> QualityCheck:
    lines = ctx.lines
    groups = lines.group_by(["invoice_id", "product_id", "quantity", "revenue"]).aggregate(copies=lines.count())
    dupes = groups.filter(groups.copies > 1)
    summary = _one(
        dupes.aggregate(
            groups=dupes.count(), surplus=(dupes.copies - 1).sum(), revenue=((dupes.copies - 1) * dupes.revenue).sum()
        )
    )
    count, total = int(summary.get("surplus") or 0), ctx.line_summary["n"]
    examples = _rows(dupes.order_by([ibis.desc("copies"), ibis.desc("revenue"), "invoice_id"]), MAX_EXAMPLES)
    return QualityCheck(
        "duplicate_lines", "Duplicate invoice lines (same invoice, product, quantity and revenue)",
        _severity(count, "warning"), count, total, _share(count, total), examples,
        "Count is the surplus copies. An export appended twice or a join in the ERP report duplicates lines and "
        "inflates revenue; if the same item really appears twice on one invoice, ignore this.",
        {"groups": int(summary.get("groups") or 0), "surplus_revenue": summary.get("revenue") or 0.0},
    )  # fmt: skip


def _lines_without_cost(ctx: _Context) -> QualityCheck:
    lines = ctx.lines
    no_cost, summary = lines.cost.isnull(), ctx.line_summary
    count, total = summary["no_cost"], summary["n"]
    revenue_share = _ratio(summary["no_cost_revenue"], summary["revenue"])
    missing = lines.filter(no_cost)
    per_product = missing.group_by("product_id").aggregate(lines=missing.count(), revenue=missing.revenue.sum())
    examples = _rows(per_product.order_by([ibis.desc("revenue"), "product_id"]), MAX_EXAMPLES)
    weak = count > 0 and (revenue_share is None or revenue_share > COST_GAP_WARNING)
    if total and count == total:
        advice = "No line has a cost: margin, margin erosion and net contribution drop out of every analysis."
    else:
        advice = (
            "Margin is computed on the lines that have a cost; the rest lowers margin coverage. Export the cost "
            "of goods (or a standard cost per product) for the products listed."
        )
    return QualityCheck(
        "lines_without_cost", "Invoice lines without cost", "warning" if weak else "info", count, total,
        _share(count, total), examples, advice, {"revenue_share": revenue_share},
    )  # fmt: skip


def _lines_without_product(ctx: _Context) -> QualityCheck:
    lines = ctx.lines
    missing, summary = lines.filter(_blank(lines.product_id, strip=False)), ctx.line_summary
    count, total = summary["no_product"], summary["n"]
    revenue_share = _ratio(summary["no_product_revenue"], summary["revenue"])
    examples = _rows(
        missing.select("invoice_id", "line_no", "client_id", "date", "revenue").order_by(
            [ibis.desc("revenue"), "invoice_id", "line_no"]
        ),
        MAX_EXAMPLES,
    )
    weak = count > 0 and (revenue_share is None or revenue_share > NO_PRODUCT_WARNING)
    return QualityCheck(
        "lines_without_product", "Invoice lines without product", "warning" if weak else "info", count, total,
        _share(count, total), examples,
        "Freight, services and manual charges often have no product; they count in revenue but not in category "
        "breadth, lost categories or whitespace.",
        {"revenue_share": revenue_share},
    )  # fmt: skip


def _unknown_products(ctx: _Context) -> QualityCheck:
    lines, products = ctx.lines, ctx.products
    coded = lines.filter(~_blank(lines.product_id, strip=False))
    unknown = coded.anti_join(products, coded.product_id == products.product_id)
    per_product = unknown.group_by("product_id").aggregate(lines=unknown.count(), revenue=unknown.revenue.sum())
    summary = _one(
        per_product.aggregate(
            products=per_product.count(), lines=per_product.lines.sum(), revenue=per_product.revenue.sum()
        )
    )
    count = int(summary.get("lines") or 0)
    total = ctx.line_summary["n"] - ctx.line_summary["no_product"]
    return QualityCheck(
        "unknown_products", "Invoice lines with a product missing from the product list",
        _severity(count, "warning"), count, total, _share(count, total),
        _rows(per_product.order_by([ibis.desc("revenue"), "product_id"]), MAX_EXAMPLES),
        "Their category is unknown, so they count in revenue but not in category breadth, lost categories or "
        "whitespace: add the products (with category) to the product list.",
        {"products": int(summary.get("products") or 0), "revenue": summary.get("revenue") or 0.0},
    )  # fmt: skip


def _products_without_category(ctx: _Context) -> QualityCheck:
    products, lines = ctx.products, ctx.lines
    missing = products.filter(_blank(products.category)).select("product_id", "name")
    sold = lines.group_by(lines.product_id.name("sold_product_id")).aggregate(
        lines=lines.count(), revenue=lines.revenue.sum()
    )
    joined = missing.left_join(sold, missing.product_id == sold.sold_product_id)
    examples = joined.select(
        "product_id", "name", lines=joined.lines.fill_null(0), revenue=joined.revenue.fill_null(0.0)
    ).order_by([ibis.desc("revenue"), "product_id"])
    count, total = _count(missing), _count(products)
    return QualityCheck(
        "products_without_category", "Products without category", _severity(count, "warning"), count, total,
        _share(count, total), _rows(examples, MAX_EXAMPLES),
        "Categories drive category breadth, lost categories and whitespace: give every product one (a catch-all "
        "such as 'Other' is better than none).",
    )  # fmt: skip


def _returns(ctx: _Context) -> QualityCheck:
    lines = ctx.lines
    negative, summary = lines.revenue < 0, ctx.line_summary
    count, total = summary["returns"], summary["n"]
    revenue_share = _ratio(summary["returned"], summary["gross"])
    credit = lines.filter(negative)
    per_client = credit.group_by("client_id").aggregate(lines=credit.count(), returned=(-credit.revenue).sum())
    examples = _rows(_with_names(ctx, per_client).order_by([ibis.desc("returned"), "client_id"]), MAX_EXAMPLES)
    high = revenue_share is not None and revenue_share > RETURNS_WARNING
    return QualityCheck(
        "returns", "Returns and credit notes (negative lines)", "warning" if high else "info", count, total,
        _share(count, total), examples,
        "Revenue is analysed net of returns. A high share of returns usually means credit notes for rebates or "
        "price corrections sit on the invoice lines: check they belong to the same client and period.",
        {"revenue_share": revenue_share, "returned_revenue": summary["returned"]},
    )  # fmt: skip


def _assessed(ctx: _Context) -> ir.Table:
    a = ctx.assessments
    return a.filter(a.period <= ctx.as_of)


def _clients_without_assessment(ctx: _Context) -> QualityCheck:
    clients, assessed = ctx.clients, _assessed(ctx)
    missing = clients.anti_join(assessed, clients.client_id == assessed.client_id).select("client_id", "name")
    count, total = _count(missing), ctx.client_count()
    share = _share(count, total)
    return QualityCheck(
        "clients_without_assessment", "Clients without assessment",
        _severity(count, "warning" if share is not None and share > ASSESSMENT_WARNING else "info"), count,
        total, share, _rows(_by_revenue(ctx, missing), MAX_EXAMPLES),
        "Potential, relationship and strategic fit come from the team's assessments: assess at least the clients "
        "with the most revenue (listed first) in the next workshop.",
    )  # fmt: skip


def _clients_without_potential(ctx: _Context) -> QualityCheck:
    clients, assessed = ctx.clients, _assessed(ctx)
    ranked = assessed.mutate(
        rank=ibis.row_number().over(group_by=assessed.client_id, order_by=ibis.desc(assessed.period))
    )
    latest = ranked.filter((ranked["rank"] == 0) & ranked.potential.notnull())
    missing = clients.anti_join(latest, clients.client_id == latest.client_id).select("client_id", "name")
    count, total = _count(missing), ctx.client_count()
    share = _share(count, total)
    return QualityCheck(
        "clients_without_potential", "Clients without potential in their latest assessment",
        _severity(count, "warning" if share is not None and share > ASSESSMENT_WARNING else "info"), count,
        total, share, _rows(_by_revenue(ctx, missing), MAX_EXAMPLES),
        "Without potential, share of wallet and headroom are empty and the client cannot be placed on the value x "
        "potential matrix: estimate its yearly purchasing potential.",
    )  # fmt: skip


def _cost_to_serve_coverage(ctx: _Context) -> QualityCheck:
    revenue = ctx.revenue_ttm()
    buying = revenue.filter(revenue.revenue_ttm > 0)
    costs = ctx.ttm(ctx.costs, "period")
    covered = costs.select(cost_client_id=costs.client_id).distinct()
    uncovered = buying.anti_join(covered, buying.client_id == covered.cost_client_id)
    count, total = _count(uncovered), _count(buying)
    summary = _one(buying.aggregate(revenue=buying.revenue_ttm.sum()))
    uncovered_revenue = _one(uncovered.aggregate(revenue=uncovered.revenue_ttm.sum())).get("revenue") or 0.0
    total_revenue = summary.get("revenue")
    covered_share = None if not total_revenue else 1.0 - uncovered_revenue / total_revenue
    none_at_all = _count(costs) == 0
    examples = _rows(_with_names(ctx, uncovered).order_by([ibis.desc("revenue_ttm"), "client_id"]), MAX_EXAMPLES)
    advice = (
        "No cost to serve in the last 12 months: net contribution equals gross margin and expensive-to-serve "
        "clients cannot be told apart. Load logistics, service, discount and payment-term costs per client."
        if none_at_all
        else "Clients without cost to serve look cheaper to serve than they are; some (ex-works, prepayment) "
        "really cost nothing."
    )
    return QualityCheck(
        "cost_to_serve_coverage", "Buying clients without cost to serve (last 12 months)",
        "warning" if none_at_all and total else _severity(count, "info"), count, total, _share(count, total),
        examples, advice, {"revenue_share_covered": covered_share},
    )  # fmt: skip


def _opportunities_incomplete(ctx: _Context) -> QualityCheck:
    opps, clients = ctx.opportunities, ctx.clients
    known = clients.select(known_client_id=clients.client_id)
    joined = opps.left_join(known, opps.client_id == known.known_client_id)
    no_client = _blank(joined.client_id)
    flagged = joined.select(
        "opportunity_id", "client_id", "stage", "value",
        no_client=no_client,
        unknown_client=~no_client & joined.known_client_id.isnull(),
        no_value=joined.value.isnull(),
    )  # fmt: skip
    bad = flagged.filter(flagged.no_client | flagged.unknown_client | flagged.no_value)
    summary = _one(
        flagged.aggregate(
            n=flagged.count(),
            no_client=flagged.no_client.ifelse(1, 0).sum(),
            unknown_client=flagged.unknown_client.ifelse(1, 0).sum(),
            no_value=flagged.no_value.ifelse(1, 0).sum(),
        )
    )
    count, total = _count(bad), int(summary.get("n") or 0)
    examples = []
    for row in _rows(bad.order_by("opportunity_id"), MAX_EXAMPLES):
        issues = [label for key, label in _OPPORTUNITY_ISSUES if row.pop(key)]
        examples.append({**row, "issue": ", ".join(issues)})
    return QualityCheck(
        "opportunities_incomplete", "Opportunities without client or value", _severity(count, "warning"), count,
        total, _share(count, total), examples,
        "Deals without a known client are left out of client pipeline figures, deals without value count as 0: "
        "link them to a client in the CRM and give them a value.",
        {k: int(summary.get(k) or 0) for k in ("no_client", "unknown_client", "no_value")},
    )  # fmt: skip


_OPPORTUNITY_ISSUES = (("no_client", "no client"), ("unknown_client", "client not in list"), ("no_value", "no value"))

CHECKS: tuple[Callable[[_Context], QualityCheck], ...] = (
    _date_coverage,
    _future_lines,
    _client_stubs,
    _clients_without_owner,
    _owners_not_in_reps,
    _reps_without_clients,
    _clients_without_lines,
    _inactive_clients,
    _duplicate_lines,
    _lines_without_cost,
    _lines_without_product,
    _unknown_products,
    _products_without_category,
    _returns,
    _clients_without_assessment,
    _clients_without_potential,
    _cost_to_serve_coverage,
    _opportunities_incomplete,
)
"""Every check, in report order."""


def assess(warehouse: Warehouse, *, as_of: dt.date) -> QualityReport:
    """Run every check of :data:`CHECKS` on ``warehouse`` for the reference date ``as_of``.

    Tables that are not loaded count as empty (the checks that need them report 0 of 0, or say what is
    missing). Nothing is written to the warehouse.
    """
    ctx = _Context(
        wh=warehouse,
        as_of=as_of,
        clients=warehouse.table("clients"),
        reps=warehouse.table("reps"),
        products=warehouse.table("products"),
        lines=warehouse.table("invoice_lines"),
        costs=warehouse.table("cost_to_serve"),
        opportunities=warehouse.table("opportunities"),
        assessments=warehouse.table("assessments"),
    )
    return QualityReport(
        as_of=as_of,
        backend=warehouse.backend,
        tables={name: warehouse.row_count(name) for name in TABLES},
        checks=[check(ctx) for check in CHECKS],
    )
