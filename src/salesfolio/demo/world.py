"""The demo company's world: reps, clients and products with the hidden parameters that drive purchases.

:func:`build_world` draws everything that is one value per client (size, industry, trend, category mix, cost
to serve, planted pattern) with NumPy in one pass; the table generators in :mod:`salesfolio.demo.invoices` and
:mod:`salesfolio.demo.crm` only read it. Random streams are separate per purpose (``SeedSequence([seed, k])``) so
that changing one generator leaves the others' data as it was.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import numpy as np

from salesfolio.demo import catalogue as cat
from salesfolio.demo.names import company_names, person_names, subsidiary_name

EPOCH = dt.date(1970, 1, 1)
STREAM_WORLD, STREAM_LINES, STREAM_COSTS, STREAM_PIPELINE, STREAM_ASSESS, STREAM_ACTIVITIES = range(6)

LINES_PER_CLIENT_YEAR = 100.0 / 3.0
"""Expected invoice lines per client and year (before freight lines and credit notes): 10 M lines for
100,000 clients over three years."""

PORTFOLIO_MIN, PORTFOLIO_MAX = 20, 60
"""Clients per rep, kept in this range wherever the client count allows it."""


def rng_for(seed: int, stream: int, *more: int) -> np.random.Generator:
    """The generator of one purpose (``stream``) and, for invoice lines, one chunk of clients."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream, *more]))


def days(d: dt.date) -> int:
    """Days since 1970-01-01 (the Arrow ``date32`` value)."""
    return (d - EPOCH).days


def month_index(d: dt.date) -> int:
    """Absolute month number ``year * 12 + month - 1``."""
    return d.year * 12 + d.month - 1


