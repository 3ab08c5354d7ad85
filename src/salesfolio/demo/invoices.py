"""Invoice lines of the demo company, generated with NumPy in blocks of clients and handed out as Arrow batches.

Method: per client and month the number of orders has mean ``lines_per_year / lines_per_order / 12 x
seasonality x trend x life cycle`` (see :meth:`DemoWorld.activity`), Poisson for spot buyers and ``floor(mean +
uniform)`` for framework contracts and key accounts (a steady rhythm); each order has ``1 + Poisson(lines_per_order
- 1)`` lines; each line draws a category from the client's category mix (at-risk accounts switch to a mix without
two of their categories in the last twelve months), a product within the category (popular products more often),
and a value around the client's mean line value (log-normal, sigma 0.5). Quantity is value / net price, at least
1; net price is list price x the client's price factor x a 4 % yearly list-price increase. About 4 % of orders
carry a freight line without product, 2 % of lines are returned on a credit note 5-45 days later, and cost is
missing on a quarter of the spare-parts lines and 0.4 % of the others.

Clients are processed in blocks of :data:`BLOCK_CLIENTS`, each with its own random stream, so the data depend on
(clients, years, seed, as_of) only, never on the batch size.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from salesfolio.contract import INVOICE_LINES
from salesfolio.demo.world import STREAM_LINES, DemoWorld, days, month_start, rng_for
from salesfolio.warehouse import conform

BLOCK_CLIENTS = 1024
"""Clients per random stream; a batch joins whole blocks until it holds at least ``batch_lines`` lines."""

PRICE_INCREASE = 0.04
"""Yearly list-price increase (costs follow, so margins stay put)."""

FREIGHT_SHARE, RETURN_SHARE = 0.04, 0.02
SPARE_PARTS_CATEGORY = 9  # catalogue.CATEGORIES index whose cost is often missing (service work, kits)


def _weekday_shift(dates: np.ndarray, month_first: np.ndarray, last_day: int) -> np.ndarray:
    """Move weekend dates to the Friday before (or the Monday after when that leaves the month)."""
    weekday = (dates + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    back = np.select([weekday == 5, weekday == 6], [1, 2], 0)
    forward = np.select([weekday == 5, weekday == 6], [2, 1], 0)
    shifted = np.where(dates - back >= month_first, dates - back, dates + forward)
    return np.asarray(np.minimum(shifted, last_day))


def _number(months: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """Consecutive numbers per month for documents sorted by date, continuing ``counter`` (updated in place)."""
    first = np.searchsorted(months, months, side="left")
    numbers = counter[months] + np.arange(len(months)) - first + 1
    counter += np.bincount(months, minlength=len(counter))
    return np.asarray(numbers)


def _price_matrix(world: DemoWorld) -> np.ndarray:
    """List prices by category (rows) in ascending order, padded with infinity."""
    prices = np.full((len(world.category_size), int(world.category_size.max())), np.inf)
    for c, (first, size) in enumerate(zip(world.category_offset, world.category_size, strict=True)):
        prices[c, :size] = world.list_price[first : first + size]
    return prices


def _block(world: DemoWorld, rows: np.ndarray, rng: np.random.Generator, counters: np.ndarray) -> dict[str, np.ndarray]:
    """Invoice and credit-note lines of clients ``rows`` as NumPy columns (see the module docstring)."""
    n_months = world.n_months
    as_of = days(world.as_of)
    expected = world.expected_orders(rows)
    steady = np.floor(expected + rng.random(expected.shape)).astype(np.int64)  # variance at most 1/4
    orders = np.where(world.regular[rows][:, None], steady, rng.poisson(expected))
    # a churned client's last order falls in its last active month, so it stops exactly when planted
    churned = np.flatnonzero(world.end_month[rows] < n_months)
    last_active = world.end_month[rows][churned] - 1
    orders[churned, last_active] = np.maximum(orders[churned, last_active], 1)
    # and every client (but a prospect) bought at least once: in its likeliest month
    silent = np.flatnonzero((orders.sum(axis=1) == 0) & (world.start_month[rows] < n_months))
    orders[silent, np.argmax(expected[silent], axis=1)] = 1
    flat = np.repeat(np.arange(orders.size), orders.ravel())
    o_client, o_month = flat // n_months, flat % n_months
    first = world.month_first_day[o_month]
    o_date = first + np.floor(rng.random(len(flat)) * world.month_days[o_month]).astype(np.int64)
    o_date = _weekday_shift(o_date, first, as_of)
    sort = np.lexsort((o_client, o_date))
    o_client, o_month, o_date = o_client[sort], o_month[sort], o_date[sort]
    o_number = _number(o_month, counters[0])

    mean_lines = world.lines_per_order[rows][o_client]
    fading = world.at_risk[rows][o_client] & (o_month >= world.late_from_month)
    mean_lines = np.where(fading, 1 + 0.5 * (mean_lines - 1), mean_lines)  # smaller orders as well as fewer
    freight = rng.random(len(o_client)) < FREIGHT_SHARE
    per_order = 1 + rng.poisson(mean_lines - 1) + freight
    l_order = np.repeat(np.arange(len(o_client)), per_order)
    starts = np.cumsum(per_order) - per_order
    line_no = np.arange(len(l_order)) - starts[l_order] + 1
    l_freight = freight[l_order] & (line_no == per_order[l_order])
    l_client, l_month = o_client[l_order], o_month[l_order]
    n_lines = len(l_order)

    # category from the client's mix (the late mix for at-risk accounts near as_of), limited to what fits the
    # line's value (a 300 PLN line is not a gear motor), then a product in it that fits (popular ones more often)
    inflation = (1 + PRICE_INCREASE) ** ((l_month - (n_months - 1)) / 12.0)
    mean_value = world.annual[rows] / np.maximum(world.lines_per_year[rows], 1e-9)
    value = mean_value[l_client] * np.exp(rng.normal(-0.125, 0.5, n_lines)) * inflation
    affordable_at = 2.0 * value / (inflation * world.price_factor[rows][l_client])  # in today's list prices
    prices = _price_matrix(world)
    late = world.at_risk[rows][l_client] & (l_month >= world.late_from_month)
    mix = np.where(late[:, None], world.late_category_weights[rows][l_client], world.category_weights[rows][l_client])
    fits = mix * (prices[:, 0][None, :] <= affordable_at[:, None])
    mix = np.where(fits.sum(axis=1, keepdims=True) > 0, fits, mix)
    cumulative = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
    n_cat = len(world.category_size)
    category = np.minimum((cumulative < rng.random(n_lines)[:, None]).sum(axis=1), n_cat - 1)
    choices = np.maximum((prices[category] <= affordable_at[:, None]).sum(axis=1), 1)
    within = np.floor(choices * rng.random(n_lines) ** 1.7).astype(np.int64)
    product = world.category_offset[category] + within
    uncategorised = rng.random(n_lines) < 0.002
    n_products = len(world.product_ids)
    product = np.where(uncategorised, n_products - 1 - (rng.random(n_lines) < 0.5), product)

    net_price = world.list_price[product] * inflation * world.price_factor[rows][l_client]
    quantity = np.maximum(1.0, np.round(value / net_price))
    revenue = np.round(quantity * net_price, 2)
    unit_cost = world.list_price[product] * world.cost_ratio[product] * inflation * rng.uniform(0.97, 1.03, n_lines)
    cost = np.round(quantity * unit_cost, 2)
    no_cost = rng.random(n_lines) < np.where(category == SPARE_PARTS_CATEGORY, 0.25, 0.004)
    export = world.export[rows][l_client]
    freight_revenue = np.round(rng.uniform(80, 400, n_lines) * np.where(export, 2.5, 1.0), 2)
    product = np.where(l_freight, -1, product)
    quantity = np.where(l_freight, 1.0, quantity)
    revenue = np.where(l_freight, freight_revenue, revenue)
    cost = np.where(l_freight | no_cost, np.nan, cost)
    handed = (world.previous_rep[rows][l_client] >= 0) & (l_month < world.handover_month[rows][l_client])
    rep = np.where(handed, world.previous_rep[rows][l_client], world.rep[rows][l_client])

    # an invoice lists each product once: a repeated draw of the same product is dropped, the lines renumbered
    _, first_seen = np.unique(l_order * (n_products + 1) + product + 1, return_index=True)
    keep = np.sort(first_seen)
    l_order, l_client, l_month, l_freight = l_order[keep], l_client[keep], l_month[keep], l_freight[keep]
    product, quantity, revenue, cost, rep = product[keep], quantity[keep], revenue[keep], cost[keep], rep[keep]
    n_lines = len(keep)
    line_no = np.arange(n_lines) - np.searchsorted(l_order, l_order, side="left") + 1

    # returns: 2 % of the product lines come back on one credit note per original invoice
    returned = np.flatnonzero((rng.random(n_lines) < RETURN_SHARE) & ~l_freight)
    r_order = l_order[returned]
    notes, note_of_line = np.unique(r_order, return_inverse=True)
    note_date = np.minimum(o_date[notes] + rng.integers(5, 46, len(notes)), as_of)
    note_month = np.searchsorted(world.month_first_day, note_date, side="right") - 1
    note_sort = np.lexsort((notes, note_date))
    rank_of_note = np.empty(len(notes), dtype=np.int64)
    rank_of_note[note_sort] = np.arange(len(notes))
    note_number = np.empty(len(notes), dtype=np.int64)
    note_number[note_sort] = _number(note_month[note_sort], counters[1])
    r_note = rank_of_note[note_of_line]
    r_sort = np.lexsort((returned, r_note))
    returned, r_note_idx = returned[r_sort], note_of_line[r_sort]
    r_first = np.searchsorted(r_note[r_sort], r_note[r_sort], side="left")
    r_line_no = np.arange(len(returned)) - r_first + 1
    back = -np.minimum(
        quantity[returned], np.maximum(1.0, np.round(quantity[returned] * rng.uniform(0.2, 1.0, len(returned))))
    )
    share = back / quantity[returned]

    def both(sale: np.ndarray, credit: np.ndarray) -> np.ndarray:
        return np.concatenate([sale, credit])

    cols = {
        "client": both(rows[l_client], rows[l_client[returned]]),
        "kind": both(np.zeros(n_lines, dtype=np.int64), np.ones(len(returned), dtype=np.int64)),
        "month": both(l_month, note_month[r_note_idx]),
        "number": both(o_number[l_order], note_number[r_note_idx]),
        "line_no": both(line_no, r_line_no),
        "date": both(o_date[l_order], note_date[r_note_idx]),
        "product": both(product, product[returned]),
        "quantity": both(quantity, back),
        "revenue": both(revenue, np.round(revenue[returned] * share, 2)),
        "cost": both(cost, np.round(cost[returned] * share, 2)),
        "rep": both(rep, rep[returned]),
    }
    order = np.lexsort((cols["line_no"], cols["number"], cols["kind"], cols["date"]))
    return {k: v[order] for k, v in cols.items()}


def _to_arrow(world: DemoWorld, cols: dict[str, np.ndarray], lookups: dict[str, pa.Array]) -> pa.Table:
    """Arrow invoice lines from the NumPy columns (strings built by Arrow compute, not Python)."""
    prefix = lookups["prefix"].take(pa.array(cols["kind"] * world.n_months + cols["month"]))
    number = pc.utf8_lpad(pc.cast(pa.array(cols["number"]), pa.string()), width=6, padding="0")
    invoice_id = pc.binary_join_element_wise(prefix, number, "")
    product_index = pa.array(cols["product"], mask=cols["product"] < 0)
    cost = cols["cost"]
    return conform(
        pa.table(
            {
                "invoice_id": invoice_id,
                "line_no": pa.array(cols["line_no"], pa.int64()),
                "client_id": lookups["clients"].take(pa.array(cols["client"])),
                "date": pa.array(cols["date"].astype(np.int32), pa.date32()),
                "product_id": lookups["products"].take(product_index),
                "quantity": pa.array(cols["quantity"], pa.float64()),
                "revenue": pa.array(cols["revenue"], pa.float64()),
                "cost": pa.array(cost, pa.float64(), mask=np.isnan(cost)),
                "rep_id": lookups["reps"].take(pa.array(cols["rep"])),
            }
        ),
        INVOICE_LINES,
    )


def invoice_batches(world: DemoWorld, *, batch_lines: int = 1_000_000) -> Iterator[pa.Table]:
    """Yield the invoice lines as contract-conform Arrow tables of at least ``batch_lines`` lines (the last less).

    Invoices are numbered ``FV/<year>/<month>/<number>`` and credit notes ``KOR/<year>/<month>/<number>``,
    consecutively per month in the order the blocks are generated.
    """
    months = [month_start(world.first_month + m) for m in range(world.n_months)]
    prefixes = [f"FV/{d.year}/{d.month:02d}/" for d in months] + [f"KOR/{d.year}/{d.month:02d}/" for d in months]
    lookups = {
        "prefix": pa.array(prefixes),
        "clients": pa.array(world.client_ids),
        "products": pa.array(world.product_ids),
        "reps": pa.array(world.rep_ids),
    }
    counters = np.zeros((2, world.n_months), dtype=np.int64)
    pending: list[pa.Table] = []
    held = 0
    for block, first in enumerate(range(0, world.n_clients, BLOCK_CLIENTS)):
        rows = np.arange(first, min(world.n_clients, first + BLOCK_CLIENTS))
        lines = _to_arrow(world, _block(world, rows, rng_for(world.seed, STREAM_LINES, block), counters), lookups)
        pending.append(lines)
        held += lines.num_rows
        if held >= batch_lines:
            yield pa.concat_tables(pending)
            pending, held = [], 0
    if held:
        yield pa.concat_tables(pending)
