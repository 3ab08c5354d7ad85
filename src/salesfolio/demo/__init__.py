"""Demo data: a realistic B2B manufacturer (industrial components) selling in Poland and across Europe.

:func:`generate` returns every canonical table of :mod:`salesfolio.contract` as Arrow, conformed to the contract;
:func:`load` writes them to a warehouse. The generator is pure and deterministic: no clock (``as_of`` is passed
in, or derived from ``anchor``), NumPy random streams seeded from ``seed`` only, so the same arguments always give
identical tables. Invoice lines are generated vectorised in Arrow batches (:func:`generate_invoice_batches`), so
``generate_streaming(clients=100_000)`` loads ~10 M lines without holding them in memory.

The company (default ``clients=400, years=3``; every count scales with ``clients``):

- 12 reps (``clients / 33.3``, at least 3) in 3 teams (Północ, Południe: Polish voivodeships; Eksport: 10
  European countries, 25 % of clients), 20-60 clients each, capacity 400-480 hours per quarter; the first rep of
  each team is its manager. Bigger teams are split into sub-teams of about five.
- Clients with Polish names ("Zakład Mechaniczny Nowak Sp. z o.o.", "Hydro-Tech S.A.") or their country's
  ("Schneider Antriebstechnik GmbH", "Strojírny Novák s.r.o."), 10 industries, size classes, framework / spot /
  distributor contracts, 1 % heads of groups with 1-3 subsidiaries (``parent_id``).
- Yearly revenue log-normal (sigma 1.6), so the top 20 % of clients bring about 75-80 % of revenue; bigger
  clients get lower prices (2-10 % below list, distributors 4 % more).
- 120 products in 10 categories with base margins from 18 % (fasteners) to 45 % (spare parts); two products
  have no category yet.
- About 100 invoice lines per client and year over ``years`` x 12 months ending at ``as_of``, with industry
  seasonality (summer dip, December and Q1 peaks; construction peaks in spring-summer, agriculture in spring),
  a 4 % yearly price increase, 2 % returned lines on credit notes, freight lines without product, cost missing
  on a quarter of spare-parts lines.
- Cost to serve per quarter and kind (logistics, service, discounts, payment_terms); opportunities over two
  years (Prospecting 0.1, Qualification 0.2, Proposal 0.4, Negotiation 0.7, Won, Lost with reasons);
  assessments (potential, relationship, strategic fit) for 1 January of the last two years, for about 85 % of
  clients; activities (visits, calls, offers, meetings with hours) over the last two years.

Planted patterns (counts at the default 400 clients; ``build_world(...).planted`` lists the client IDs):

=========================  =====  ==========================================================================
pattern                    count  what it looks like
=========================  =====  ==========================================================================
hidden_potential           20     5 %: bottom 60 % by revenue, assessed potential 10-30 x revenue and at least
                                  1.5-3 x the 80th-percentile client size (development clients), fit 4-5
margin_poor                6      1.5 %: top 10 % by revenue, prices 16-20 % below list, logistics 4-6 %,
                                  service 2-3 %, rebates 4-6 %, 90-120 days payment: net contribution ~0 or less
at_risk                    6      1.5 %: top 12 %, over the last 12 months orders thin out to a fifth and
                                  shrink by half, none in the last 2 months (a gap far beyond their rhythm), 2
                                  categories dropped, relationship 4->2, recent deals lost to competitors / price
whitespace                 24     6 %: established clients (top 60 %) missing 1-2 of the 3 core categories
                                  their industry's peers buy (``build_world(...).whitespace_categories``)
effort_misallocated_reps   1      1 in 12 reps: 3 x the average hours on the lower half of the portfolio
churned                    12     3 %: stopped buying 3-9 months before ``as_of`` (half still "active")
declining / growing        40/40  10 % each: -15..-35 % / +20..+60 % a year
new                        20     5 %: first purchase inside the window, six-month ramp-up
lapsed                     32     8 %: smaller clients (bottom 60 %) that stopped buying at a random month
                                  6 to 26 months into the history (natural attrition, still "active" in the CRM)
prospects                  12     3 %: in the CRM with deals and assessments, no invoice yet
expensive_to_serve         20     5 %: logistics rate x 3 and delivery cost x 2.5
owner_missing              8      2 %: no owner_id in clients; the invoice lines' rep_id names the rep
=========================  =====  ==========================================================================

>>> tables = generate(clients=40, years=1, seed=7, as_of=dt.date(2024, 12, 31))
>>> sorted(tables) == sorted(TABLES)
True
>>> tables["reps"].num_rows, tables["products"].num_rows
(3, 120)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping

import pyarrow as pa

from salesfolio.contract import LOAD_ORDER, TABLES
from salesfolio.demo.crm import (
    activities_table,
    assessments_table,
    clients_table,
    cost_to_serve_table,
    opportunities_table,
    products_table,
    reps_table,
)
from salesfolio.demo.invoices import invoice_batches
from salesfolio.demo.world import DemoWorld, build_world
from salesfolio.warehouse import Warehouse, conform

__all__ = [
    "DEFAULT_ANCHOR",
    "DemoWorld",
    "default_as_of",
    "generate",
    "generate_invoice_batches",
    "generate_streaming",
    "load",
    "world",
]

DEFAULT_ANCHOR = dt.date(2026, 1, 1)
"""The fixed date ``as_of`` is derived from when none is given (the demo must not read the clock)."""


def default_as_of(anchor: dt.date = DEFAULT_ANCHOR) -> dt.date:
    """The last day of the month before ``anchor``: 2025-12-31 for the default anchor."""
    return anchor.replace(day=1) - dt.timedelta(days=1)


def world(
    *, clients: int = 400, years: int = 3, seed: int = 42, as_of: dt.date | None = None,
    anchor: dt.date = DEFAULT_ANCHOR,
) -> DemoWorld:  # fmt: skip
    """The drawn company behind :func:`generate` (its ``planted`` patterns list the client IDs)."""
    return build_world(clients=clients, years=years, seed=seed, as_of=as_of or default_as_of(anchor))


def generate_invoice_batches(
    *, clients: int = 400, years: int = 3, seed: int = 42, as_of: dt.date | None = None,
    anchor: dt.date = DEFAULT_ANCHOR, batch_lines: int = 1_000_000,
) -> Iterator[pa.Table]:  # fmt: skip
    """Only the invoice lines, as Arrow tables of about ``batch_lines`` lines (same lines as :func:`generate`)."""
    drawn = world(clients=clients, years=years, seed=seed, as_of=as_of, anchor=anchor)
    return invoice_batches(drawn, batch_lines=batch_lines)


def generate_streaming(
    *, clients: int = 400, years: int = 3, seed: int = 42, as_of: dt.date | None = None,
    anchor: dt.date = DEFAULT_ANCHOR, batch_lines: int = 1_000_000,
) -> dict[str, pa.Table | Iterator[pa.Table]]:  # fmt: skip
    """Every canonical table; ``invoice_lines`` is a lazy iterator of Arrow batches (for :func:`load`)."""
    drawn = world(clients=clients, years=years, seed=seed, as_of=as_of, anchor=anchor)
    tables: dict[str, pa.Table | Iterator[pa.Table]] = {
        "reps": reps_table(drawn),
        "clients": clients_table(drawn),
        "products": products_table(drawn),
        "invoice_lines": invoice_batches(drawn, batch_lines=batch_lines),
        "cost_to_serve": cost_to_serve_table(drawn),
        "opportunities": opportunities_table(drawn),
        "assessments": assessments_table(drawn),
        "activities": activities_table(drawn),
    }
    return {name: tables[name] for name in LOAD_ORDER}


def generate(
    *, clients: int = 400, years: int = 3, seed: int = 42, as_of: dt.date | None = None,
    anchor: dt.date = DEFAULT_ANCHOR,
) -> dict[str, pa.Table]:  # fmt: skip
    """Generate the demo company: every canonical table as an Arrow table conforming to the contract.

    Parameters
    ----------
    clients
        Number of clients (at least 10); invoice lines scale with ``clients x years`` (~100 per client-year).
    years
        Months of invoice history / 12, ending at ``as_of``.
    seed
        Random seed: the same arguments give identical tables, another seed different ones.
    as_of
        The last day with data; default the last day of the month before ``anchor``.
    anchor
        Stands in for "today" when ``as_of`` is not given (the generator never reads the clock).
    """
    out: dict[str, pa.Table] = {}
    for name, data in generate_streaming(clients=clients, years=years, seed=seed, as_of=as_of, anchor=anchor).items():
        if isinstance(data, pa.Table):
            out[name] = data
        else:
            batches = list(data)
            out[name] = pa.concat_tables(batches) if batches else TABLES[name].arrow_schema.empty_table()
    return out


def load(warehouse: Warehouse, tables: Mapping[str, pa.Table | Iterable[pa.Table]]) -> dict[str, int]:
    """Replace the warehouse's tables with ``tables`` (in contract load order); return rows written per table.

    A table given as an iterable of Arrow batches (``generate_streaming``) is written batch by batch: the first
    replaces the table, the others are appended, so no more than one batch is held in memory.
    """
    counts: dict[str, int] = {}
    for name in [n for n in LOAD_ORDER if n in tables]:
        data = tables[name]
        if isinstance(data, pa.Table):
            counts[name] = warehouse.replace(name, data)
            continue
        counts[name] = 0
        started = False
        for batch in data:
            if not started:
                counts[name] = warehouse.replace(name, batch)
                started = True
            else:
                warehouse.append_arrow(name, conform(batch, TABLES[name]))
                counts[name] += batch.num_rows
        if not started:
            counts[name] = warehouse.replace(name, TABLES[name].arrow_schema.empty_table())
    return counts
