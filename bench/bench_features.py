"""Benchmark of the client feature step, whole process from Parquet on disk to a pandas frame in memory.

Implementations, each timed in a fresh subprocess:

``floor``   DuckDB ``SELECT sum(revenue), count(*)`` over the invoice-line Parquet (what a scan costs);
``sql``     the same features as salesfolio, in hand-written DuckDB SQL tuned the way
            shared/notes/performance-anchors.md describes (pre-aggregate per invoice and per client x category,
            no COUNT(DISTINCT));
``ibis``    salesfolio's :func:`client_features` on DuckDB (``read_parquet`` views on an in-memory
            :class:`~salesfolio.warehouse.Warehouse`, so with the warehouse's engine settings: by default
            DuckDB's ``memory_limit`` of ``DEFAULT_MEMORY_LIMIT``; ``--memory-limit none`` for DuckDB's own default,
            ``--threads 1`` for one thread);
``pandas``  an idiomatic pandas groupby implementation of the same features.

Usage::

    .venv/bin/python bench/bench_features.py                  # 1 M lines, 10 k clients
    .venv/bin/python bench/bench_features.py --large          # 10 M lines, 100 k clients
    .venv/bin/python bench/bench_features.py --lines 2000000 --clients 20000 --runs 5 --pause 10
    .venv/bin/python bench/bench_features.py --large --variants ibis --memory-limit none   # DuckDB's default

Before every timed run the benchmark pauses (``--pause``, default 8 s): memory freed by the previous process is
handed back to the host slowly and the next big process would pay for faulting it in (see the anchors note).
It prints the median wall time, the user and system CPU time and the peak RSS of each child (``os.wait4``), the
ratios to the tuned SQL, and then checks that every implementation's frame equals salesfolio's (floats within
1e-9 relative).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

AS_OF = date(2024, 12, 31)
FIRST_DAY = date(2022, 1, 1)  # 36 months of history
N_CATEGORIES = 20
N_PRODUCTS = 5_000
N_REPS = 500
RETURN_SHARE = 0.019
COST_SHARE = 0.85
VARIANTS = ("floor", "sql", "ibis", "pandas")


# -- data -------------------------------------------------------------------------------------------------------
def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    import pyarrow as pa

    return pa.array([f"{prefix}{n:0{width}d}" for n in numbers.tolist()], type=pa.string())


def generate(out: Path, n_lines: int, n_clients: int, seed: int = 42) -> dict[str, int]:
    """Write synthetic canonical tables as Parquet into ``out``; return row counts.

    Clients differ in size (log-normal invoice counts) and life span (some start late, some stop buying); an
    invoice has about four lines of one client, date and rep; 1.9 % of lines are returns; 85 % of lines carry a
    cost; 10 % of clients have no owner_id, so it is derived from their lines. Tables are conformed to the data
    contract (every contract column present), as the warehouse holds them.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from salesfolio.contract import TABLES
    from salesfolio.warehouse import conform

    def write(name: str, table: pa.Table) -> None:
        pq.write_table(conform(table, TABLES[name]), out / f"{name}.parquet")

    rng = np.random.default_rng(seed)
    days = (AS_OF - FIRST_DAY).days + 1
    n_invoices = max(n_lines // 4, 1)

    size = rng.lognormal(0.0, 1.2, n_clients)
    client_of_invoice = rng.choice(n_clients, size=n_invoices, p=size / size.sum())
    start = rng.integers(-days // 2, days - 30, n_clients).clip(0)
    stop = np.where(rng.random(n_clients) < 0.25, rng.integers(start + 30, days + 1), days)
    day_of_invoice = start[client_of_invoice] + (rng.random(n_invoices) * (stop - start)[client_of_invoice])
    day_of_invoice = day_of_invoice.astype(np.int64).clip(0, days - 1)
    primary_rep = rng.integers(0, N_REPS, n_clients)
    rep_of_invoice = np.where(
        rng.random(n_invoices) < 0.9, primary_rep[client_of_invoice], rng.integers(0, N_REPS, n_invoices)
    )

    invoice_of_line = np.sort(rng.integers(0, n_invoices, n_lines))
    line_no = np.arange(n_lines) - np.searchsorted(invoice_of_line, invoice_of_line, side="left") + 1
    popularity = 1.0 / np.arange(1, N_PRODUCTS + 1) ** 0.8
    product = rng.choice(N_PRODUCTS, size=n_lines, p=popularity / popularity.sum())
    quantity = rng.integers(1, 20, n_lines).astype(np.float64)
    returned = rng.random(n_lines) < RETURN_SHARE
    quantity[returned] *= -1
    price = np.round(rng.lognormal(3.0, 0.8, N_PRODUCTS), 2)[product]
    revenue = np.round(quantity * price, 2)
    cost = np.round(revenue * rng.uniform(0.55, 0.85, n_lines), 2)
    has_cost = rng.random(n_lines) < COST_SHARE

    client_ids = _ids("C", np.arange(n_clients + n_clients // 50), 7)  # 2 % prospects without lines
    rep_ids = _ids("R", np.arange(N_REPS), 4)
    epoch = np.datetime64(FIRST_DAY, "D")
    line_days = (epoch + day_of_invoice[invoice_of_line]).astype("datetime64[D]")
    lines = pa.table(
        {
            "invoice_id": pc.cast(pa.array(invoice_of_line + 1_000_000), pa.string()),
            "line_no": pa.array(line_no, pa.int64()),
            "client_id": client_ids.take(pa.array(client_of_invoice[invoice_of_line])),
            "date": pa.array(line_days, pa.date32()),
            "product_id": _ids("P", np.arange(N_PRODUCTS), 5).take(pa.array(product)),
            "quantity": quantity,
            "revenue": revenue,
            "cost": pa.array(cost, mask=~has_cost),
            "rep_id": rep_ids.take(pa.array(rep_of_invoice[invoice_of_line])),
        }
    )
    write("invoice_lines", lines)

    n_all = len(client_ids)
    owner = rng.integers(0, N_REPS, n_all)
    owner[:n_clients] = primary_rep
    write(
        "clients",
        pa.table(
            {
                "client_id": client_ids,
                "name": _ids("Client ", np.arange(n_all), 7),
                "industry": pa.array(rng.choice(["metal", "food", "retail", "energy"], n_all)),
                "region": pa.array(rng.choice(["north", "south", "east", "west"], n_all)),
                "owner_id": pa.array(rep_ids.take(pa.array(owner)).to_pylist(), mask=rng.random(n_all) < 0.1),
            }
        ),
    )
    write(
        "products",
        pa.table(
            {
                "product_id": _ids("P", np.arange(N_PRODUCTS), 5),
                "category": _ids("cat", np.arange(N_PRODUCTS) % N_CATEGORIES, 2),
            }
        ),
    )

    assessed = rng.choice(n_all, n_all * 3 // 10, replace=False)
    periods = [date(2023, 7, 1), date(2024, 7, 1), date(2025, 7, 1)]
    a_client = np.repeat(assessed, len(periods))
    write(
        "assessments",
        pa.table(
            {
                "client_id": client_ids.take(pa.array(a_client)),
                "period": pa.array(periods * len(assessed), pa.date32()),
                "potential": np.round(rng.lognormal(9.0, 1.0, len(a_client)), 0),
                "relationship": rng.integers(1, 6, len(a_client)),
                "strategic_fit": rng.integers(1, 6, len(a_client)),
            }
        ),
    )

    n_opps = max(n_all // 2, 1)
    created = epoch + rng.integers(0, days + 60, n_opps)  # some created after as_of: must be ignored
    closes = rng.random(n_opps) < 0.6
    closed = created + rng.integers(5, 200, n_opps)
    write(
        "opportunities",
        pa.table(
            {
                "opportunity_id": _ids("O", np.arange(n_opps), 8),
                "client_id": client_ids.take(pa.array(rng.integers(0, n_all, n_opps))),
                "stage": pa.array(np.where(closes, "closed", "open")),
                "value": np.round(rng.lognormal(8.0, 1.0, n_opps), 0),
                "probability": np.round(rng.uniform(0.05, 0.95, n_opps), 2),
                "created": pa.array(created.astype("datetime64[D]"), pa.date32()),
                "closed": pa.array(closed.astype("datetime64[D]"), pa.date32(), mask=~closes),
                "won": pa.array(rng.random(n_opps) < 0.4, mask=~closes),
            }
        ),
    )

    served = rng.choice(n_all, n_all // 5, replace=False)
    months = [date(2024, m, 1) for m in range(1, 13)]
    write(
        "cost_to_serve",
        pa.table(
            {
                "client_id": client_ids.take(pa.array(np.repeat(served, 12))),
                "period": pa.array(months * len(served), pa.date32()),
                "kind": pa.array(["logistics"] * (12 * len(served))),
                "amount": np.round(rng.uniform(10, 500, 12 * len(served)), 2),
            }
        ),
    )

    n_acts = n_all * 2
    write(
        "activities",
        pa.table(
            {
                "client_id": client_ids.take(pa.array(rng.integers(0, n_all, n_acts))),
                "rep_id": rep_ids.take(pa.array(rng.integers(0, N_REPS, n_acts))),
                "date": pa.array((epoch + rng.integers(0, days, n_acts)).astype("datetime64[D]"), pa.date32()),
                "kind": pa.array(["visit"] * n_acts),
                "hours": np.round(rng.uniform(0.5, 8, n_acts), 1),
            }
        ),
    )
    return {"invoice_lines": n_lines, "clients": n_all, "invoices": n_invoices}


# -- the windows, written out by hand for AS_OF (independent of salesfolio's own date arithmetic) ---------------------
TTM_START = date(2023, 12, 31)  # TTM: TTM_START < date <= AS_OF
PRIOR_START = date(2022, 12, 31)  # prior TTM: PRIOR_START < date <= TTM_START
TREND_FIRST, TREND_LAST = date(2023, 1, 1), date(2024, 12, 31)  # 24 complete months, x = 0 .. 23
TREND_START_NUMBER = 2023 * 12
SPAN_DAYS = (AS_OF - PRIOR_START).days  # 731: the 24 months hold 29 February 2024

TUNED_SQL = """
WITH lines AS {materialized} (
    SELECT client_id, invoice_id, date, revenue, cost, product_id, rep_id
    FROM read_parquet('{data}/invoice_lines.parquet')
    WHERE client_id IS NOT NULL AND date <= DATE '{as_of}'
), clients AS (
    SELECT * FROM read_parquet('{data}/clients.parquet') WHERE client_id IS NOT NULL
), inv AS (
    SELECT client_id, invoice_id, date,
        sum(revenue) AS revenue,
        sum(revenue) FILTER (WHERE revenue > 0) AS positive,
        sum(revenue) FILTER (WHERE revenue < 0) AS negative,
        sum(revenue - cost) AS margin,
        sum(revenue) FILTER (WHERE cost IS NOT NULL) AS revenue_costed,
        sum(abs(revenue)) AS absolute,
        sum(abs(revenue)) FILTER (WHERE cost IS NOT NULL) AS absolute_costed
    FROM lines GROUP BY client_id, invoice_id, date
), purchases AS (
    SELECT client_id,
        sum(revenue) FILTER (WHERE date > DATE '{ttm}') AS revenue_ttm,
        sum(revenue) FILTER (WHERE date > DATE '{prior}' AND date <= DATE '{ttm}') AS revenue_prior_ttm,
        sum(margin) FILTER (WHERE date > DATE '{ttm}') AS margin_ttm,
        sum(margin) FILTER (WHERE date > DATE '{prior}' AND date <= DATE '{ttm}') AS margin_prior_ttm,
        sum(revenue_costed) FILTER (WHERE date > DATE '{ttm}') AS costed_ttm,
        sum(revenue_costed) FILTER (WHERE date > DATE '{prior}' AND date <= DATE '{ttm}') AS costed_prior,
        sum(absolute) FILTER (WHERE date > DATE '{ttm}') AS absolute_ttm,
        sum(absolute_costed) FILTER (WHERE date > DATE '{ttm}') AS absolute_costed_ttm,
        sum(positive) FILTER (WHERE date > DATE '{ttm}') AS positive_ttm,
        sum(negative) FILTER (WHERE date > DATE '{ttm}') AS negative_ttm,
        count(*) FILTER (WHERE revenue > 0 AND date > DATE '{ttm}') AS orders_ttm,
        count(*) FILTER (WHERE revenue > 0 AND date > DATE '{prior}' AND date <= DATE '{ttm}') AS orders_prior_ttm,
        count(*) FILTER (WHERE revenue > 0) AS orders_total,
        min(date) FILTER (WHERE revenue > 0) AS first_purchase,
        max(date) FILTER (WHERE revenue > 0) AS last_purchase,
        sum(revenue) FILTER (WHERE date >= DATE '{trend_first}') AS sy,
        sum(revenue * (year(date) * 12 + month(date) - 1 - {trend_start}))
            FILTER (WHERE date >= DATE '{trend_first}') AS sxy
    FROM inv GROUP BY client_id
), gaps AS (
    SELECT client_id, median(gap::DOUBLE) AS median_gap_days
    FROM (
        SELECT client_id, date - lag(date) OVER (PARTITION BY client_id ORDER BY date) AS gap
        FROM inv WHERE revenue > 0 AND date > DATE '{prior}'
    )
    WHERE gap > 0 GROUP BY client_id HAVING count(*) >= 2
), per_category AS (
    SELECT l.client_id, p.category,
        sum(l.revenue) FILTER (WHERE l.date > DATE '{ttm}') AS ttm,
        sum(l.revenue) FILTER (WHERE l.date <= DATE '{ttm}') AS prior
    FROM lines l JOIN read_parquet('{data}/products.parquet') p ON l.product_id = p.product_id
    WHERE l.date > DATE '{prior}' AND p.category IS NOT NULL
    GROUP BY l.client_id, p.category
), categories AS (
    SELECT client_id,
        count(*) FILTER (WHERE ttm > 0) AS categories_ttm,
        count(*) FILTER (WHERE prior > 0) AS categories_prior_ttm,
        count(*) FILTER (WHERE prior > 0 AND coalesce(ttm, 0) <= 0) AS lost_categories
    FROM per_category GROUP BY client_id
), owners AS (
    SELECT client_id, rep_id AS derived_owner
    FROM (
        SELECT client_id, rep_id, sum(revenue) AS revenue
        FROM lines ANTI JOIN (SELECT client_id FROM clients WHERE owner_id IS NOT NULL) USING (client_id)
        WHERE date > DATE '{ttm}' AND rep_id IS NOT NULL GROUP BY client_id, rep_id
    )
    WHERE revenue > 0
    QUALIFY row_number() OVER (PARTITION BY client_id ORDER BY round(revenue, 2) DESC, rep_id) = 1
), assessed AS (
    SELECT client_id, potential::DOUBLE AS potential, relationship::DOUBLE AS relationship,
        strategic_fit::DOUBLE AS strategic_fit
    FROM read_parquet('{data}/assessments.parquet')
    WHERE client_id IS NOT NULL AND period <= DATE '{as_of}'
    QUALIFY row_number() OVER (PARTITION BY client_id ORDER BY period DESC) = 1
), pipeline AS (
    SELECT client_id,
        sum(value * probability) FILTER (WHERE is_open) AS pipeline_weighted,
        count(*) FILTER (WHERE is_open) AS pipeline_open,
        count(*) FILTER (WHERE decided AND won) AS won,
        count(*) FILTER (WHERE decided) AS decided,
        max(created) FILTER (WHERE created <= DATE '{as_of}') AS last_created
    FROM (
        SELECT *,
            (created IS NULL OR created <= DATE '{as_of}')
                AND ((closed IS NULL AND won IS NULL) OR closed > DATE '{as_of}') AS is_open,
            closed > DATE '{prior}' AND closed <= DATE '{as_of}' AND won IS NOT NULL AS decided
        FROM read_parquet('{data}/opportunities.parquet') WHERE client_id IS NOT NULL
    ) GROUP BY client_id
), serving AS (
    SELECT client_id, sum(amount) AS cost_to_serve_ttm FROM read_parquet('{data}/cost_to_serve.parquet')
    WHERE client_id IS NOT NULL AND period > DATE '{ttm}' AND period <= DATE '{as_of}' GROUP BY client_id
), hours AS (
    SELECT client_id, sum(hours) AS hours_ttm FROM read_parquet('{data}/activities.parquet')
    WHERE client_id IS NOT NULL AND date > DATE '{ttm}' AND date <= DATE '{as_of}' GROUP BY client_id
), flags AS (
    SELECT
        (SELECT count(*) > 0 FROM read_parquet('{data}/products.parquet') WHERE category IS NOT NULL) AS has_cat,
        (SELECT count(*) > 0 FROM read_parquet('{data}/opportunities.parquet')) AS has_opp,
        (SELECT count(*) > 0 FROM read_parquet('{data}/cost_to_serve.parquet')) AS has_cts,
        (SELECT count(*) > 0 FROM read_parquet('{data}/activities.parquet')) AS has_act
), universe AS (
    SELECT client_id FROM clients UNION SELECT client_id FROM purchases
), joined AS (
    SELECT u.client_id, c.* EXCLUDE (client_id), c.client_id IS NOT NULL AS in_clients,
        pu.* EXCLUDE (client_id), g.median_gap_days, ca.* EXCLUDE (client_id), o.derived_owner,
        a.* EXCLUDE (client_id), pi.* EXCLUDE (client_id), s.cost_to_serve_ttm, h.hours_ttm,
        coalesce(pu.revenue_ttm, 0) AS rev, coalesce(pu.revenue_prior_ttm, 0) AS rev_prior,
        CASE WHEN pu.costed_ttm > 0 THEN pu.margin_ttm / pu.costed_ttm END AS pct,
        CASE WHEN pu.costed_prior > 0 THEN pu.margin_prior_ttm / pu.costed_prior END AS pct_prior,
        (DATE '{as_of}' - pu.last_purchase)::DOUBLE AS recency,
        (DATE '{as_of}' - pu.first_purchase)::DOUBLE AS tenure,
        CASE WHEN (SELECT has_cts FROM flags) THEN coalesce(s.cost_to_serve_ttm, 0) END AS cts
    FROM universe u
    LEFT JOIN clients c USING (client_id) LEFT JOIN purchases pu USING (client_id)
    LEFT JOIN gaps g USING (client_id) LEFT JOIN categories ca USING (client_id)
    LEFT JOIN owners o USING (client_id) LEFT JOIN assessed a USING (client_id)
    LEFT JOIN pipeline pi USING (client_id) LEFT JOIN serving s USING (client_id)
    LEFT JOIN hours h USING (client_id)
)
SELECT client_id, coalesce(name, client_id) AS name, industry, size_class, region, country,
    coalesce(owner_id, derived_owner) AS owner_id, contract_type, status, parent_id,
    CASE WHEN owner_id IS NOT NULL THEN 'clients' WHEN derived_owner IS NOT NULL THEN 'invoice_lines' END
        AS owner_source,
    in_clients,
    rev AS revenue_ttm, rev_prior AS revenue_prior_ttm,
    CASE WHEN rev_prior > 0 THEN rev / rev_prior - 1 END AS growth,
    margin_ttm, margin_prior_ttm, pct AS margin_pct_ttm, pct_prior AS margin_pct_prior_ttm,
    pct_prior - pct AS margin_erosion,
    CASE WHEN absolute_ttm > 0 THEN coalesce(absolute_costed_ttm, 0) / absolute_ttm END AS cost_coverage,
    coalesce(orders_ttm, 0) AS orders_ttm, coalesce(orders_prior_ttm, 0) AS orders_prior_ttm,
    coalesce(orders_total, 0) AS orders_total, first_purchase, last_purchase,
    recency AS recency_days, tenure AS tenure_days,
    CASE WHEN tenure IS NOT NULL THEN (coalesce(orders_ttm, 0) + coalesce(orders_prior_ttm, 0)) * 365.0
        / greatest(least(tenure, {span}), 30) END AS frequency,
    CASE WHEN orders_ttm > 0 THEN rev / orders_ttm END AS avg_order_value,
    median_gap_days, CASE WHEN median_gap_days > 0 THEN recency / median_gap_days END AS order_gap_ratio,
    CASE WHEN (SELECT has_cat FROM flags) THEN coalesce(categories_ttm, 0) END::DOUBLE AS categories_ttm,
    CASE WHEN (SELECT has_cat FROM flags) THEN coalesce(categories_prior_ttm, 0) END::DOUBLE
        AS categories_prior_ttm,
    CASE WHEN (SELECT has_cat FROM flags) THEN coalesce(lost_categories, 0) END::DOUBLE AS lost_categories,
    CASE WHEN positive_ttm > 0 THEN -coalesce(negative_ttm, 0) / positive_ttm END AS returns_share,
    CASE WHEN sy > 0 THEN 24 * (24 * sxy - 276 * sy) / (27600 * sy) END AS trend_slope,
    cts AS cost_to_serve_ttm, margin_ttm - coalesce(cts, 0) AS net_contribution,
    potential, relationship, strategic_fit,
    CASE WHEN potential > 0 THEN rev / potential END AS share_of_wallet,
    CASE WHEN potential IS NOT NULL THEN greatest(potential - rev, 0) END AS headroom,
    CASE WHEN (SELECT has_opp FROM flags) THEN coalesce(pipeline_weighted, 0) END AS pipeline_weighted,
    CASE WHEN (SELECT has_opp FROM flags) THEN coalesce(pipeline_open, 0) END::DOUBLE AS pipeline_open,
    CASE WHEN decided > 0 THEN won / decided END AS win_rate,
    (DATE '{as_of}' - last_created)::DOUBLE AS days_since_last_opportunity,
    CASE WHEN (SELECT has_act FROM flags) THEN coalesce(hours_ttm, 0) END AS hours_ttm
FROM joined
"""


def tuned_sql(data: Path, materialized: str = "NOT MATERIALIZED") -> str:
    """The hand-tuned DuckDB query for the files in ``data``.

    ``lines`` is referenced three times; DuckDB 1.5 then materialises it (10 M lines: about 1.5 GB RSS and more
    CPU), so the default is ``NOT MATERIALIZED``; set BENCH_SQL_MATERIALIZED to '' or 'MATERIALIZED' to compare.
    """
    return TUNED_SQL.format(
        data=data, as_of=AS_OF, ttm=TTM_START, prior=PRIOR_START, trend_first=TREND_FIRST,
        trend_start=TREND_START_NUMBER, span=SPAN_DAYS, materialized=materialized,
    )  # fmt: skip


# -- pandas, as an analyst writes it with groupby ------------------------------------------------------------------
def pandas_features(data: Path) -> pd.DataFrame:
    """The same features with pandas groupby (dates converted on read; sums keep SQL's null for 'no rows')."""
    import pandas as pd

    as_of, ttm_start, prior_start = pd.Timestamp(AS_OF), pd.Timestamp(TTM_START), pd.Timestamp(PRIOR_START)

    def read(name: str, columns: list[str], dates: tuple[str, ...] = ()) -> pd.DataFrame:
        frame = pd.read_parquet(data / f"{name}.parquet", columns=columns)
        for c in dates:
            frame[c] = pd.to_datetime(frame[c])
        return frame

    lines = read("invoice_lines", ["client_id", "invoice_id", "date", "revenue", "cost", "product_id", "rep_id"],
                 ("date",))  # fmt: skip
    lines = lines[lines.client_id.notna() & (lines.date <= as_of)]
    rev, costed = lines.revenue, lines.cost.notna()
    lines = lines.assign(
        positive=rev.where(rev > 0), negative=rev.where(rev < 0), margin=rev - lines.cost,
        revenue_costed=rev.where(costed), absolute=rev.abs(), absolute_costed=rev.abs().where(costed),
    )  # fmt: skip
    sums = ["revenue", "positive", "negative", "margin", "revenue_costed", "absolute", "absolute_costed"]
    inv = lines.groupby(["client_id", "invoice_id", "date"], sort=False)[sums].sum(min_count=1).reset_index()

    ttm = inv.date > ttm_start
    prior = (inv.date > prior_start) & ~ttm
    order = inv.revenue > 0
    by_client = inv.groupby("client_id")
    p = pd.DataFrame(index=pd.Index(by_client.size().index, name="client_id"))
    for suffix, mask in (("ttm", ttm), ("prior", prior)):
        part = inv[mask].groupby("client_id")[sums].sum(min_count=1).add_suffix(f"_{suffix}")
        p = p.join(part)
        p[f"orders_{suffix}"] = inv[mask & order].groupby("client_id").size()
    p["orders_total"] = inv[order].groupby("client_id").size()
    p["first_purchase"] = inv[order].groupby("client_id").date.min()
    p["last_purchase"] = inv[order].groupby("client_id").date.max()
    trend = inv[inv.date >= pd.Timestamp(TREND_FIRST)]
    x = trend.date.dt.year * 12 + trend.date.dt.month - 1 - TREND_START_NUMBER
    p["sy"] = trend.groupby("client_id").revenue.sum()
    p["sxy"] = (trend.revenue * x).groupby(trend.client_id).sum()

    days = inv[order & (inv.date > prior_start)][["client_id", "date"]].drop_duplicates()
    days = days.sort_values(["client_id", "date"])
    days["gap"] = days.groupby("client_id").date.diff().dt.days
    gaps = days.dropna(subset=["gap"]).groupby("client_id").gap.agg(["median", "size"])
    p["median_gap_days"] = gaps["median"][gaps["size"] >= 2]

    products = read("products", ["product_id", "category"]).dropna(subset=["category"])
    recent = lines[lines.date > prior_start].merge(products, on="product_id")
    recent = recent.assign(ttm=recent.revenue.where(recent.date > ttm_start),
                           prior=recent.revenue.where(recent.date <= ttm_start))  # fmt: skip
    per_cat = recent.groupby(["client_id", "category"])[["ttm", "prior"]].sum(min_count=1)
    bought_ttm, bought_prior = per_cat.ttm.fillna(0) > 0, per_cat.prior.fillna(0) > 0
    cats = pd.DataFrame({"categories_ttm": bought_ttm, "categories_prior_ttm": bought_prior,
                         "lost_categories": bought_prior & ~bought_ttm}).groupby("client_id").sum()  # fmt: skip

    per_rep = lines[(lines.date > ttm_start) & lines.rep_id.notna()].groupby(["client_id", "rep_id"]).revenue.sum()
    per_rep = per_rep[per_rep > 0].reset_index()
    per_rep["rounded"] = per_rep.revenue.round(2)
    owners = per_rep.sort_values(["client_id", "rounded", "rep_id"], ascending=[True, False, True])
    owners = owners.drop_duplicates("client_id").set_index("client_id").rep_id.rename("derived_owner")

    clients = read("clients", ["client_id", "name", "industry", "size_class", "region", "country", "owner_id",
                               "contract_type", "status", "parent_id"])  # fmt: skip
    clients = clients[clients.client_id.notna()].set_index("client_id")
    assess = read("assessments", ["client_id", "period", "potential", "relationship", "strategic_fit"], ("period",))
    assess = assess[assess.client_id.notna() & (assess.period <= as_of)].sort_values("period")
    assess = assess.drop_duplicates("client_id", keep="last").set_index("client_id").drop(columns="period")
    opps = read("opportunities", ["client_id", "value", "probability", "created", "closed", "won"],
                ("created", "closed"))  # fmt: skip
    has_opp = len(opps) > 0
    opps = opps[opps.client_id.notna()]
    is_open = (opps.created.isna() | (opps.created <= as_of)) & (
        (opps.closed.isna() & opps.won.isna()) | (opps.closed > as_of)
    )
    decided = (opps.closed > prior_start) & (opps.closed <= as_of) & opps.won.notna()
    pipe = pd.DataFrame(
        {
            "pipeline_weighted": (opps.value * opps.probability).where(is_open).groupby(opps.client_id).sum(),
            "pipeline_open": is_open.groupby(opps.client_id).sum(),
            "won": (decided & (opps.won == True)).groupby(opps.client_id).sum(),  # noqa: E712
            "decided": decided.groupby(opps.client_id).sum(),
            "last_created": opps.created.where(opps.created <= as_of).groupby(opps.client_id).max(),
        }
    )
    cts = read("cost_to_serve", ["client_id", "period", "amount"], ("period",))
    has_cts = len(cts) > 0
    cts = cts[(cts.period > ttm_start) & (cts.period <= as_of)].groupby("client_id").amount.sum()
    acts = read("activities", ["client_id", "date", "hours"], ("date",))
    has_act = len(acts) > 0
    acts = acts[(acts.date > ttm_start) & (acts.date <= as_of)].groupby("client_id").hours.sum()

    ids = clients.index.union(p.index)
    f = pd.DataFrame(index=pd.Index(ids, name="client_id"))
    f = f.join(clients).join(p).join(cats).join(owners).join(assess).join(pipe)
    f["in_clients"] = f.index.isin(clients.index)
    f["cost_to_serve_ttm"] = cts.reindex(f.index).fillna(0.0) if has_cts else float("nan")
    f["hours_ttm"] = acts.reindex(f.index).fillna(0.0) if has_act else float("nan")
    out = pd.DataFrame(index=f.index)
    out["name"] = f.name.fillna(pd.Series(f.index, index=f.index))
    for c in ("industry", "size_class", "region", "country"):
        out[c] = f[c]
    out["owner_id"] = f.owner_id.fillna(f.derived_owner)
    out["contract_type"], out["status"], out["parent_id"] = f.contract_type, f.status, f.parent_id
    out["owner_source"] = pd.Series(None, index=f.index, dtype="object")
    out.loc[f.derived_owner.notna(), "owner_source"] = "invoice_lines"
    out.loc[f.owner_id.notna(), "owner_source"] = "clients"
    out["in_clients"] = f.in_clients
    rev, rev_prior = f.revenue_ttm.fillna(0.0), f.revenue_prior.fillna(0.0)
    out["revenue_ttm"], out["revenue_prior_ttm"] = rev, rev_prior
    out["growth"] = (rev / rev_prior - 1).where(rev_prior > 0)
    out["margin_ttm"], out["margin_prior_ttm"] = f.margin_ttm, f.margin_prior
    pct = (f.margin_ttm / f.revenue_costed_ttm).where(f.revenue_costed_ttm > 0)
    pct_prior = (f.margin_prior / f.revenue_costed_prior).where(f.revenue_costed_prior > 0)
    out["margin_pct_ttm"], out["margin_pct_prior_ttm"], out["margin_erosion"] = pct, pct_prior, pct_prior - pct
    out["cost_coverage"] = (f.absolute_costed_ttm.fillna(0.0) / f.absolute_ttm).where(f.absolute_ttm > 0)
    orders_ttm, orders_prior = f.orders_ttm.fillna(0).astype("int64"), f.orders_prior.fillna(0).astype("int64")
    out["orders_ttm"], out["orders_prior_ttm"] = orders_ttm, orders_prior
    out["orders_total"] = f.orders_total.fillna(0).astype("int64")
    out["first_purchase"], out["last_purchase"] = f.first_purchase, f.last_purchase
    recency = (as_of - f.last_purchase).dt.days.astype("float64")
    tenure = (as_of - f.first_purchase).dt.days.astype("float64")
    out["recency_days"], out["tenure_days"] = recency, tenure
    out["frequency"] = (orders_ttm + orders_prior) * 365.0 / tenure.clip(upper=SPAN_DAYS).clip(lower=30)
    out["avg_order_value"] = (rev / orders_ttm).where(orders_ttm > 0)
    out["median_gap_days"] = f.median_gap_days
    out["order_gap_ratio"] = recency / f.median_gap_days
    for c in ("categories_ttm", "categories_prior_ttm", "lost_categories"):
        out[c] = f[c].fillna(0).astype("float64") if len(products) else float("nan")
    out["returns_share"] = (-f.negative_ttm.fillna(0.0) / f.positive_ttm).where(f.positive_ttm > 0) + 0.0
    out["trend_slope"] = (24 * (24 * f.sxy - 276 * f.sy) / (27600 * f.sy)).where(f.sy > 0)
    out["cost_to_serve_ttm"] = f.cost_to_serve_ttm
    out["net_contribution"] = f.margin_ttm - f.cost_to_serve_ttm.fillna(0.0)
    for c in ("potential", "relationship", "strategic_fit"):
        out[c] = f[c].astype("float64")
    out["share_of_wallet"] = (rev / f.potential).where(f.potential > 0)
    out["headroom"] = (f.potential - rev).clip(lower=0.0)
    out["pipeline_weighted"] = f.pipeline_weighted.fillna(0.0) if has_opp else float("nan")
    out["pipeline_open"] = f.pipeline_open.fillna(0).astype("float64") if has_opp else float("nan")
    out["win_rate"] = (f.won / f.decided).where(f.decided > 0)
    out["days_since_last_opportunity"] = (as_of - f.last_created).dt.days.astype("float64")
    out["hours_ttm"] = f.hours_ttm
    return out.reset_index()


# -- running ----------------------------------------------------------------------------------------------------
def run_variant(variant: str, data: Path) -> object:
    """Compute one implementation's result (the frame, or the floor's two numbers)."""
    if variant == "floor":
        import duckdb

        return duckdb.sql(f"SELECT sum(revenue), count(*) FROM read_parquet('{data}/invoice_lines.parquet')").fetchall()
    if variant == "sql":
        import duckdb

        return duckdb.connect().sql(tuned_sql(data, os.environ.get("BENCH_SQL_MATERIALIZED", "NOT MATERIALIZED"))).df()
    if variant == "ibis":
        from salesfolio.analytics.features import client_features
        from salesfolio.warehouse import EngineOptions, Warehouse

        limit = os.environ.get("BENCH_MEMORY_LIMIT", "")
        threads = os.environ.get("BENCH_THREADS", "")
        options = EngineOptions(
            **({"memory_limit": None if limit == "none" else limit} if limit else {}),
            threads=int(threads) if threads else None,
        )
        con = Warehouse.connect("duckdb://", engine=options).con
        names = ("clients", "products", "invoice_lines", "cost_to_serve", "opportunities", "assessments", "activities")
        tables = {n: con.read_parquet(data / f"{n}.parquet", table_name=n) for n in names}
        return client_features(tables, AS_OF).frame
    if variant == "pandas":
        return pandas_features(data)
    raise SystemExit(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). ``ru_maxrss`` of a child would include the forked parent's pages."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(variant: str, data: Path, save: Path | None, stats: Path | None) -> None:
    result = run_variant(variant, data)
    if stats is not None:
        stats.write_text(json.dumps({"rss": _peak_rss_mb()}))
    if save is not None:
        import pandas as pd

        frame = result if isinstance(result, pd.DataFrame) else pd.DataFrame({"value": [str(result)]})
        frame.to_parquet(save)


def timed(variant: str, data: Path, save: Path | None = None) -> dict[str, float]:
    """Run one variant in a fresh interpreter: wall seconds, user/sys CPU seconds (os.wait4), peak RSS MB."""
    stats = data / f"_stats_{variant}.json"
    cmd = [sys.executable, __file__, "--child", variant, "--data", str(data), "--stats", str(stats)]
    if save is not None:
        cmd += ["--save", str(save)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"variant {variant} failed with status {status}")
    rss = json.loads(stats.read_text())["rss"]
    return {"wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime, "rss": rss}


def compare(ours: pd.DataFrame, other: pd.DataFrame, label: str) -> list[str]:
    """Differences between two feature frames (floats within 1e-9 relative), by column."""
    import numpy as np
    import pandas as pd

    problems = []
    a = ours.sort_values("client_id").reset_index(drop=True)
    b = other.sort_values("client_id").reset_index(drop=True)
    if list(a.client_id) != list(b.client_id):
        return [f"{label}: client sets differ ({len(a)} vs {len(b)} rows)"]
    for col in a.columns:
        x, y = a[col], b[col]
        if pd.api.types.is_float_dtype(x) or pd.api.types.is_integer_dtype(x):
            xv, yv = x.to_numpy(dtype="float64"), pd.to_numeric(y).to_numpy(dtype="float64")
            bad = ~(np.isclose(xv, yv, rtol=1e-9, atol=1e-9) | (np.isnan(xv) & np.isnan(yv)))
        elif pd.api.types.is_datetime64_any_dtype(x):
            xd, yd = pd.to_datetime(x), pd.to_datetime(y)
            bad = ~((xd == yd) | (xd.isna() & yd.isna())).to_numpy()
        else:
            xs, ys = x.astype("object"), y.astype("object")
            bad = ~((xs == ys) | (xs.isna() & ys.isna())).to_numpy()
        if bad.any():
            problems.append(f"{label}: {col} differs on {int(bad.sum())} clients, e.g. {a.client_id[bad].iloc[0]}: "
                            f"{x[bad].iloc[0]!r} vs {y[bad].iloc[0]!r}")  # fmt: skip
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--large", action="store_true", help="10 M lines, 100 k clients")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per variant (median reported)")
    parser.add_argument("--pause", type=float, default=8.0, help="seconds to wait before each timed run")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder instead of a temp dir")
    parser.add_argument("--no-check", action="store_true", help="skip comparing the frames")
    parser.add_argument("--memory-limit", help="DuckDB memory_limit of salesfolio's warehouse ('none': DuckDB's)")
    parser.add_argument("--threads", type=int, help="DuckDB threads of salesfolio's warehouse (default: all cores)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args.save, args.stats)
        return
    if args.large:
        args.lines, args.clients = 10_000_000, 100_000
    if args.memory_limit:
        os.environ["BENCH_MEMORY_LIMIT"] = args.memory_limit  # read by the children
    if args.threads:
        os.environ["BENCH_THREADS"] = str(args.threads)
    variants = [v for v in args.variants.split(",") if v]

    with tempfile.TemporaryDirectory(prefix="bench_features_") as tmp:
        data = args.keep or Path(tmp)
        data.mkdir(parents=True, exist_ok=True)
        if not (data / "invoice_lines.parquet").exists():
            t0 = time.perf_counter()
            counts = generate(data, args.lines, args.clients)
            size = (data / "invoice_lines.parquet").stat().st_size / 2**20
            print(f"generated {counts} in {time.perf_counter() - t0:.1f} s; invoice_lines.parquet {size:.0f} MiB")
        timed("floor", data)  # warm the page cache
        results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        for run in range(args.runs):
            for variant in variants:
                time.sleep(args.pause)
                results[variant].append(timed(variant, data))
                r = results[variant][-1]
                print(f"run {run + 1} {variant:7s} wall {r['wall']:6.2f} s  user {r['user']:6.2f}  "
                      f"sys {r['sys']:5.2f}  rss {r['rss']:6.0f} MB", flush=True)  # fmt: skip
        summary = {
            v: {k: statistics.median(r[k] for r in rs) for k in ("wall", "user", "sys", "rss")}
            for v, rs in results.items()
        }
        base = summary.get("sql")
        print(f"\n{args.lines:,} lines, {args.clients:,} clients, median of {args.runs} (pause {args.pause:g} s)")
        print(f"{'variant':8s} {'wall s':>7s} {'user s':>7s} {'sys s':>6s} {'RSS MB':>7s} {'wall/sql':>9s}")
        for v, s in summary.items():
            ratio = f"{s['wall'] / base['wall']:9.2f}" if base else ""
            print(f"{v:8s} {s['wall']:7.2f} {s['user']:7.2f} {s['sys']:6.2f} {s['rss']:7.0f} {ratio}")
        print(json.dumps({"lines": args.lines, "clients": args.clients, "summary": summary}))

        if not args.no_check and "ibis" in variants:
            import pandas as pd

            frames = {}
            for v in variants:
                if v != "floor":
                    timed(v, data, save=data / f"_result_{v}.parquet")
                    frames[v] = pd.read_parquet(data / f"_result_{v}.parquet")
            problems = [p for v, f in frames.items() if v != "ibis" for p in compare(frames["ibis"], f, v)]
            print("check:", "all implementations agree" if not problems else "\n  ".join(["DIFFERENCES", *problems]))


if __name__ == "__main__":
    main()