def month_start(index: int) -> dt.date:
    """First day of absolute month ``index``."""
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class DemoWorld:
    """One generated company. Arrays are indexed by client (``n``), rep, product or category.

    Months ``0 .. n_months - 1`` run from ``first_month`` to the month of ``as_of`` (the last one partial when
    ``as_of`` is not a month end). Clients buy in months ``start_month <= m < end_month``.
    """

    seed: int
    years: int
    as_of: dt.date
    first_month: int  # absolute month index of month 0
    n_months: int
    month_days: np.ndarray  # days of each month usable for invoices (the last one cut at as_of)
    month_first_day: np.ndarray  # days since epoch of each month's first day
    season: np.ndarray  # industry x 12 multipliers, mean 1
    # reps
    rep_ids: list[str]
    rep_names: list[str]
    rep_teams: list[str]
    rep_managers: list[str | None]
    rep_capacity: np.ndarray
    # products
    product_ids: list[str]
    product_names: list[str]
    product_categories: list[str | None]
    list_price: np.ndarray
    cost_ratio: np.ndarray  # unit cost / list price
    category_offset: np.ndarray  # first product index of each category
    category_size: np.ndarray
    # clients
    client_ids: list[str]
    names: list[str]
    industry: np.ndarray  # index into catalogue.INDUSTRIES
    country: list[str]
    export: np.ndarray  # True for clients outside Poland
    region: list[str]
    size_class: list[str]
    contract_type: list[str]
    status: list[str]
    since: np.ndarray  # days since epoch; -1 for none
    parent: np.ndarray  # client index of the parent account; -1 for none
    rep: np.ndarray  # the rep who actually serves the client
    owner_recorded: np.ndarray  # False where the CRM has no owner (derivable from invoice lines)
    previous_rep: np.ndarray  # rep before a hand-over; -1 for none
    handover_month: np.ndarray
    annual: np.ndarray  # yearly revenue level at as_of (before season and trend)
    lines_per_year: np.ndarray
    lines_per_order: np.ndarray  # mean lines per order
    regular: np.ndarray  # orders on a steady rhythm (framework contracts, key accounts) rather than at random
    price_factor: np.ndarray  # net price / list price
    growth: np.ndarray  # yearly growth rate
    start_month: np.ndarray
    end_month: np.ndarray
    at_risk: np.ndarray
    category_weights: np.ndarray  # n x categories
    late_category_weights: np.ndarray  # used from late_from_month on (at-risk clients drop categories)
    late_from_month: int
    logistics_rate: np.ndarray
    delivery_cost: np.ndarray
    service_rate: np.ndarray
    discount_rate: np.ndarray
    payment_days: np.ndarray
    planted: dict[str, tuple[str, ...]] = field(default_factory=dict)
    whitespace_categories: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def n_clients(self) -> int:
        """Number of clients (prospects included)."""
        return len(self.client_ids)

    def activity(self, rows: np.ndarray | slice) -> np.ndarray:
        """Purchase intensity per client and month (trend x life cycle, no seasonality), shape rows x months.

        1.0 is the client's level at ``as_of``; new clients ramp up over six months, churning ones fade over
        their last four months, at-risk key accounts fall to a fifth over the last twelve months and stop two
        months before ``as_of``.
        """
        m = np.arange(self.n_months)[None, :]
        start = self.start_month[rows][:, None]
        end = self.end_month[rows][:, None]
        last = self.n_months - 1
        level = np.exp(np.log1p(self.growth[rows])[:, None] * (m - last) / 12.0)
        level = level * ((m >= start) & (m < end))
        level = np.where(start > 0, level * np.clip((m - start + 1) / 6.0, 0.0, 1.0), level)
        churned = (end < self.n_months) & (m >= end - 4)
        level = np.where(churned, level * 0.6, level)
        risk = self.at_risk[rows][:, None]
        fade_from = self.late_from_month
        fade = np.clip(1.0 - 0.8 * (m - fade_from + 1) / 10.0, 0.2, 1.0)
        level = np.where(risk & (m >= fade_from), level * fade, level)
        level = np.where(risk & (m >= self.n_months - 2), 0.0, level)
        return level

    def seasonal(self, rows: np.ndarray | slice) -> np.ndarray:
        """Seasonality multipliers per client and month, shape rows x months."""
        moy = (self.first_month + np.arange(self.n_months)) % 12
        return np.asarray(self.season[self.industry[rows]][:, moy])

    def usable_share(self) -> np.ndarray:
        """Share of each month before ``as_of`` (1 except a partial last month)."""
        full = np.diff(np.append(self.month_first_day, days(month_start(self.first_month + self.n_months))))
        return np.asarray(self.month_days / full, dtype=np.float64)

    def expected_revenue(self, rows: np.ndarray | slice) -> np.ndarray:
        """Expected revenue per client and month at today's list prices, shape rows x months."""
        monthly = self.annual[rows][:, None] / 12.0
        return np.asarray(monthly * self.activity(rows) * self.seasonal(rows) * self.usable_share()[None, :])

    def expected_orders(self, rows: np.ndarray | slice) -> np.ndarray:
        """Expected orders per client and month, shape rows x months."""
        per_month = self.lines_per_year[rows] / self.lines_per_order[rows] / 12.0
        return np.asarray(per_month[:, None] * self.activity(rows) * self.seasonal(rows) * self.usable_share()[None, :])


