"""The demo generator: contract conformance, determinism, integrity, the company's shape and the planted patterns."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from salesfolio import demo
from salesfolio.contract import TABLES
from salesfolio.warehouse import Warehouse

AS_OF = dt.date(2025, 12, 31)


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return demo.generate()


@pytest.fixture(scope="module")
def world() -> demo.DemoWorld:
    return demo.world()


@pytest.fixture(scope="module")
def frames(tables: dict[str, pa.Table]) -> dict[str, pd.DataFrame]:
    out = {name: t.to_pandas() for name, t in tables.items()}
    for name, col in (("invoice_lines", "date"), ("cost_to_serve", "period"), ("activities", "date"),
                      ("assessments", "period")):  # fmt: skip
        out[name][col] = pd.to_datetime(out[name][col])
    return out


@pytest.fixture(scope="module")
def features(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """A few client features computed the plain pandas way (what an analyst would do by hand)."""
    lines, as_of = frames["invoice_lines"], pd.Timestamp(AS_OF)
    ttm = lines[lines.date > as_of - pd.Timedelta(days=365)]
    prior = lines[(lines.date <= as_of - pd.Timedelta(days=365)) & (lines.date > as_of - pd.Timedelta(days=730))]
    f = pd.DataFrame(index=frames["clients"].client_id)
    f["industry"] = frames["clients"].set_index("client_id").industry
    f["revenue_ttm"] = ttm.groupby("client_id").revenue.sum()
    f["revenue_prior"] = prior.groupby("client_id").revenue.sum()
    costed = ttm[ttm.cost.notna()]
    f["margin_ttm"] = (costed.revenue - costed.cost).groupby(costed.client_id).sum()
    cts = frames["cost_to_serve"]
    f["cost_to_serve"] = cts[cts.period > as_of - pd.Timedelta(days=365)].groupby("client_id").amount.sum()
    f = f.fillna({"revenue_ttm": 0.0, "revenue_prior": 0.0, "margin_ttm": 0.0, "cost_to_serve": 0.0})
    f["net_contribution"] = f.margin_ttm - f.cost_to_serve
    latest = frames["assessments"].sort_values("period").groupby("client_id").last()
    f["potential"] = latest.potential
    f["last_purchase"] = lines[lines.revenue > 0].groupby("client_id").date.max()
    return f


# -- the contract ------------------------------------------------------------------------------------------------
def test_every_canonical_table_is_generated_and_conforms(tables: dict[str, pa.Table]) -> None:
    assert list(tables) == ["reps", "clients", "products", "invoice_lines", "cost_to_serve", "opportunities",
                            "assessments", "activities"]  # fmt: skip
    for name, spec in TABLES.items():
        table = tables[name]
        assert table.schema == spec.arrow_schema, name
        assert table.num_rows > 0, name
        for col in spec.required_columns:
            assert table.column(col.name).null_count == 0, (name, col.name)
        for col in spec.columns:
            values = table.column(col.name).drop_null().to_numpy(zero_copy_only=False)
            if col.minimum is not None and len(values):
                assert values.min() >= col.minimum, (name, col.name)
            if col.maximum is not None and len(values):
                assert values.max() <= col.maximum, (name, col.name)
        keys = table.select(list(spec.key)).to_pandas()
        assert not keys.duplicated().any(), f"duplicate keys in {name}"


def test_ids_are_strings_and_money_is_rounded_to_cents(frames: dict[str, pd.DataFrame]) -> None:
    lines = frames["invoice_lines"]
    assert lines.invoice_id.str.match(r"^(FV|KOR)/\d{4}/\d{2}/\d{6}$").all()
    assert frames["clients"].client_id.str.match(r"^K\d{5}$").all()
    assert np.allclose(lines.revenue, lines.revenue.round(2))
    assert (lines.quantity == lines.quantity.round()).all()


# -- determinism ---------------------------------------------------------------------------------------------------
def test_same_seed_gives_identical_tables_and_another_seed_different_ones() -> None:
    first = demo.generate(clients=60, years=1, seed=1, as_of=dt.date(2024, 6, 30))
    again = demo.generate(clients=60, years=1, seed=1, as_of=dt.date(2024, 6, 30))
    other = demo.generate(clients=60, years=1, seed=2, as_of=dt.date(2024, 6, 30))
    for name in TABLES:
        assert first[name].equals(again[name]), name
    for name in ("clients", "invoice_lines", "cost_to_serve", "opportunities", "assessments", "activities"):
        assert not first[name].equals(other[name]), name


def test_batches_hold_the_same_lines_whatever_their_size() -> None:
    whole = demo.generate(clients=2500, years=1, seed=3)["invoice_lines"]
    batches = list(demo.generate_invoice_batches(clients=2500, years=1, seed=3, batch_lines=20_000))
    assert len(batches) > 1
    assert all(b.num_rows >= 20_000 for b in batches[:-1])
    assert pa.concat_tables(batches).equals(whole)


def test_as_of_defaults_to_the_month_end_before_the_anchor() -> None:
    assert demo.default_as_of(dt.date(2024, 3, 15)) == dt.date(2024, 2, 29)
    assert demo.default_as_of() == AS_OF
    lines = demo.generate(clients=20, years=1, anchor=dt.date(2024, 3, 15))["invoice_lines"].to_pandas()
    assert lines.date.max() <= dt.date(2024, 2, 29)
    assert lines.date.min() >= dt.date(2023, 3, 1)


def test_a_mid_month_as_of_has_no_line_after_it() -> None:
    lines = demo.generate(clients=200, years=1, as_of=dt.date(2024, 6, 15))["invoice_lines"].to_pandas()
    assert lines.date.max() <= dt.date(2024, 6, 15)
    assert (lines.date >= dt.date(2024, 6, 1)).sum() > 0


def test_too_small_a_company_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match=r"^the demo needs at least 10 clients, got 5$"):
        demo.generate(clients=5)
    with pytest.raises(ValueError, match=r"^the demo needs at least 1 year of history, got 0$"):
        demo.generate(years=0)


# -- integrity -----------------------------------------------------------------------------------------------------
def test_references_resolve(frames: dict[str, pd.DataFrame]) -> None:
    clients = set(frames["clients"].client_id)
    reps = set(frames["reps"].rep_id)
    products = set(frames["products"].product_id)
    lines = frames["invoice_lines"]
    assert set(lines.client_id) <= clients
    assert set(lines.product_id.dropna()) <= products
    assert set(lines.rep_id) <= reps
    assert set(frames["clients"].owner_id.dropna()) <= reps
    assert set(frames["clients"].parent_id.dropna()) <= clients
    assert set(frames["reps"].manager_id.dropna()) <= reps
    for name in ("cost_to_serve", "assessments", "activities"):
        assert set(frames[name].client_id) <= clients, name
    assert set(frames["opportunities"].client_id.dropna()) <= clients
    assert set(frames["opportunities"].owner_id) <= reps
    assert set(frames["activities"].rep_id) <= reps


def test_credit_notes_return_earlier_sales(frames: dict[str, pd.DataFrame]) -> None:
    lines = frames["invoice_lines"]
    credit = lines[lines.invoice_id.str.startswith("KOR/")]
    assert (credit.revenue < 0).all() and (credit.quantity < 0).all()
    assert (lines[lines.revenue < 0].invoice_id.str.startswith("KOR/")).all()
    share = (lines.revenue < 0).mean()
    assert 0.015 <= share <= 0.025
    returned = -credit.revenue.sum() / lines[lines.revenue > 0].revenue.sum()
    assert 0.005 <= returned <= 0.03


# -- the company's shape -------------------------------------------------------------------------------------------
def test_twelve_reps_in_three_teams_with_managers_and_capacity(frames: dict[str, pd.DataFrame]) -> None:
    reps = frames["reps"]
    assert len(reps) == 12
    assert sorted(reps.team.unique()) == ["Eksport", "Południe", "Północ"]
    managers = reps[reps.manager_id.isna()]
    assert sorted(managers.team) == sorted(reps.team.unique())  # one per team, managing their own team
    for _, rep in reps[reps.manager_id.notna()].iterrows():
        assert reps.set_index("rep_id").team[rep.manager_id] == rep.team
    assert reps.capacity_hours.between(400, 480).all()


def test_portfolios_hold_20_to_60_clients(frames: dict[str, pd.DataFrame]) -> None:
    clients, lines = frames["clients"], frames["invoice_lines"]
    line_rep = lines.groupby("client_id").rep_id.agg(lambda s: s.value_counts().index[0])
    owner = clients.set_index("client_id").owner_id.fillna(line_rep)
    assert owner.notna().all()
    sizes = owner.value_counts()
    assert len(sizes) == 12
    assert sizes.between(20, 60).all(), sizes.to_dict()


def test_clients_look_like_a_polish_manufacturers_list(frames: dict[str, pd.DataFrame]) -> None:
    clients = frames["clients"]
    assert clients.name.is_unique
    polish = clients[clients.country == "PL"]
    assert 0.70 <= len(polish) / len(clients) <= 0.80
    assert polish.name.str.contains(r"Sp\. z o\.o\.|S\.A\.|Sp\.j\.|Sp\.k\.|P\.P\.H\.U\.").mean() > 0.9
    assert polish.name.str.contains("[ąćęłńóśźż]", case=False).any()
    assert set(polish.region) <= {
        "mazowieckie", "wielkopolskie", "pomorskie", "kujawsko-pomorskie", "zachodniopomorskie",
        "warmińsko-mazurskie", "podlaskie", "lubuskie", "śląskie", "dolnośląskie", "małopolskie", "łódzkie",
        "lubelskie", "podkarpackie", "świętokrzyskie", "opolskie",
    }  # fmt: skip
    german = clients[clients.country == "DE"]
    assert german.name.str.contains("GmbH|AG").all() and (german.region == "Germany").all()
    assert clients.industry.nunique() == 10
    assert set(clients.contract_type) == {"framework", "spot", "distributor"}
    assert set(clients.size_class) == {"small", "medium", "large"}
    assert clients.parent_id.notna().sum() >= 4


def test_products_have_ten_categories_with_different_margins(frames: dict[str, pd.DataFrame]) -> None:
    products, lines = frames["products"], frames["invoice_lines"]
    assert len(products) == 120
    assert products.category.nunique() == 10
    assert products.category.isna().sum() == 2
    costed = lines[lines.cost.notna() & (lines.revenue > 0)].merge(products, on="product_id")
    margin = costed.groupby("category").apply(lambda g: 1 - g.cost.sum() / g.revenue.sum(), include_groups=False)
    assert margin["Fasteners"] < 0.15 < 0.35 < margin["Spare parts and service kits"]


def test_top_fifth_of_clients_brings_most_revenue(frames: dict[str, pd.DataFrame]) -> None:
    revenue = frames["invoice_lines"].groupby("client_id").revenue.sum().reindex(frames["clients"].client_id)
    ordered = revenue.fillna(0.0).sort_values(ascending=False)
    top = ordered.iloc[: len(ordered) // 5].sum() / ordered.sum()
    assert 0.65 <= top <= 0.9


def test_summer_dips_and_december_and_first_quarter_peak(frames: dict[str, pd.DataFrame]) -> None:
    lines = frames["invoice_lines"]
    by_month = lines.groupby(lines.date.dt.month).revenue.sum()
    mean = by_month.mean()
    assert by_month[[7, 8]].mean() < 0.9 * mean
    assert by_month[[12, 1, 3]].min() > by_month[[7, 8]].max()


def test_line_count_is_about_ten_million_per_hundred_thousand_clients_over_three_years(
    tables: dict[str, pa.Table],
) -> None:
    assert 36_000 <= tables["invoice_lines"].num_rows <= 44_000  # 400 clients x 3 years x ~33


def test_missing_data_is_realistic(frames: dict[str, pd.DataFrame], world: demo.DemoWorld) -> None:
    clients, assessments = frames["clients"], frames["assessments"]
    assert sorted(clients[clients.owner_id.isna()].client_id) == sorted(world.planted["owner_missing"])
    assert len(world.planted["owner_missing"]) == 8
    latest = assessments[assessments.period == pd.Timestamp("2025-01-01")]
    assert 0.8 <= latest.client_id.nunique() / len(clients) <= 0.92
    assert assessments.period.nunique() == 2
    assert assessments.potential.isna().sum() > 0
    assert 0 < frames["opportunities"].value.isna().sum() < 0.05 * len(frames["opportunities"])
    assert 0.01 <= frames["invoice_lines"].cost.isna().mean() <= 0.06
    prospects = clients[clients.status == "prospect"]
    assert sorted(prospects.client_id) == sorted(world.planted["prospects"])
    assert not set(prospects.client_id) & set(frames["invoice_lines"].client_id)


def test_pipeline_has_open_and_closed_deals_with_stage_probabilities(frames: dict[str, pd.DataFrame]) -> None:
    opps = frames["opportunities"]
    expected = {"Prospecting": 0.1, "Qualification": 0.2, "Proposal": 0.4, "Negotiation": 0.7, "Won": 1.0,
                "Lost": 0.0}  # fmt: skip
    assert set(opps.stage) == set(expected)
    assert (opps.probability == opps.stage.map(expected)).all()
    closed = opps[opps.stage.isin(["Won", "Lost"])]
    assert closed.closed.notna().all() and (closed.won == (closed.stage == "Won")).all()
    assert opps[~opps.stage.isin(["Won", "Lost"])].closed.isna().all()
    assert closed[closed.stage == "Lost"].lost_reason.notna().all()
    assert 0.3 <= (closed.stage == "Won").mean() <= 0.6
    assert (opps.created >= dt.date(2024, 1, 1)).all() and (opps.created <= AS_OF).all()


def test_cost_to_serve_has_every_kind_by_quarter(frames: dict[str, pd.DataFrame]) -> None:
    cts = frames["cost_to_serve"]
    assert set(cts.kind) == {"logistics", "service", "discounts", "payment_terms"}
    assert set(cts.period.dt.month) == {1, 4, 7, 10} and (cts.period.dt.day == 1).all()
    assert (cts.amount > 0).all()


# -- planted patterns: each found by a simple pandas check -------------------------------------------------------
def test_hidden_potential_clients_buy_little_against_a_big_potential(
    features: pd.DataFrame, world: demo.DemoWorld
) -> None:
    planted = list(world.planted["hidden_potential"])
    assert len(planted) == 20
    buyers = features[features.revenue_ttm > 0]
    big = buyers.revenue_ttm.quantile(0.8)
    mine = features.loc[planted]
    assert (mine.potential >= big).all() and (mine.potential >= 5 * mine.revenue_ttm).all()
    assert (mine.revenue_ttm < buyers.revenue_ttm.quantile(0.75)).all()
    # the analyst's rule "potential at least 8 x what they buy, and big": mostly the planted clients
    found = set(buyers[(buyers.potential >= 8 * buyers.revenue_ttm) & (buyers.potential >= big)].index)
    assert len(found & set(planted)) >= 0.8 * len(planted)
    assert len(found - set(planted)) <= len(planted)


def test_margin_poor_big_clients_earn_little_after_cost_to_serve(features: pd.DataFrame, world: demo.DemoWorld) -> None:
    planted = features.loc[list(world.planted["margin_poor"])]
    assert len(planted) == 6
    assert (planted.revenue_ttm >= features.revenue_ttm.quantile(0.85)).all()
    net_share = planted.net_contribution / planted.revenue_ttm
    top = features[features.revenue_ttm >= features.revenue_ttm.quantile(0.9)]
    typical = (top.net_contribution / top.revenue_ttm).median()
    assert (net_share < 0.05).all() and (net_share < typical / 3).all()


def test_at_risk_key_accounts_fall_stop_ordering_and_drop_categories(
    frames: dict[str, pd.DataFrame], features: pd.DataFrame, world: demo.DemoWorld
) -> None:
    planted = list(world.planted["at_risk"])
    assert len(planted) == 6
    f = features.loc[planted]
    assert (f.revenue_prior >= features.revenue_prior.quantile(0.75)).all()
    assert (f.revenue_ttm < 0.8 * f.revenue_prior).all()
    as_of = pd.Timestamp(AS_OF)
    lines = frames["invoice_lines"].merge(frames["products"][["product_id", "category"]], on="product_id")
    for client in planted:
        mine = lines[(lines.client_id == client) & (lines.revenue > 0)]
        orders = np.sort(mine.date.unique())
        earlier = orders[orders <= as_of - pd.Timedelta(days=365)]
        usual_gap = np.median(np.diff(earlier)).astype("timedelta64[D]").astype(int)
        recency = (as_of - orders[-1]).days
        assert recency > 2 * usual_gap and recency >= 45, (client, recency, usual_gap)
        year_ago = as_of - pd.Timedelta(days=365)
        prior = set(mine[(mine.date <= year_ago) & (mine.date > year_ago - pd.Timedelta(days=365))].category)
        recent = set(mine[mine.date > year_ago].category)
        assert len(prior - recent) >= 1, client  # "lost categories" of the feature frame


def test_whitespace_clients_miss_categories_their_peers_buy(
    frames: dict[str, pd.DataFrame], world: demo.DemoWorld
) -> None:
    lines = frames["invoice_lines"].merge(frames["products"][["product_id", "category"]], on="product_id")
    industry = frames["clients"].set_index("client_id").industry
    bought = lines.groupby(["client_id", "category"]).size().unstack(fill_value=0) > 0
    assert len(world.whitespace_categories) == 24
    for client, missing in world.whitespace_categories.items():
        peers = bought[(industry.reindex(bought.index) == industry[client]) & (bought.index != client)]
        for category in missing:
            assert not bought.loc[client, category], (client, category)
            assert peers[category].mean() >= 0.5, (client, category, peers[category].mean())


def test_one_rep_spends_effort_on_the_low_value_half_of_the_portfolio(
    frames: dict[str, pd.DataFrame], features: pd.DataFrame, world: demo.DemoWorld
) -> None:
    activities = frames["activities"].join(features.revenue_ttm, on="client_id")
    assert set(activities.kind) == {"visit", "call", "offer", "meeting"}

    def share_on_lower_half(group: pd.DataFrame) -> float:
        median = group.groupby("client_id").revenue_ttm.first().median()
        return float(group[group.revenue_ttm <= median].hours.sum() / group.hours.sum())

    shares = activities.groupby("rep_id")[["client_id", "revenue_ttm", "hours"]].apply(share_on_lower_half)
    planted = list(world.planted["effort_misallocated_reps"])
    assert len(planted) == 1
    assert (shares[planted] >= 0.6).all()
    assert (shares.drop(planted) <= 0.45).all()


def test_churned_clients_stopped_buying_three_to_nine_months_ago(features: pd.DataFrame, world: demo.DemoWorld) -> None:
    churned = features.loc[list(world.planted["churned"])]
    assert len(churned) == 12
    silent_days = (pd.Timestamp(AS_OF) - churned.last_purchase).dt.days
    assert silent_days.between(80, 320).all(), silent_days.to_dict()


def test_growing_clients_grow_and_declining_ones_decline(features: pd.DataFrame, world: demo.DemoWorld) -> None:
    def growth(ids: tuple[str, ...]) -> float:
        f = features.loc[list(ids)]
        return float(f.revenue_ttm.sum() / f.revenue_prior.sum() - 1)

    assert growth(world.planted["growing"]) > 0.15
    assert growth(world.planted["declining"]) < -0.1


# -- loading and scale ---------------------------------------------------------------------------------------------
def test_load_writes_every_table_and_streams_invoice_batches() -> None:
    with Warehouse.connect("duckdb://") as wh:
        counts = demo.load(wh, demo.generate_streaming(clients=1500, years=1, seed=5, batch_lines=10_000))
        whole = demo.generate(clients=1500, years=1, seed=5)
        assert counts == {name: t.num_rows for name, t in whole.items()}
        lines = wh.table("invoice_lines")
        assert lines.count().execute() == whole["invoice_lines"].num_rows
        assert lines.revenue.sum().execute() == pytest.approx(pa.compute.sum(whole["invoice_lines"]["revenue"]).as_py())
        again = demo.load(wh, demo.generate(clients=50, years=1))  # replaces, never appends to old data
        assert wh.row_count("invoice_lines") == again["invoice_lines"]


def test_ten_thousand_clients_give_about_a_million_lines_in_seconds() -> None:
    started = time.perf_counter()
    rows = sum(b.num_rows for b in demo.generate_invoice_batches(clients=10_000, years=3))
    seconds = time.perf_counter() - started
    assert 900_000 <= rows <= 1_100_000
    assert seconds < 20  # ~2 s on an idle laptop core; generous because the CI machine is shared


@pytest.mark.slow
def test_hundred_thousand_clients_give_about_ten_million_lines_in_bounded_batches() -> None:
    started = time.perf_counter()
    sizes = [b.num_rows for b in demo.generate_invoice_batches(clients=100_000, years=3)]
    seconds = time.perf_counter() - started
    assert 9_500_000 <= sum(sizes) <= 10_500_000
    assert max(sizes) < 1_100_000
    assert seconds < 60
