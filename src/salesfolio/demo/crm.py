"""The demo company's master data and CRM tables, each drawn from its own random stream.

Reps, clients, products, cost to serve, pipeline, assessments and activities, all read from one
:class:`~salesfolio.demo.world.DemoWorld` (streams: :func:`salesfolio.demo.world.rng_for`).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from salesfolio.contract import (
    ACTIVITIES,
    ASSESSMENTS,
    CLIENTS,
    COST_TO_SERVE,
    OPPORTUNITIES,
    PRODUCTS,
    REPS,
)
from salesfolio.demo import catalogue as cat
from salesfolio.demo.invoices import PRICE_INCREASE
from salesfolio.demo.world import (
    STREAM_ACTIVITIES,
    STREAM_ASSESS,
    STREAM_COSTS,
    STREAM_PIPELINE,
    DemoWorld,
    days,
    month_index,
    month_start,
    rng_for,
)
from salesfolio.warehouse import conform

CAPITAL_COST = 0.09
"""Yearly cost of capital used to price payment terms (cost = revenue x days / 365 x rate)."""

COST_KINDS = ("logistics", "service", "discounts", "payment_terms")


def _dates(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pa.array(values.astype(np.int32), pa.date32(), mask=missing)


def _take(labels: list[str], index: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pa.array(labels).take(pa.array(index, mask=missing))


def reps_table(world: DemoWorld) -> pa.Table:
    """Reps: ID, name, team, manager (the first rep of each team, who also sells), quarterly capacity."""
    return conform(
        pa.table(
            {
                "rep_id": world.rep_ids,
                "name": world.rep_names,
                "team": world.rep_teams,
                "manager_id": pa.array(world.rep_managers, pa.string()),
                "capacity_hours": world.rep_capacity,
            }
        ),
        REPS,
    )


def clients_table(world: DemoWorld) -> pa.Table:
    """Clients; the owner is missing where the CRM lost it (the invoice lines still name the rep)."""
    return conform(
        pa.table(
            {
                "client_id": world.client_ids,
                "name": world.names,
                "industry": _take(list(cat.INDUSTRIES), world.industry),
                "size_class": world.size_class,
                "region": world.region,
                "country": world.country,
                "owner_id": _take(world.rep_ids, world.rep, ~world.owner_recorded),
                "contract_type": world.contract_type,
                "status": world.status,
                "since": _dates(world.since, world.since < 0),
                "parent_id": _take(world.client_ids, np.maximum(world.parent, 0), world.parent < 0),
            }
        ),
        CLIENTS,
    )


def products_table(world: DemoWorld) -> pa.Table:
    """Products with their category (two made-to-order items have none yet)."""
    return conform(
        pa.table(
            {
                "product_id": world.product_ids,
                "name": world.product_names,
                "category": pa.array(world.product_categories, pa.string()),
            }
        ),
        PRODUCTS,
    )


def _quarters(world: DemoWorld) -> tuple[np.ndarray, np.ndarray]:
    """Quarter number of each month (0 = the quarter of the first month) and the quarters' first days."""
    absolute = world.first_month + np.arange(world.n_months)
    quarter = absolute // 3 - world.first_month // 3
    firsts = np.array([days(month_start(q * 3)) for q in np.unique(absolute // 3)], dtype=np.int64)
    return quarter, firsts


def _by_quarter(matrix: np.ndarray, quarter: np.ndarray) -> np.ndarray:
    starts = np.flatnonzero(np.diff(np.concatenate([[-1], quarter])))
    return np.add.reduceat(matrix, starts, axis=1)


def cost_to_serve_table(world: DemoWorld) -> pa.Table:
    """Cost to serve per client, quarter and kind, from the client's expected revenue and orders.

    logistics = rate x revenue + cost per delivery x orders (export deliveries cost more; 8 % of clients collect
    ex works); service = rate x revenue for serviced installations; discounts = year-end rebates of framework
    and distributor contracts; payment_terms = revenue x days / 365 x :data:`CAPITAL_COST`. Each amount varies
    +-15 % (log-normal) around its expectation; zero amounts are not recorded.
    """
    rng = rng_for(world.seed, STREAM_COSTS)
    quarter, firsts = _quarters(world)
    inflation = (1 + PRICE_INCREASE) ** ((np.arange(world.n_months) - (world.n_months - 1)) / 12.0)
    everyone = slice(None)
    revenue = _by_quarter(world.expected_revenue(everyone) * inflation, quarter)
    orders = _by_quarter(world.expected_orders(everyone), quarter)
    per_kind = np.stack(
        [
            world.logistics_rate[:, None] * revenue + world.delivery_cost[:, None] * orders,
            world.service_rate[:, None] * revenue,
            world.discount_rate[:, None] * revenue,
            revenue * world.payment_days[:, None] / 365.0 * CAPITAL_COST,
        ],
        axis=2,
    )  # clients x quarters x kinds
    amount = np.round(per_kind * np.exp(rng.normal(0.0, 0.15, per_kind.shape)), 2)
    client, q, kind = np.nonzero(amount >= 1.0)
    return conform(
        pa.table(
            {
                "client_id": _take(world.client_ids, client),
                "period": _dates(firsts[q]),
                "kind": _take(list(COST_KINDS), kind),
                "amount": amount[client, q, kind],
            }
        ),
        COST_TO_SERVE,
    )


def opportunities_table(world: DemoWorld) -> pa.Table:
    """Opportunities created over the two years before ``as_of`` (or the whole history, if shorter).

    Bigger clients, development clients and prospects have more deals; values are ~12 % of the client's yearly
    revenue (log-normal); a deal closes 20-180 days after it was created (7 % are never closed in the CRM and
    stay open past their expected close); 45 % of closed deals are won, 10 % at the at-risk key accounts in the
    last nine months (lost to a competitor or on price). 2 % lack a value and 1 % a client (a new lead).
    """
    rng = rng_for(world.seed, STREAM_PIPELINE)
    n = world.n_clients
    as_of = days(world.as_of)
    horizon = min(730, as_of - int(world.month_first_day[0]))
    rank = (np.argsort(np.argsort(world.annual)) + 0.5) / n
    planted = {k: np.isin(world.client_ids, v) for k, v in world.planted.items() if k != "effort_misallocated_reps"}
    mean = 0.3 + 2.0 * rank + 1.5 * planted["hidden_potential"] + 1.0 * planted["prospects"]
    client = np.repeat(np.arange(n), rng.poisson(mean))
    k = len(client)
    created = as_of - rng.integers(0, horizon, k)
    created = np.where(world.end_month[client] < world.n_months, np.minimum(created, as_of - 60), created)
    duration = rng.integers(20, 181, k)
    due = created + duration
    closed = (due <= as_of) & (rng.random(k) >= 0.07)
    recent_risk = planted["at_risk"][client] & (created >= as_of - 270)
    win_p = np.where(recent_risk, 0.10, np.where(planted["prospects"][client], 0.30, 0.45))
    won = closed & (rng.random(k) < win_p)
    elapsed = (as_of - created) / duration
    open_stage = np.minimum(np.searchsorted([0.25, 0.5, 0.8], elapsed, side="right"), 3)
    stage_names = [s for s, _ in cat.OPEN_STAGES] + ["Won", "Lost"]
    stage = np.where(closed, np.where(won, 4, 5), open_stage)
    probability = np.array([p for _, p in cat.OPEN_STAGES] + [1.0, 0.0])[stage]
    base = np.where(planted["hidden_potential"][client], world.annual[client] * 6, world.annual[client])
    value = np.maximum(2000.0, np.round(base * np.exp(rng.normal(np.log(0.12), 0.6, k)), -2))
    reasons = rng.choice(len(cat.LOST_REASONS), k, p=np.array(cat.LOST_REASON_WEIGHTS))
    reasons = np.where(recent_risk, rng.integers(0, 2, k), reasons)  # price or competitor
    # main product: mostly from what the client buys, a third of the deals cross-sell another category
    mix = world.category_weights[client]
    cross = rng.random(k) < 0.33
    affinity = np.array([cat.AFFINITY[i] for i in cat.INDUSTRIES])[world.industry[client]]
    weights = np.where(cross[:, None], affinity * (mix == 0) + 1e-9, mix)
    category = (np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1) < rng.random(k)[:, None]).sum(axis=1)
    category = np.minimum(category, len(world.category_size) - 1)
    product = world.category_offset[category] + rng.integers(0, world.category_size[category])
    no_product = rng.random(k) < 0.3
    no_value = rng.random(k) < 0.02
    no_client = rng.random(k) < 0.01
    order = np.lexsort((client, created))
    width = max(5, len(str(k)))
    opp_ids = [f"OPP-{i:0{width}d}" for i in range(1, k + 1)]
    cols = {
        "client_id": _take(world.client_ids, client[order], no_client[order]),
        "owner_id": _take(world.rep_ids, world.rep[client][order]),
        "stage": _take(stage_names, stage[order]),
        "value": pa.array(value[order], pa.float64(), mask=no_value[order]),
        "probability": probability[order],
        "created": _dates(created[order]),
        "expected_close": _dates(due[order]),
        "closed": _dates(np.minimum(due, as_of)[order], ~closed[order]),
        "won": pa.array(won[order], pa.bool_(), mask=~closed[order]),
        "lost_reason": _take(list(cat.LOST_REASONS), reasons[order], (~closed | won)[order]),
        "product_id": _take(world.product_ids, product[order], no_product[order]),
    }
    return conform(pa.table({"opportunity_id": opp_ids, **cols}), OPPORTUNITIES)


def assessments_table(world: DemoWorld) -> pa.Table:
    """Yearly assessments (period = 1 January) of the last two years, entered in a workshop 2-10 weeks in.

    85 % of clients are assessed for the latest year (every planted development, margin-poor and at-risk
    client), 85 % of those and 40 % of the others for the year before. Potential = the client's revenue level
    x 1.2..4 (log-uniform; 10 % of clients x 4..8), development clients 10..30 x (at least 1.5..3 x the 80th
    percentile of client size), margin-poor big clients 1.05..1.4 x (little room left), prospects 0.5..2 x
    their size. 4 % of the other assessments lack the potential. Relationship and fit are 1..5; at-risk
    accounts fall from 4 to 2, development clients fit 4..5.
    """
    rng = rng_for(world.seed, STREAM_ASSESS)
    n = world.n_clients
    as_of = days(world.as_of)
    planted = {k: np.isin(world.client_ids, v) for k, v in world.planted.items() if k != "effort_misallocated_reps"}
    sure = planted["hidden_potential"] | planted["margin_poor"] | planted["at_risk"]
    latest = sure | (rng.random(n) < 0.85)
    previous = np.where(latest, rng.random(n) < 0.85, rng.random(n) < 0.40)
    relationship = np.clip(np.round(rng.normal(3.4, 0.8, n)), 1, 5).astype(np.int64)
    fit = np.clip(np.round(rng.normal(3.2, 0.9, n)), 1, 5).astype(np.int64)
    fit[planted["hidden_potential"]] = rng.integers(4, 6, int(planted["hidden_potential"].sum()))
    relationship[planted["hidden_potential"]] = rng.integers(3, 5, int(planted["hidden_potential"].sum()))
    big = float(np.quantile(world.annual, 0.8))
    rows: list[dict[str, np.ndarray]] = []
    for offset, assessed in ((1, previous), (0, latest)):
        period = dt.date(world.as_of.year - offset, 1, 1)
        entered = np.minimum(days(period) + rng.integers(14, 71, n), as_of)
        month = np.clip(month_index(period) + 1 - world.first_month, 0, world.n_months - 1)
        level = world.annual * np.exp(np.log1p(world.growth) * (month - (world.n_months - 1)) / 12.0)
        multiple = np.exp(rng.uniform(np.log(1.2), np.log(4.0), n))
        multiple = np.where(rng.random(n) < 0.10, rng.uniform(4.0, 8.0, n), multiple)
        potential = level * multiple
        potential = np.where(planted["margin_poor"], level * rng.uniform(1.05, 1.4, n), potential)
        potential = np.where(planted["prospects"], world.annual * rng.uniform(0.5, 2.0, n), potential)
        hidden = np.maximum(level * rng.uniform(10, 30, n), big * rng.uniform(1.5, 3.0, n))
        potential = np.where(planted["hidden_potential"], hidden, potential)
        rel = np.clip(relationship + rng.integers(-1, 2, n) * (rng.random(n) < 0.3), 1, 5)
        rel = np.where(planted["at_risk"], 4 - 2 * (offset == 0), rel)
        rel = np.where(planted["churned"] & (offset == 0), np.minimum(rel, 2), rel)
        idx = np.flatnonzero(assessed)
        rows.append(
            {
                "client": idx,
                "period": np.full(len(idx), days(period)),
                "potential": np.round(potential[idx], -3),
                "no_potential": (rng.random(len(idx)) < 0.04) & ~sure[idx],
                "relationship": rel[idx],
                "fit": fit[idx],
                "entered": entered[idx],
            }
        )
    c = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    return conform(
        pa.table(
            {
                "client_id": _take(world.client_ids, c["client"]),
                "period": _dates(c["period"]),
                "potential": pa.array(c["potential"], pa.float64(), mask=c["no_potential"]),
                "relationship": pa.array(c["relationship"], pa.int64()),
                "strategic_fit": pa.array(c["fit"], pa.int64()),
                "entered_by": _take(world.rep_ids, world.rep[c["client"]]),
                "entered_at": _dates(c["entered"]),
            }
        ),
        ASSESSMENTS,
    )


def activities_table(world: DemoWorld) -> pa.Table:
    """Visits, calls, offers and meetings over the last two years (or the whole history, if shorter).

    Each rep logs 30-40 % of capacity on client work, spread over the portfolio in proportion to the square root
    of the client's expected revenue (prospects count as a third of their size). The planted effort-misallocated
    reps spread it the other way: 3 x the average weight on the lower half of their portfolio, 0.4 x on the
    upper half. Activity count = Poisson(hours / 1.6); kinds and hours from :data:`catalogue.ACTIVITY_KINDS`.
    Two activities of the same kind on the same day for the same client are one row with the hours added up.
    """
    rng = rng_for(world.seed, STREAM_ACTIVITIES)
    n = world.n_clients
    as_of = days(world.as_of)
    months = min(24, world.n_months)
    window_start = int(world.month_first_day[world.n_months - months])
    value = world.expected_revenue(slice(None))[:, -months:].sum(axis=1)
    value = np.where(world.start_month >= world.n_months, world.annual / 3.0, value)
    weight = np.sqrt(np.maximum(value, 0.0))
    effort = np.isin(world.rep_ids, world.planted["effort_misallocated_reps"])
    n_reps = len(world.rep_ids)
    for r in np.flatnonzero(effort):
        mine = np.flatnonzero(world.rep == r)
        if len(mine):
            mean = weight[mine].mean()
            lower = value[mine] <= np.median(value[mine])
            weight[mine] = np.where(lower, 3.0 * mean, 0.4 * mean)
    weight = weight + 1e-9
    rep_total = np.bincount(world.rep, weights=weight, minlength=n_reps)
    quarters = months / 3.0
    budget = world.rep_capacity * rng.uniform(0.30, 0.40, n_reps) * quarters
    hours = budget[world.rep] * weight / rep_total[world.rep]
    client = np.repeat(np.arange(n), rng.poisson(hours / 1.6))
    k = len(client)
    last_day = np.where(
        world.end_month[client] < world.n_months,
        np.minimum(world.month_first_day[np.minimum(world.end_month[client], world.n_months - 1)] + 45, as_of),
        as_of,
    )
    date = window_start + np.floor(rng.random(k) * (last_day - window_start + 1)).astype(np.int64)
    weekday = (date + 3) % 7
    date = np.where(weekday >= 5, date - (weekday - 4), date)
    share = np.array([s for _, s, _, _ in cat.ACTIVITY_KINDS])
    kind = rng.choice(len(share), k, p=share / share.sum())
    low = np.array([lo for _, _, lo, _ in cat.ACTIVITY_KINDS])[kind]
    high = np.array([hi for _, _, _, hi in cat.ACTIVITY_KINDS])[kind]
    spent = np.round(rng.uniform(low, high) * 4) / 4
    rep = world.rep[client]
    key = ((client * n_reps + rep) * (as_of - window_start + 1) + (date - window_start)) * len(share) + kind
    unique, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    total = np.bincount(inverse, weights=spent, minlength=len(unique))
    kinds = [k for k, _, _, _ in cat.ACTIVITY_KINDS]
    return conform(
        pa.table(
            {
                "client_id": _take(world.client_ids, client[first]),
                "rep_id": _take(world.rep_ids, rep[first]),
                "date": _dates(date[first]),
                "kind": _take(kinds, kind[first]),
                "hours": total,
            }
        ),
        ACTIVITIES,
    )