def portfolio_sizes(total: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` clients over ``reps`` with uneven but bounded portfolios (20..60 where feasible)."""
    weights = rng.uniform(0.6, 1.5, reps)
    raw = weights / weights.sum() * total
    sizes = np.floor(raw).astype(np.int64)
    for i in np.argsort(-(raw - sizes))[: total - int(sizes.sum())]:
        sizes[i] += 1
    if reps * PORTFOLIO_MIN <= total <= reps * PORTFOLIO_MAX:
        while sizes.min() < PORTFOLIO_MIN:
            sizes[np.argmax(sizes)] -= 1
            sizes[np.argmin(sizes)] += 1
        while sizes.max() > PORTFOLIO_MAX:
            sizes[np.argmax(sizes)] -= 1
            sizes[np.argmin(sizes)] += 1
    return np.asarray(sizes)


def _largest_remainder(total: int, shares: np.ndarray, minimum: int = 0) -> np.ndarray:
    raw = shares / shares.sum() * (total - minimum * len(shares))
    out = np.floor(raw).astype(np.int64) + minimum
    for i in np.argsort(-(raw - np.floor(raw)))[: total - int(out.sum())]:
        out[i] += 1
    return np.asarray(out)


def _take(pool: np.ndarray, count: int, rng: np.random.Generator, used: np.ndarray) -> np.ndarray:
    """``count`` clients from ``pool`` not ``used`` yet (fewer when the pool is small); marks them used."""
    free = pool[~used[pool]]
    picked = np.sort(rng.choice(free, size=min(count, len(free)), replace=False)) if len(free) else free
    used[picked] = True
    return picked.astype(np.int64)


def _ids(prefix: str, count: int, width: int) -> list[str]:
    w = max(width, len(str(count)))
    return [f"{prefix}{i:0{w}d}" for i in range(1, count + 1)]


def _calendar(as_of: dt.date, n_months: int) -> tuple[int, np.ndarray, np.ndarray]:
    """First absolute month, the first day of each month (plus the one after), usable days per month."""
    first_month = month_index(as_of) - n_months + 1
    firsts = np.array([days(month_start(first_month + m)) for m in range(n_months + 1)], dtype=np.int64)
    month_days = np.diff(firsts)
    month_days[-1] = as_of.day
    return first_month, firsts, month_days


def _geography(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Team area, country, region and industry of every client.

    Areas are 0 north, 1 south, 2 export, in exact proportions (37.5 / 37.5 / 25 %) so portfolios stay in range.
    """
    n_export = round(0.25 * n)
    n_north = (n - n_export) // 2
    geo = np.concatenate([np.zeros(n_north), np.ones(n - n_export - n_north), np.full(n_export, 2)])
    geo = rng.permutation(geo).astype(np.int64)
    country = np.full(n, "PL", dtype=object)
    region = np.empty(n, dtype=object)
    for g, table in ((0, cat.VOIVODESHIPS_NORTH), (1, cat.VOIVODESHIPS_SOUTH)):
        idx = np.flatnonzero(geo == g)
        w = np.array(list(table.values()))
        region[idx] = np.array(list(table), dtype=object)[rng.choice(len(table), len(idx), p=w / w.sum())]
    idx = np.flatnonzero(geo == 2)
    codes = list(cat.EXPORT_COUNTRIES)
    w = np.array([v[1] for v in cat.EXPORT_COUNTRIES.values()])
    picked = rng.choice(len(codes), len(idx), p=w / w.sum())
    country[idx] = np.array(codes, dtype=object)[picked]
    region[idx] = np.array([cat.EXPORT_COUNTRIES[c][0] for c in codes], dtype=object)[picked]

    industry = np.empty(n, dtype=np.int64)
    for export, shares in ((False, cat.INDUSTRY_WEIGHTS_PL), (True, cat.INDUSTRY_WEIGHTS_EXPORT)):
        idx = np.flatnonzero((geo == 2) == export)
        w = np.array(shares)
        industry[idx] = rng.choice(len(cat.INDUSTRIES), len(idx), p=w / w.sum())

    return geo, country, region, industry


def _sales_team(
    rng: np.random.Generator, geo: np.ndarray
) -> tuple[list[str], list[str], list[str | None], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reps (~33 clients each) in 3 geographic teams, the first rep of each (sub-)team its manager.

    Returns rep IDs, teams, managers, each client's rep, reps per area, capacity and the effort-misallocated reps.
    """
    n = len(geo)
    n_reps = max(3, round(n / 33.3))
    team_clients = np.bincount(geo, minlength=3)
    reps_per_geo = _largest_remainder(n_reps, team_clients.astype(np.float64), minimum=1)
    rep_ids = _ids("R", n_reps, 2)
    rep_team: list[str] = []
    rep_manager: list[str | None] = []
    rep_of_client = np.empty(n, dtype=np.int64)
    first_rep = 0
    for g in range(3):
        k = int(reps_per_geo[g])
        sub_teams = max(1, round(k / 5)) if k > 6 else 1
        sub_team = [j * sub_teams // k for j in range(k)]
        leads: dict[int, int] = {}
        for j, s in enumerate(sub_team):
            leads.setdefault(s, first_rep + j)  # the first rep of each (sub-)team is its manager
        for j, s in enumerate(sub_team):
            rep_team.append(cat.TEAMS[g] if sub_teams == 1 else f"{cat.TEAMS[g]} {s + 1}")
            rep_manager.append(None if leads[s] == first_rep + j else rep_ids[leads[s]])
        members = rng.permutation(np.flatnonzero(geo == g))
        sizes = portfolio_sizes(len(members), k, rng)
        rep_of_client[members] = np.repeat(np.arange(first_rep, first_rep + k), sizes)
        first_rep += k
    rep_capacity = np.round(rng.uniform(400, 480, n_reps) / 10.0) * 10.0
    non_managers = np.flatnonzero(np.array([m is not None for m in rep_manager]))
    if len(non_managers) == 0:
        non_managers = np.arange(n_reps)
    effort_reps = np.sort(rng.choice(non_managers, size=min(len(non_managers), max(1, n_reps // 12)), replace=False))

    return rep_ids, rep_team, rep_manager, rep_of_client, reps_per_geo, rep_capacity, effort_reps


def _products(rng: np.random.Generator) -> tuple[list[str], list[str], list[str | None], np.ndarray, np.ndarray]:
    """The product range: IDs (in price order within a category), names, categories, list prices, cost ratios."""
    product_ids: list[str] = []
    product_names: list[str] = []
    product_categories: list[str | None] = []
    list_price: list[float] = []
    cost_ratio: list[float] = []
    for (code, category, margin, low, high, types), count in zip(
        cat.CATEGORIES, cat.PRODUCTS_PER_CATEGORY, strict=True
    ):
        prices = np.sort(np.exp(rng.uniform(np.log(low), np.log(high), count)))  # IDs in price order
        for j in range(count):
            product_ids.append(f"{code}-{j + 1:03d}")
            product_names.append(f"{types[j % len(types)]} {code}{100 + 10 * j}")
            product_categories.append(category)
            list_price.append(round(float(prices[j]), 2))
            cost_ratio.append(float(np.clip((1 - margin) * rng.uniform(0.92, 1.08), 0.4, 0.95)))
    for pid, pname, price, margin in cat.UNCATEGORISED_PRODUCTS:
        product_ids.append(pid)
        product_names.append(pname)
        product_categories.append(None)
        list_price.append(price)
        cost_ratio.append(1 - margin)

    return product_ids, product_names, product_categories, np.array(list_price), np.array(cost_ratio)


def _category_mix(
    rng: np.random.Generator,
    industry: np.ndarray,
    rank: np.ndarray,
    whitespace: np.ndarray,
    at_risk_idx: np.ndarray,
    client_ids: list[str],
) -> tuple[np.ndarray, np.ndarray, dict[str, tuple[str, ...]]]:
    """Category weights per client, the late weights of at-risk accounts and what whitespace clients miss.

    Every established client (top 60 %) buys its industry's three core categories, except the whitespace
    clients, who miss one or two; smaller clients buy one to three. At-risk accounts drop two of their categories
    (never the main one) in the late weights.
    """
    n = len(industry)
    n_cat = len(cat.CATEGORIES)
    affinity = np.array([cat.AFFINITY[i] for i in cat.INDUSTRIES], dtype=np.float64)[industry]
    core = affinity >= 5
    extras_weight = np.where(core, 0.0, affinity * rng.uniform(0.3, 1.2, (n, n_cat)))
    n_extra = np.clip(np.round(1 + 5 * rank + rng.normal(0, 1, n)), 0, n_cat - 3).astype(np.int64)
    order = np.argsort(-(extras_weight * rng.uniform(0.5, 1.5, (n, n_cat))), axis=1)
    extra_rank = np.argsort(order, axis=1)
    chosen_extra = (extra_rank < n_extra[:, None]) & ~core
    core_score = np.where(core, rng.random((n, n_cat)), -1.0)
    core_rank = np.argsort(np.argsort(-core_score, axis=1), axis=1)
    n_core = np.where(rank >= 0.40, 3, 1 + rng.binomial(2, 0.5, n))
    chosen_core = core & (core_rank < n_core[:, None])
    weights = np.where(chosen_core, 5.0 * rng.uniform(0.8, 1.5, (n, n_cat)), 0.0) + np.where(
        chosen_extra, extras_weight, 0.0
    )
    whitespace_categories: dict[str, tuple[str, ...]] = {}
    cat_names = [c[1] for c in cat.CATEGORIES]
    for i in whitespace:
        cores = np.flatnonzero(core[i])
        drop = rng.choice(cores, size=1 + int(rng.random() < 0.4), replace=False)
        weights[i, drop] = 0.0
        whitespace_categories[client_ids[i]] = tuple(cat_names[c] for c in sorted(drop))
    empty = weights.sum(axis=1) == 0
    weights[empty] = affinity[empty]
    weights = weights / weights.sum(axis=1, keepdims=True)
    late = weights.copy()
    for i in at_risk_idx:
        bought = np.flatnonzero(weights[i] > 0)
        keep_top = bought[np.argmax(weights[i, bought])]
        candidates = bought[bought != keep_top]
        if len(candidates):
            late[i, rng.choice(candidates, size=min(2, len(candidates)), replace=False)] = 0.0
    late = late / late.sum(axis=1, keepdims=True)

    return weights, late, whitespace_categories


def _service_terms(
    rng: np.random.Generator,
    geo: np.ndarray,
    industry: np.ndarray,
    contract: np.ndarray,
    buyers: np.ndarray,
    margin_poor: np.ndarray,
) -> dict[str, np.ndarray]:
    """Cost-to-serve parameters per client, and the clients made expensive to serve.

    Logistics rate and cost per delivery, service and rebate rates, payment days (see
    :func:`salesfolio.demo.crm.cost_to_serve_table` for how they become costs).
    """
    n = len(geo)
    export = geo == 2
    ex_works = rng.random(n) < 0.08
    logistics_rate = np.where(ex_works, 0.0, rng.uniform(0.012, 0.03, n))
    delivery_cost = np.where(ex_works, 0.0, np.where(export, rng.uniform(250, 600, n), rng.uniform(60, 150, n)))
    expensive = _take(np.flatnonzero(~ex_works & buyers), round(0.05 * n), rng, np.zeros(n, dtype=bool))
    logistics_rate[expensive] *= 3.0
    delivery_cost[expensive] *= 2.5
    serviced = np.isin(industry, [cat.INDUSTRIES.index(i) for i in ("energy", "machinery", "food", "automotive")])
    service_rate = np.where(serviced & (rng.random(n) < 0.5), rng.uniform(0.003, 0.012, n), 0.0)
    discount_rate = np.select(
        [contract == "framework", contract == "distributor"],
        [rng.uniform(0.01, 0.025, n), rng.uniform(0.02, 0.04, n)],
        0.0,
    )
    base_days = np.select(
        [contract == "framework", contract == "distributor"],
        [rng.uniform(30, 60, n), rng.uniform(45, 75, n)],
        rng.uniform(14, 30, n),
    )
    payment_days = np.where(rng.random(n) < 0.08, 0.0, np.round(base_days + 15 * export))
    logistics_rate[margin_poor] = rng.uniform(0.04, 0.06, len(margin_poor))
    service_rate[margin_poor] = rng.uniform(0.02, 0.03, len(margin_poor))
    discount_rate[margin_poor] = rng.uniform(0.04, 0.06, len(margin_poor))
    payment_days[margin_poor] = rng.integers(90, 121, len(margin_poor))

    return {
        "logistics_rate": logistics_rate,
        "delivery_cost": delivery_cost,
        "service_rate": service_rate,
        "discount_rate": discount_rate,
        "payment_days": payment_days,
        "expensive": expensive,
    }


def _name_clients(
    rng: np.random.Generator,
    industry: np.ndarray,
    country: np.ndarray,
    region: np.ndarray,
    rank: np.ndarray,
    geo: np.ndarray,
    established: np.ndarray,
    buyers: np.ndarray,
) -> tuple[list[str], np.ndarray]:
    """Company names and parent accounts.

    1 % of long-standing big clients head a group of 1-3 subsidiaries from the same team area, named after the
    parent; ``country`` and ``region`` of a subsidiary follow its parent (updated in place).
    """
    n = len(industry)
    everyone = np.arange(n)
    industry_names = [cat.INDUSTRIES[i] for i in industry]
    names, stems = company_names(rng, industry_names, list(country), rank.tolist())
    parent = np.full(n, -1, dtype=np.int64)
    heads = _take(everyone[(rank >= 0.7) & established], round(0.01 * n), rng, np.zeros(n, dtype=bool))
    candidates = rng.permutation(everyone[buyers & ~np.isin(everyone, heads)])
    queue = {g: list(candidates[geo[candidates] == g]) for g in range(3)}  # subsidiaries come from the same team
    seen_names = set(names)
    for head in heads:
        for _ in range(1 + int(rng.integers(0, 3))):
            if not queue[geo[head]]:
                break
            child = queue[geo[head]].pop()
            parent[child] = head
            if geo[head] == 2 or rng.random() < 0.6:
                country[child], region[child] = country[head], region[head]
            candidate = subsidiary_name(stems[head], str(country[head]), float(rng.random()))
            if candidate not in seen_names:
                seen_names.discard(names[child])
                names[child] = candidate
                seen_names.add(candidate)
    return names, parent


def build_world(*, clients: int, years: int, seed: int, as_of: dt.date) -> DemoWorld:
    """Draw the demo company (see the package docstring for what is planted and how often)."""
    if clients < 10:
        raise ValueError(f"the demo needs at least 10 clients, got {clients}")
    if years < 1:
        raise ValueError(f"the demo needs at least 1 year of history, got {years}")
    rng = rng_for(seed, STREAM_WORLD)
    n, n_months = clients, 12 * years
    first_month, firsts, month_days = _calendar(as_of, n_months)
    season = np.array([cat.SEASONALITY[i] for i in cat.INDUSTRIES])
    season = season / season.mean(axis=1, keepdims=True)

    geo, country, region, industry = _geography(rng, n)
    # -- size: log-normal yearly revenue, sigma 1.6 puts ~78 % of revenue on the top 20 % ----------------------
    annual = np.minimum(np.exp(rng.normal(np.log(85_000.0), 1.6, n)), 50e6)
    rank = (np.argsort(np.argsort(annual)) + 0.5) / n  # percentile rank 0..1
    size_score = rank + rng.normal(0.0, 0.12, n)
    size_class = np.where(size_score > 0.85, "large", np.where(size_score > 0.5, "medium", "small"))
    is_distributor_industry = industry == cat.INDUSTRIES.index("retail distribution")
    u = rng.random(n)
    contract = np.where(
        is_distributor_industry & (u < 0.7),
        "distributor",
        np.where(u < 0.15 + 0.65 * rank, "framework", np.where(u > 0.97, "distributor", "spot")),
    )

    # -- planted patterns (exact counts, disjoint) -------------------------------------------------------------
    used = np.zeros(n, dtype=bool)
    everyone = np.arange(n)
    prospects = _take(everyone, round(0.03 * n), rng, used)
    at_risk_idx = _take(everyone[rank >= 0.88], round(0.015 * n), rng, used)
    margin_poor = _take(everyone[rank >= 0.90], round(0.015 * n), rng, used)
    hidden = _take(everyone[(rank >= 0.10) & (rank < 0.60)], round(0.05 * n), rng, used)
    churned = _take(everyone[rank < 0.90], round(0.03 * n), rng, used)
    whitespace = _take(everyone[rank >= 0.40], round(0.06 * n), rng, used)
    declining = _take(everyone, round(0.10 * n), rng, used)
    growing = _take(everyone, round(0.10 * n), rng, used)
    new = _take(everyone, round(0.05 * n), rng, used)
    lapsed = _take(everyone[rank < 0.60], round(0.08 * n), rng, used)

    growth = np.clip(rng.normal(0.02, 0.06, n), -0.12, 0.15)
    growth[declining] = rng.uniform(-0.35, -0.15, len(declining))
    growth[growing] = rng.uniform(0.20, 0.60, len(growing))
    growth[churned] = rng.uniform(-0.30, -0.05, len(churned))
    growth[at_risk_idx] = rng.uniform(-0.02, 0.06, len(at_risk_idx))
    growth[margin_poor] = rng.normal(0.03, 0.02, len(margin_poor))
    growth[new] = rng.uniform(0.0, 0.2, len(new))

    start = np.zeros(n, dtype=np.int64)
    end = np.full(n, n_months, dtype=np.int64)
    lo, hi = (6, n_months - 6) if n_months >= 18 else (1, max(2, n_months - 2))
    start[new] = rng.integers(lo, hi, len(new))
    start[prospects] = n_months
    end[churned] = n_months - rng.integers(3, 10, len(churned))
    end[churned] = np.maximum(end[churned], 1)
    lapse_lo = min(6, n_months // 2)
    end[lapsed] = rng.integers(lapse_lo, max(lapse_lo + 1, n_months - 10), len(lapsed))
    at_risk = np.zeros(n, dtype=bool)
    at_risk[at_risk_idx] = True
    late_from = max(0, n_months - 12)

    since = rng.integers(days(dt.date(2003, 1, 1)), firsts[0] - 60, n)
    since[new] = firsts[start[new]] + rng.integers(0, 20, len(new))
    since[prospects] = -1
    status = np.full(n, "active", dtype=object)
    status[prospects] = "prospect"
    status[churned[rng.random(len(churned)) < 0.5]] = "inactive"

    # -- purchase rhythm: big clients more lines and bigger orders; LINES_PER_CLIENT_YEAR on average ---------
    buyers = start < n_months
    raw_lines = (annual / np.median(annual)) ** 0.6
    lines_per_order = 1.5 + 2.5 * rank
    regular = (contract == "framework") | (rank >= 0.7)
    price_factor = np.clip(1.0 - (0.02 + 0.08 * rank + rng.normal(0, 0.015, n)), 0.85, 1.0)
    price_factor[contract == "distributor"] -= 0.04
    price_factor[margin_poor] = 1.0 - rng.uniform(0.18, 0.22, len(margin_poor))

    rep_ids, rep_team, rep_manager, rep_of_client, reps_per_geo, rep_capacity, effort_reps = _sales_team(rng, geo)
    n_reps = len(rep_ids)
    owner_recorded = np.ones(n, dtype=bool)
    still_buying = everyone[(start < n_months - 3) & (end == n_months)]  # so the lines of the last year name the rep
    owner_recorded[_take(still_buying, round(0.02 * n), rng, np.zeros(n, dtype=bool))] = False
    previous_rep = np.full(n, -1, dtype=np.int64)
    handed = np.flatnonzero((rng.random(n) < 0.05) & (start == 0))
    team_first = np.concatenate([[0], np.cumsum(reps_per_geo)[:-1]])
    offset = rng.integers(1, np.maximum(reps_per_geo[geo[handed]], 2))
    previous_rep[handed] = (
        team_first[geo[handed]] + (rep_of_client[handed] - team_first[geo[handed]] + offset) % reps_per_geo[geo[handed]]
    )
    previous_rep[previous_rep == rep_of_client] = -1
    handover_month = np.full(n, 0, dtype=np.int64)
    handover_month[handed] = np.clip(rng.integers(n_months - 30, n_months - 12, len(handed)), 1, n_months)

    product_ids, product_names, product_categories, list_price, cost_ratio = _products(rng)
    category_size = np.array(cat.PRODUCTS_PER_CATEGORY, dtype=np.int64)
    category_offset = np.concatenate([[0], np.cumsum(category_size)[:-1]])
    client_ids = _ids("K", n, 5)
    weights, late, whitespace_categories = _category_mix(rng, industry, rank, whitespace, at_risk_idx, client_ids)
    terms = _service_terms(rng, geo, industry, contract, start < n_months, margin_poor)
    names, parent = _name_clients(rng, industry, country, region, rank, geo, start == 0, start < n_months)
    # -- the normaliser: expected lines over the window = LINES_PER_CLIENT_YEAR x clients x years ----------------
    world = DemoWorld(
        seed=seed, years=years, as_of=as_of, first_month=first_month, n_months=n_months,
        month_days=month_days, month_first_day=firsts[:-1], season=season,
        rep_ids=rep_ids, rep_names=person_names(rng, n_reps), rep_teams=rep_team, rep_managers=rep_manager,
        rep_capacity=rep_capacity,
        product_ids=product_ids, product_names=product_names, product_categories=product_categories,
        list_price=list_price, cost_ratio=cost_ratio, category_offset=category_offset,
        category_size=category_size,
        client_ids=client_ids, names=names, industry=industry, country=[str(c) for c in country],
        export=np.array([c != "PL" for c in country]),
        region=[str(r) for r in region], size_class=[str(s) for s in size_class],
        contract_type=[str(c) for c in contract], status=[str(s) for s in status], since=since, parent=parent,
        rep=rep_of_client, owner_recorded=owner_recorded, previous_rep=previous_rep,
        handover_month=handover_month, annual=annual, lines_per_year=raw_lines * buyers,
        lines_per_order=lines_per_order, regular=regular, price_factor=price_factor, growth=growth, start_month=start,
        end_month=end, at_risk=at_risk, category_weights=weights, late_category_weights=late,
        late_from_month=late_from, logistics_rate=terms["logistics_rate"], delivery_cost=terms["delivery_cost"],
        service_rate=terms["service_rate"], discount_rate=terms["discount_rate"], payment_days=terms["payment_days"],
        whitespace_categories=whitespace_categories,
    )  # fmt: skip
    intensity = world.activity(slice(None)) * world.seasonal(slice(None)) * world.usable_share()[None, :]
    expected_lines = float((world.lines_per_year / 12.0 * intensity.sum(axis=1)).sum())
    scale = LINES_PER_CLIENT_YEAR * n * years / max(expected_lines, 1e-9)

    def ids(idx: np.ndarray) -> tuple[str, ...]:
        return tuple(client_ids[i] for i in idx)

    planted = dict(  # noqa: C408 - keyword form reads as the docstring's table
        prospects=ids(prospects),
        hidden_potential=ids(hidden),
        margin_poor=ids(margin_poor),
        at_risk=ids(at_risk_idx),
        whitespace=ids(whitespace),
        churned=ids(churned),
        declining=ids(declining),
        growing=ids(growing),
        new=ids(new),
        lapsed=ids(lapsed),
        expensive_to_serve=ids(terms["expensive"]),
        owner_missing=ids(np.flatnonzero(~owner_recorded)),
        effort_misallocated_reps=tuple(rep_ids[r] for r in effort_reps),
    )
    return replace(world, lines_per_year=world.lines_per_year * scale, planted=planted)
