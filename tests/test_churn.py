"""Churn labels, model, training sets and the time-split backtest, on small data built here."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from salesfolio.analytics.churn import (
    CHURN_FEATURES,
    ChurnModel,
    ChurnSettings,
    churn_labels,
    churn_population,
    cutoff_dates,
    signal_count,
    tables_as_of,
)
from salesfolio.analytics.churn_backtest import (
    SHOW_MODEL,
    SHOW_SIZE,
    CutoffResult,
    ScoreMetrics,
    auc,
    backtest_verdict,
    build_training_set,
    churn_backtest,
    churn_report,
    gain_interval,
    predict_churn,
    reliability_table,
    top_k_expected,
)
from salesfolio.analytics.config import AnalysisConfig
from salesfolio.analytics.features import client_features
from salesfolio.contract import TABLES
from salesfolio.warehouse import Warehouse


# -- helpers -------------------------------------------------------------------------------------------------
@pytest.fixture
def wh() -> Iterator[Warehouse]:
    w = Warehouse.connect("duckdb://")
    yield w
    w.close()


def invoice_lines(rows: list[tuple[str, str, str, float]]) -> pa.Table:
    """Lines from (invoice_id, client_id, ISO date, revenue)."""
    return pa.table(
        {
            "invoice_id": [r[0] for r in rows],
            "line_no": list(range(1, len(rows) + 1)),
            "client_id": [r[1] for r in rows],
            "date": pa.array([date.fromisoformat(r[2]) for r in rows], type=pa.date32()),
            "revenue": [float(r[3]) for r in rows],
        }
    )


def tables_of(w: Warehouse) -> dict[str, Any]:
    return {name: w.table(name) for name in TABLES}


def planted_churn_lines(
    n_clients: int = 600, months: int = 36, seed: int = 0, start: date = date(2021, 1, 1), leaving_value: float = 0.3
) -> tuple[pa.Table, pa.Table]:
    """Invoice lines with churn planted where recency cannot see it coming.

    Clients order 2 times a month at the median, with a 25-fold spread between clients (lognormal, sigma 0.8),
    so a long gap is normal for some and alarming for others. Each month a client starts leaving with
    probability 0.03: for 6 months it keeps ordering at its usual rate but buys from one category only, at
    ``leaving_value`` (default 30 %) of its usual order value; then it stops. Order values differ between clients
    (lognormal around 500).
    """
    rng = np.random.default_rng(seed)
    rate = rng.lognormal(np.log(2.0), 0.8, n_clients)
    value = rng.lognormal(np.log(500.0), 0.7, n_clients)
    n_categories = rng.integers(2, 6, n_clients)
    leaving_from = rng.geometric(0.03, n_clients) - 1
    client = np.repeat(np.arange(n_clients), months)
    month = np.tile(np.arange(months), n_clients)
    step = month - leaving_from[client]
    active = step < 6
    shrinking = (step >= 0) & active
    orders = rng.poisson(rate[client] * active)
    order_client, order_month = np.repeat(client, orders), np.repeat(month, orders)
    order_shrinking = np.repeat(shrinking, orders)
    order_day = rng.integers(0, 28, len(order_client))
    line_order = np.repeat(np.arange(len(order_client)), rng.integers(1, 4, len(order_client)))
    line_client, line_shrinking = order_client[line_order], order_shrinking[line_order]
    random_category = (rng.random(len(line_order)) * n_categories[line_client]).astype(int)
    category = np.where(line_shrinking, 0, random_category)
    shrink = np.where(line_shrinking, leaving_value, 1.0)
    revenue = value[line_client] * shrink * rng.lognormal(0.0, 0.3, len(line_order)) / 2
    days = (np.datetime64(start, "M") + order_month[line_order]).astype("datetime64[D]") + order_day[line_order]
    lines = pa.table(
        {
            "invoice_id": np.char.add("i", line_order.astype(str)),
            "line_no": np.arange(len(line_order)),
            "client_id": np.char.add("c", np.char.zfill(line_client.astype(str), 5)),
            "date": pa.array(days, type=pa.date32()),
            "product_id": np.char.add("p", category.astype(str)),
            "revenue": revenue,
        }
    )
    products = pa.table({"product_id": [f"p{k}" for k in range(6)], "category": [f"cat{k}" for k in range(6)]})
    return lines, products


def planted_churn_features(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A feature frame whose outcome depends on the gap in the client's own rhythm and on lost categories.

    Usual gaps differ 30-fold between clients, so raw recency mixes rare buyers with leavers; the outcome is
    driven by ``order_gap_ratio`` (recency / usual gap) and ``lost_categories``, which the model can combine.
    """
    rng = np.random.default_rng(seed)
    median_gap = rng.lognormal(np.log(30.0), 0.9, n)
    ratio = rng.lognormal(0.0, 0.7, n)
    lost = rng.poisson(0.4, n).astype(float)
    logit = -2.0 + 2.2 * np.log(ratio) * (ratio > 1) + 0.9 * lost
    outcome = rng.random(n) < 1 / (1 + np.exp(-logit))
    revenue = rng.lognormal(np.log(20_000.0), 1.0, n)
    frame = pd.DataFrame(
        {
            "client_id": [f"c{i:06d}" for i in range(n)],
            "recency_days": ratio * median_gap,
            "median_gap_days": median_gap,
            "order_gap_ratio": ratio,
            "lost_categories": lost,
            "frequency": 365.0 / median_gap,
            "revenue_ttm": revenue,
            "growth": rng.normal(0.0, 0.3, n),
            "margin_pct_ttm": np.where(rng.random(n) < 0.3, np.nan, rng.normal(0.25, 0.05, n)),
        }
    )
    return frame, outcome


# -- labels --------------------------------------------------------------------------------------------------
LABEL_ROWS = [
    # a: steady; a line after the outcome window does not count
    ("a1", "a", "2024-01-10", 100.0),
    ("a2", "a", "2024-03-10", 100.0),
    ("a3", "a", "2024-08-01", 150.0),
    ("a4", "a", "2024-12-20", 999.0),
    # b: bought in the year and in the base window, nothing after: churned (and declined)
    ("b1", "b", "2023-09-01", 300.0),
    ("b2", "b", "2024-05-01", 200.0),
    # c: still buys, but 400 after a base of 1000: declined
    ("c1", "c", "2024-02-01", 1000.0),
    ("c2", "c", "2024-10-01", 400.0),
    # d: only a credit note after the cut-off: churned, revenue after -100
    ("d1", "d", "2024-04-01", 500.0),
    ("d2", "d", "2024-07-01", -100.0),
    # e: exactly half of the base after (on both window edges): not "below" half, so not declined
    ("e1", "e", "2024-06-15", 400.0),
    ("e2", "e", "2024-12-15", 200.0),
    # f: its only earlier line is on the first day outside the 12 months: not in the population
    ("f1", "f", "2023-06-15", 500.0),
    ("f2", "f", "2024-07-01", 100.0),
    # g: net negative in the 12 months: not in the population
    ("g1", "g", "2024-01-01", 100.0),
    ("g2", "g", "2024-02-01", -150.0),
    # h: after the cut-off one invoice nets -30 (not a purchase) and one +10 (a purchase)
    ("h1", "h", "2024-03-01", 300.0),
    ("h2", "h", "2024-09-01", 50.0),
    ("h2", "h", "2024-09-01", -80.0),
    ("h3", "h", "2024-11-01", 10.0),
    # i: its only invoice after the cut-off nets 0.1 + 0.2 - 0.3, which floats make 5.6e-17: no purchase
    ("i1", "i", "2024-02-01", 100.0),
    ("i2", "i", "2024-08-01", 0.1),
    ("i2", "i", "2024-08-01", 0.2),
    ("i2", "i", "2024-08-01", -0.3),
    # j: nets the same "zero" over the 12 months: not in the population
    ("j1", "j", "2024-01-01", 0.1),
    ("j1", "j", "2024-01-01", 0.2),
    ("j2", "j", "2024-02-01", -0.3),
]


@pytest.mark.parametrize("backend", ["duckdb", "sqlite"])
def test_labels_worked_by_hand(backend: str, tmp_path) -> None:
    url = "duckdb://" if backend == "duckdb" else "sqlite:///labels.db"
    with Warehouse.connect(url, base_dir=tmp_path) as w:
        w.replace("invoice_lines", invoice_lines(LABEL_ROWS))
        labels = churn_labels(w.table("invoice_lines"), date(2024, 6, 15), 6)
    # Windows: year (2023-06-15, 2024-06-15], base (2023-12-15, 2024-06-15], after (2024-06-15, 2024-12-15].
    assert labels.client_id.tolist() == ["a", "b", "c", "d", "e", "h", "i"]
    assert labels.revenue_12m.tolist() == [200.0, 500.0, 1000.0, 500.0, 400.0, 300.0, 100.0]
    assert labels.base_revenue.tolist() == [200.0, 200.0, 1000.0, 500.0, 400.0, 300.0, 100.0]
    assert labels.recent_share.tolist() == [1.0, 0.4, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert labels.revenue_after.tolist() == [150.0, 0.0, 400.0, -100.0, 200.0, -20.0, 0.0]
    assert labels.purchases_after.tolist() == [1, 0, 1, 0, 1, 1, 0]
    assert labels.churned.tolist() == [False, True, False, True, False, False, True]
    assert labels.declined.tolist() == [False, True, True, True, False, True, True]
    assert labels.target.tolist() == [False, True, True, True, False, True, True]
    # lost = max(base - after, 0): 200-150, 200-0, 1000-400, 500+100, 400-200, 300+20, 100-0
    assert labels.lost_revenue.tolist() == [50.0, 200.0, 600.0, 600.0, 200.0, 320.0, 100.0]


def test_label_targets_and_drop_share(wh: Warehouse) -> None:
    wh.replace("invoice_lines", invoice_lines(LABEL_ROWS))
    lines = wh.table("invoice_lines")
    churn = churn_labels(lines, date(2024, 6, 15), 6, target="churn")
    decline = churn_labels(lines, date(2024, 6, 15), 6, target="decline")
    assert churn.set_index("client_id").target.to_dict() == {
        "a": False, "b": True, "c": False, "d": True, "e": False, "h": False, "i": True,
    }  # fmt: skip
    assert decline.set_index("client_id").target.to_dict() == {
        "a": False, "b": True, "c": True, "d": True, "e": False, "h": True, "i": True,
    }  # fmt: skip
    # drop share 0.7: declined below 30 % of the base; c keeps 40 %, so no longer declined
    strict = churn_labels(lines, date(2024, 6, 15), 6, revenue_drop_share=0.7).set_index("client_id")
    assert strict.declined.to_dict() == {
        "a": False, "b": True, "c": False, "d": True, "e": False, "h": True, "i": True,
    }  # fmt: skip


def test_label_options_are_checked(wh: Warehouse) -> None:
    wh.replace("invoice_lines", invoice_lines(LABEL_ROWS))
    lines = wh.table("invoice_lines")
    with pytest.raises(ValueError, match=r"^churn.horizon_months must be a whole number of months >= 1, got 0$"):
        churn_labels(lines, date(2024, 6, 15), 0)
    with pytest.raises(ValueError, match=r"^churn.revenue_drop_share must be in \(0, 1\], got 1.5$"):
        churn_labels(lines, date(2024, 6, 15), 6, revenue_drop_share=1.5)
    with pytest.raises(ValueError, match=r"^churn.target must be 'churn', 'decline' or 'either', got 'lost'$"):
        churn_labels(lines, date(2024, 6, 15), 6, target="lost")  # type: ignore[arg-type]


def test_population_at_as_of(wh: Warehouse) -> None:
    wh.replace("invoice_lines", invoice_lines(LABEL_ROWS))
    population = churn_population(wh.table("invoice_lines"), date(2024, 6, 15), 3)
    # base = the 3 months (2024-03-15, 2024-06-15]: b2 200, d1 500, e1 400; a, c, h, i bought before
    assert population.set_index("client_id").base_revenue.to_dict() == {
        "a": 0.0, "b": 200.0, "c": 0.0, "d": 500.0, "e": 400.0, "h": 0.0, "i": 0.0,
    }  # fmt: skip
    assert list(population.columns) == ["client_id", "revenue_12m", "base_revenue", "recent_share"]


# -- point in time -------------------------------------------------------------------------------------------
def test_tables_as_of_hides_the_future(wh: Warehouse) -> None:
    wh.replace("invoice_lines", invoice_lines(LABEL_ROWS))
    wh.replace(
        "opportunities",
        pa.table(
            {
                "opportunity_id": ["o1", "o2", "o3"],
                "client_id": ["a", "a", "b"],
                "stage": ["Won", "Won", "Prospecting"],
                "created": pa.array([date(2024, 1, 1), date(2024, 1, 1), date(2024, 7, 1)], type=pa.date32()),
                "closed": pa.array([date(2024, 3, 1), date(2024, 8, 1), None], type=pa.date32()),
                "won": [True, True, None],
                "lost_reason": [None, None, None],
            }
        ),
    )
    wh.replace(
        "assessments",
        pa.table(
            {
                "client_id": ["a", "a", "b"],
                "period": pa.array([date(2024, 1, 1), date(2024, 7, 1), date(2024, 1, 1)], type=pa.date32()),
                "potential": [1.0, 2.0, 3.0],
                "entered_at": pa.array([date(2024, 1, 5), date(2024, 7, 5), date(2024, 9, 1)], type=pa.date32()),
            }
        ),
    )
    seen = tables_as_of(tables_of(wh), date(2024, 6, 15))
    assert pd.Timestamp(seen["invoice_lines"].date.max().execute()).date() == date(2024, 6, 15)
    opportunities = seen["opportunities"].order_by("opportunity_id").execute()
    assert opportunities.opportunity_id.tolist() == ["o1", "o2"]  # o3 was created later
    assert pd.Timestamp(opportunities.closed.iloc[0]).date() == date(2024, 3, 1)
    assert bool(opportunities.won.iloc[0]) is True
    assert pd.isna(opportunities.closed.iloc[1]) and pd.isna(opportunities.won.iloc[1])  # open on that day
    assessments = seen["assessments"].execute()
    assert assessments.potential.tolist() == [1.0]  # a later period, and an assessment entered later, are hidden


def leaky_features(tables: Mapping[str, Any], as_of: date) -> pd.DataFrame:
    """A careless feature function: it sums every line it is given, whatever their date."""
    lines = tables["invoice_lines"].execute()
    grouped = lines.groupby("client_id").agg(revenue_ttm=("revenue", "sum"), last=("date", "max"))
    grouped["recency_days"] = [(pd.Timestamp(as_of) - pd.Timestamp(d)).days for d in grouped["last"]]
    return grouped.drop(columns="last").reset_index()


def test_future_lines_change_labels_but_never_features(wh: Warehouse) -> None:
    rows = [
        (f"{c}{m}", c, f"{2022 + (m - 1) // 12}-{(m - 1) % 12 + 1:02d}-10", 100.0 + m)
        for c in ("a", "b", "c")
        for m in range(1, 31 if c != "b" else 22)  # January 2022 to June 2024; b stops after September 2023
    ]
    wh.replace("invoice_lines", invoice_lines(rows))
    before = build_training_set(tables_of(wh), date(2024, 6, 30), leaky_features, 6, 2)
    assert before.cutoffs == [date(2023, 12, 30), date(2023, 6, 30)]
    future = [("late1", "b", "2024-03-01", 500.0), ("late2", "a", "2024-09-01", 999.0)]
    wh.replace("invoice_lines", invoice_lines(rows + future))
    after = build_training_set(tables_of(wh), date(2024, 6, 30), leaky_features, 6, 2)
    feature_columns = ["cutoff", "client_id", "revenue_ttm", "recency_days"]
    pd.testing.assert_frame_equal(before.frame[feature_columns], after.frame[feature_columns])
    at_c1 = {frame: f[f.cutoff == date(2023, 12, 30)].set_index("client_id") for frame, f in
             (("before", before.frame), ("after", after.frame))}  # fmt: skip
    assert at_c1["before"].churned.to_dict() == {"a": False, "b": True, "c": False}
    assert at_c1["after"].churned.to_dict() == {"a": False, "b": False, "c": False}  # b's late purchase counts
    # the line after as_of (2024-09-01) is not read at all, not even for labels
    assert at_c1["after"].revenue_after["a"] == at_c1["before"].revenue_after["a"]


# -- the model -----------------------------------------------------------------------------------------------
def test_model_follows_the_estimator_contract() -> None:
    X, y = planted_churn_features(600, seed=1)
    model = ChurnModel(max_iter=50, random_state=3)
    assert model.get_params()["max_iter"] == 50 and model.get_params()["random_state"] == 3
    assert not hasattr(model, "estimator_")
    with pytest.raises(ValueError, match=r"^ChurnModel is not fitted; call fit\(\) first$"):
        model.predict_proba(X)
    assert model.fit(X, y) is model
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "estimator_")
    assert model.features_ == [c for c in CHURN_FEATURES if c in X.columns]
    assert model.n_clients_ == 600 and model.n_positive_ == int(y.sum())
    assert model.calibration_ == "sigmoid"  # far below 1,000 positives
    with pytest.raises(ValueError, match=r"^X lacks feature\(s\) the model was fitted on: recency_days$"):
        model.predict_proba(X.drop(columns="recency_days"))


def test_model_refuses_what_it_cannot_learn_from() -> None:
    X, y = planted_churn_features(100, seed=2)
    with pytest.raises(ValueError, match=r"^y must hold one outcome per row of X \(100 rows\), got shape \(99,\)$"):
        ChurnModel().fit(X, y[:99])
    few = np.zeros(100, dtype=bool)
    few[:1] = True
    with pytest.raises(
        ValueError, match=r"^ChurnModel needs at least 2 positive and 2 negative examples, got 1 positive and 99"
    ):
        ChurnModel().fit(X, few)
    with pytest.raises(ValueError, match=r"^X has none of the churn features \(or all are empty\): recency_days"):
        ChurnModel().fit(X[["client_id"]].assign(recency_days=np.nan), y)


def test_model_beats_recency_where_churn_is_planted() -> None:
    X, y = planted_churn_features(4000, seed=3)
    test_X, test_y = planted_churn_features(4000, seed=4)
    probability = ChurnModel().fit(X, y).predict_proba(test_X).to_numpy()
    model_auc = auc(test_y, probability)
    recency_auc = auc(test_y, test_X.recency_days.to_numpy())
    assert model_auc is not None and recency_auc is not None
    assert model_auc > recency_auc + 0.1, (model_auc, recency_auc)
    # calibrated: the mean probability is close to the observed rate, and better than the base rate's Brier
    assert abs(probability.mean() - test_y.mean()) < 0.03
    assert np.mean((probability - test_y) ** 2) < np.mean((y.mean() - test_y) ** 2)


@settings(max_examples=8, deadline=None)
@given(
    n=st.integers(min_value=30, max_value=200),
    seed=st.integers(min_value=0, max_value=10_000),
    missing=st.floats(min_value=0.0, max_value=0.9),
)
def test_probabilities_are_probabilities(n: int, seed: int, missing: float) -> None:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "recency_days": np.where(rng.random(n) < missing, np.nan, rng.exponential(90, n)),
            "order_gap_ratio": np.where(rng.random(n) < 0.1, np.inf, rng.exponential(1, n)),
            "growth": np.full(n, 0.1),
            "revenue_ttm": rng.normal(1000, 2000, n),
        }
    )
    y = np.arange(n) % 3 == 0
    probability = ChurnModel(max_iter=30, min_samples_leaf=5).fit(X, y).predict_proba(X)
    assert len(probability) == n
    assert np.isfinite(probability).all() and (probability >= 0).all() and (probability <= 1).all()


def test_population_ranks_make_the_model_blind_to_a_level_shift() -> None:
    X, y = planted_churn_features(800, seed=5)
    model = ChurnModel(max_iter=60).fit(X, y)
    inflated = X.assign(revenue_ttm=X.revenue_ttm * 1.3, recency_days=X.recency_days + 15)
    np.testing.assert_allclose(model.predict_proba(X).to_numpy(), model.predict_proba(inflated).to_numpy())
    raw = ChurnModel(max_iter=60, population_ranks=False).fit(X, y)
    assert not np.allclose(raw.predict_proba(X).to_numpy(), raw.predict_proba(inflated).to_numpy())


def test_summation_noise_does_not_move_the_model() -> None:
    # Engines add floats in any order: equal revenue sums can differ in the last bits between runs.
    X, y = planted_churn_features(800, seed=8)
    X["revenue_ttm"] = X.revenue_ttm.round(-4)  # many clients tie
    model = ChurnModel(max_iter=60).fit(X, y)
    rng = np.random.default_rng(0)
    noisy = X.assign(
        revenue_ttm=X.revenue_ttm * (1 + rng.uniform(-1e-14, 1e-14, len(X))),
        lost_categories=X.lost_categories + rng.uniform(-1e-15, 1e-15, len(X)),
    )
    np.testing.assert_array_equal(model.predict_proba(X).to_numpy(), model.predict_proba(noisy).to_numpy())


def test_reasons_are_the_occlusion_differences() -> None:
    X, y = planted_churn_features(1000, seed=6)
    model = ChurnModel(max_iter=80).fit(X, y)
    reasons = model.reasons(X, top=3)
    assert list(reasons.columns) == [
        "client_id", "rank", "feature", "value", "typical", "contribution", "direction", "sentence",
    ]  # fmt: skip
    assert reasons.groupby("client_id").size().max() <= 3
    assert (reasons.contribution.abs() >= 1e-4).all()
    first = reasons.sort_values(["client_id", "rank"]).groupby("client_id").head(2)
    pairs = first.groupby("client_id").contribution.apply(lambda c: list(c.abs()))
    assert all(p[0] >= p[-1] for p in pairs)
    # recompute the strongest reason of the riskiest client by hand: its feature set to the median (rank 0.5)
    probability = model.predict_proba(X)
    client = probability.idxmax()
    row = reasons[(reasons.client_id == client) & (reasons["rank"] == 1)].iloc[0]
    column = list(model.features_).index(row.feature)
    ranks = np.array(X[model.features_].rank(pct=True).to_numpy())
    ranks[:, column] = np.where(X.client_id == client, 0.5, ranks[:, column])
    occluded = model.estimator_.predict_proba(ranks)[:, 1][X.client_id.to_numpy() == client][0]
    assert row.contribution == pytest.approx(probability[client] - occluded)
    assert row.typical == pytest.approx(X[row.feature].median())
    assert row.direction == ("raises" if row.contribution > 0 else "lowers")


def test_reason_sentences_read_in_the_units_of_the_feature() -> None:
    X, y = planted_churn_features(1000, seed=7)
    model = ChurnModel(max_iter=80, features=("order_gap_ratio",)).fit(X, y)
    reasons = model.reasons(X, top=1)
    row = reasons.iloc[int(np.argmax(reasons.contribution.to_numpy()))]
    assert row.sentence == (
        f"Time since the last order in the client's usual gaps: {row.value:.1f}x (typical client "
        f"{row.typical:.1f}x) raises the risk by {row.contribution * 100:.1f} points."
    )


# -- metrics -------------------------------------------------------------------------------------------------
def test_top_k_counts_ties_pro_rata() -> None:
    score = np.array([3.0, 2.0, 2.0, 2.0, 1.0])
    values = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    # the top 2: the 3.0 (value 1) and one of three tied 2.0s (values 0, 1, 1: 2/3 expected)
    assert top_k_expected(score, values, 2) == pytest.approx(1 + 2 / 3)
    assert top_k_expected(score, values, 4) == pytest.approx(3.0)
    assert top_k_expected(np.array([np.nan, 1.0]), np.array([5.0, 7.0]), 1) == 7.0  # missing ranks lowest


def test_auc_counts_ties_as_half() -> None:
    outcome = np.array([True, False, True, False])
    score = np.array([0.9, 0.9, 0.5, 0.1])
    # positive/negative pairs: (0.9, 0.9) 1/2, (0.9, 0.1) 1, (0.5, 0.9) 0, (0.5, 0.1) 1 -> 2.5 / 4
    assert auc(outcome, score) == 0.625
    assert auc(np.array([True, True]), np.array([0.1, 0.2])) is None


def test_reliability_table_by_hand() -> None:
    table = reliability_table(np.array([0.05, 0.15, 0.12, 0.95, 1.0]), np.array([False, True, False, True, True]))
    assert [b.n for b in table] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert table[1].mean_predicted == pytest.approx(0.135) and table[1].observed_rate == 0.5
    assert table[9].mean_predicted == pytest.approx(0.975) and table[9].observed_rate == 1.0
    assert table[2].mean_predicted is None and (table[2].lower, table[2].upper) == (0.2, 0.3)


def test_signal_count_by_hand() -> None:
    features = pd.DataFrame(
        {
            "growth": [-0.2, -0.1, np.nan, -0.5],
            "order_gap_ratio": [2.0, 3.0, 2.5, 1.0],
            "orders_total": [3, 2, 10, 10],
            "lost_categories": [1.0, 0.0, 0.0, 2.0],
            "recency_days": [180.0, 179.0, 400.0, 10.0],
        }
    )
    # row 0: all four; row 1: none (gap needs 3 orders); row 2: gap and recency; row 3: growth and categories
    assert signal_count(features).tolist() == [4, 0, 2, 2]


def test_gain_interval_is_paired_and_reproducible() -> None:
    assert gain_interval(lambda i: 0.25, 50, 100, 0.9, 0) == (0.25, 0.25)
    values = np.arange(100.0)
    first = gain_interval(lambda i: float(values[i].mean()), 100, 300, 0.9, 1)
    assert first == gain_interval(lambda i: float(values[i].mean()), 100, 300, 0.9, 1)
    assert first is not None and first[0] < 49.5 < first[1]
    assert gain_interval(lambda i: 1.0, 10, 0, 0.9, 0) is None


def test_cutoffs_count_back_from_one_anchor() -> None:
    assert cutoff_dates(date(2024, 8, 31), 6, 3) == [date(2024, 2, 29), date(2023, 8, 31), date(2023, 2, 28)]
    # the training cut-offs of an evaluation 6 months back: the same grid, outcome windows ending by it
    assert cutoff_dates(date(2024, 8, 31), 6, 2, skip_months=6) == [date(2023, 8, 31), date(2023, 2, 28)]
    assert cutoff_dates(date(2024, 8, 31), 6, 3, step_months=3) == [date(2024, 2, 29), date(2023, 11, 30),
                                                                     date(2023, 8, 31)]  # fmt: skip


def cutoff_result(
    cutoff: date, aucs: tuple[float, float, float], lost: tuple[float, float], gains: tuple[Any, Any, Any, Any]
) -> CutoffResult:
    """A result with the model's and recency's AUC, the size AUC, lost shares (model, size) and the gains."""
    model_auc, recency_auc, size_auc = aucs
    auc_gain, auc_ci, lost_gain, lost_ci = gains
    metrics = {
        "model": ScoreMetrics(model_auc, 0.7, 0.5, lost[0]),
        "recency": ScoreMetrics(recency_auc, 0.7, 0.4, 0.01),
        "signals": ScoreMetrics(0.55, 0.6, 0.3, 0.02),
        "size": ScoreMetrics(size_auc, 0.3, 0.2, lost[1]),
    }
    settings_ = ChurnSettings()
    return CutoffResult(
        cutoff, [], 0, 0, 1000, 300, 100, 250, 100, 1.0, 0.5, 0.8, metrics, 0.2, 0.25, [], "sigmoid", [],
        auc_gain, auc_ci, lost_gain, lost_ci,
        auc_gain is not None and auc_gain >= settings_.min_auc_gain and auc_ci[0] > 0,
        lost_gain is not None and lost_gain >= settings_.min_lost_share_gain and lost_ci[0] > 0,
    )  # fmt: skip


def test_verdict_in_words() -> None:
    settings_ = ChurnSettings()
    wins = cutoff_result(date(2024, 6, 30), (0.8, 0.7, 0.3), (0.5, 0.4), (0.1, (0.05, 0.15), 0.1, (0.04, 0.16)))
    verdict, recommendation = backtest_verdict([wins], settings_)
    assert recommendation == SHOW_MODEL
    assert verdict == (
        "The model beats recency on AUC and size on lost revenue on 1 cut-off (tested on one cut-off only: check "
        "again next period): at 2024-06-30 AUC 0.800 (recency 0.700), lost revenue held by the top 100 clients "
        "50.0% (size 40.0%)."
    )
    noisy = cutoff_result(date(2023, 12, 31), (0.71, 0.7, 0.75), (0.415, 0.4), (0.01, (-0.01, 0.03), 0.015,
                                                                                (0.001, 0.03)))  # fmt: skip
    verdict, recommendation = backtest_verdict([wins, noisy], settings_)
    assert recommendation == SHOW_SIZE
    assert verdict == (
        "The model beats recency on AUC at 1 of 2 and size on lost revenue at 1 of 2 evaluated cut-offs: at "
        "2024-06-30 AUC 0.800 (recency 0.700), lost revenue held by the top 100 clients 50.0% (size 40.0%); at "
        "2023-12-31 AUC 0.710 (recency 0.700, a gain within the noise of resampling), lost revenue held by the "
        "top 100 clients 41.5% (size 40.0%, a gain below the 2-point minimum). Size alone ranks the outcome "
        "better than the model. The model does not add enough over the simple rankings to be shown as a risk "
        "score on this data."
    )


# -- settings ------------------------------------------------------------------------------------------------
def test_settings_from_the_workspace_config() -> None:
    analysis = AnalysisConfig.model_validate({"churn": {"horizon_months": 3, "revenue_drop_share": 0.4}})
    settings_ = ChurnSettings.from_config(analysis)
    assert (settings_.horizon_months, settings_.revenue_drop_share, settings_.step) == (3, 0.4, 3)
    assert ChurnSettings.from_config(None) == ChurnSettings()
    with pytest.raises(ValueError, match=r"^churn.top_share must be between 0 and 1 \(exclusive\), got 1.0$"):
        ChurnSettings(top_share=1.0)
    with pytest.raises(ValueError, match=r"^churn.step_months must be a whole number of months >= 1, got 0$"):
        ChurnSettings(step_months=0)


# -- backtest and production scoring --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted_tables() -> Iterator[dict[str, Any]]:
    w = Warehouse.connect("duckdb://")
    lines, products = planted_churn_lines()
    w.replace("invoice_lines", lines)
    w.replace("products", products)
    yield tables_of(w)
    w.close()


def test_backtest_finds_the_planted_churn(planted_tables: dict[str, Any]) -> None:
    result = churn_backtest(planted_tables, date(2023, 12, 31), client_features)
    assert result.status == "ok"
    assert [r.cutoff for r in result.cutoffs] == [date(2023, 6, 30), date(2022, 12, 31)]
    assert [r.training_cutoffs for r in result.cutoffs] == [
        [date(2022, 12, 31), date(2022, 6, 30)],
        [date(2022, 6, 30), date(2021, 12, 31)],
    ]
    for r in result.cutoffs:
        model, recency = r.scores["model"].auc, r.scores["recency"].auc
        assert model is not None and recency is not None
        assert model > recency + 0.04, (r.cutoff, model, recency)
        assert r.model_beats_recency
        assert r.brier < r.brier_reference  # better than predicting the base rate
        assert sum(b.n for b in r.reliability) == r.n_clients
        assert r.k == round(0.1 * r.n_clients)
        assert r.auc_gain_interval is not None and r.auc_gain_interval[0] > 0
        assert r.lost_revenue_share_oracle is not None
        assert r.scores["model"].lost_revenue_share is not None
        assert r.scores["model"].lost_revenue_share <= r.lost_revenue_share_oracle + 1e-12
    beats_all = all(r.model_beats_recency and r.model_beats_size for r in result.cutoffs)
    assert result.recommendation == (SHOW_MODEL if beats_all else SHOW_SIZE)
    assert result.verdict.startswith(
        "The model beats recency on AUC and size on lost revenue on 2 cut-offs: at 2023-06-30 AUC "
        if beats_all
        else "The model beats recency on AUC at 2 of 2 and size on lost revenue at "
    )
    plain = result.to_dict()
    assert json.loads(json.dumps(plain)) == plain
    assert plain["show_model"] is (result.recommendation == SHOW_MODEL)
    assert plain["cutoffs"][0]["cutoff"] == "2023-06-30"
    assert plain["config"]["horizon_months"] == 6


def test_report_computes_each_cutoff_once(planted_tables: dict[str, Any]) -> None:
    seen: list[date] = []

    def counted(tables: Mapping[str, Any], as_of: date) -> Any:
        seen.append(as_of)
        return client_features(tables, as_of)

    backtest, prediction = churn_report(planted_tables, date(2023, 12, 31), counted)
    # backtest: 2023-06-30 and 2022-12-31 (evaluated), 2022-06-30 and 2021-12-31 (training); production: as_of
    assert sorted(seen) == [date(2021, 12, 31), date(2022, 6, 30), date(2022, 12, 31), date(2023, 6, 30),
                            date(2023, 12, 31)]  # fmt: skip
    alone = predict_churn(planted_tables, date(2023, 12, 31), client_features)
    pd.testing.assert_frame_equal(prediction.frame, alone.frame)
    assert backtest.status == "ok" and [r.cutoff for r in backtest.cutoffs] == [date(2023, 6, 30), date(2022, 12, 31)]


def test_models_are_fitted_on_the_configured_sample(
    planted_tables: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import salesfolio.analytics.churn_backtest as backtest_module

    fitted: list[ChurnModel] = []

    class Recorded(ChurnModel):
        def fit(self, X: pd.DataFrame, y: Any) -> Recorded:
            fitted.append(self)
            return super().fit(X, y)

    monkeypatch.setattr(backtest_module, "ChurnModel", Recorded)
    settings_ = ChurnSettings(max_training_rows_per_cutoff=200)
    backtest, prediction = churn_report(planted_tables, date(2023, 12, 31), client_features, settings_)
    assert backtest.status == "ok" and prediction.status == "ok" and len(fitted) == 3
    assert backtest.config["max_training_rows_per_cutoff"] == 200
    for model in fitted:  # each model: two training cut-offs, 200 clients drawn from each
        assert model.max_rows_per_population == 200
        assert model.n_clients_ > 2 * 200 and model.n_fit_rows_ == pytest.approx(2 * 200, abs=2)
    assert [r.n_train for r in backtest.cutoffs] == [m.n_clients_ for m in fitted[:2]]  # all rows are reported
    unsampled = churn_report(planted_tables, date(2023, 12, 31), client_features, ChurnSettings())[1]
    assert unsampled.model is not None and unsampled.model.n_fit_rows_ == unsampled.model.n_clients_


@pytest.mark.slow
def test_backtest_recommends_the_model_where_it_finds_the_money() -> None:
    # 3,000 clients; leaving clients keep their order value until they stop, so large losses can be foreseen
    with Warehouse.connect("duckdb://") as w:
        lines, products = planted_churn_lines(n_clients=3000, leaving_value=1.0)
        w.replace("invoice_lines", lines)
        w.replace("products", products)
        result = churn_backtest(tables_of(w), date(2023, 12, 31), client_features)
    assert result.recommendation == SHOW_MODEL
    for r in result.cutoffs:
        assert r.lost_share_gain_over_size is not None and r.lost_share_gain_over_size > 0.04
        assert r.lost_share_gain_interval is not None and r.lost_share_gain_interval[0] > 0
    assert result.verdict.startswith("The model beats recency on AUC and size on lost revenue on 2 cut-offs: ")


def test_production_scores_the_population_at_as_of(planted_tables: dict[str, Any]) -> None:
    prediction = predict_churn(planted_tables, date(2023, 12, 31), client_features)
    assert prediction.status == "ok"
    assert prediction.training_cutoffs == [date(2023, 6, 30), date(2022, 12, 31)]
    population = churn_population(planted_tables["invoice_lines"], date(2023, 12, 31), 6)
    frame = prediction.frame
    assert sorted(frame.client_id) == sorted(population.client_id)
    assert frame.expected_loss.is_monotonic_decreasing
    np.testing.assert_allclose(frame.expected_loss, frame.churn_probability * frame.base_revenue.clip(lower=0))
    assert ((frame.churn_probability >= 0) & (frame.churn_probability <= 1)).all()
    assert set(prediction.reasons.client_id) <= set(frame.client_id)
    assert prediction.reasons.groupby("client_id").size().max() <= 3
    assert prediction.message == (
        f"trained on {prediction.model.n_clients_ if prediction.model else 0} examples from 2 cut-off(s) "
        f"(2023-06-30, 2022-12-31); {len(frame)} clients scored"
    )


def small_history(n_clients: int, months: int) -> pa.Table:
    rows = []
    for c in range(n_clients):
        for m in range(months):
            if (c + m) % 3 == 0:  # a third of the months, staggered
                year, month0 = divmod(m, 12)
                rows.append((f"i{c}-{m}", f"c{c:03d}", f"{2022 + year}-{month0 + 1:02d}-05", 100.0 + c))
    return invoice_lines(rows)


def test_too_few_clients_is_reported_not_raised(wh: Warehouse) -> None:
    wh.replace("invoice_lines", small_history(50, 30))
    result = churn_backtest(tables_of(wh), date(2024, 6, 30), client_features)
    assert result.status == "insufficient_data"
    assert result.recommendation == SHOW_SIZE
    assert result.cutoffs == []
    assert result.skipped == [
        (date(2023, 12, 30), "cannot train for this cut-off: too few clients: 50 per training cut-off on average, "
         "at least 200 are needed"),
        (date(2023, 6, 30), "cannot train for this cut-off: too few clients: 50 per training cut-off on average, "
         "at least 200 are needed"),
    ]  # fmt: skip
    assert result.message.startswith("not enough data to test a churn model (2023-12-30: cannot train")
    assert result.verdict == (
        "Not enough data to test a churn model; no risk score can be shown as if it worked. Rank revenue at "
        "risk by size instead."
    )
    few = predict_churn(tables_of(wh), date(2024, 6, 30), client_features)
    assert few.status == "insufficient_data" and few.frame.empty
    assert few.message == "no churn model: too few clients: 50 per training cut-off on average, at least 200 are needed"


def test_too_short_a_history_is_reported_not_raised(wh: Warehouse) -> None:
    wh.replace("invoice_lines", small_history(300, 9))  # 2022-01-05 to 2022-09-05
    result = churn_backtest(tables_of(wh), date(2022, 9, 30), client_features, ChurnSettings(backtest_cutoffs=1))
    assert result.status == "insufficient_data"
    assert result.skipped == [
        (
            date(2022, 3, 30),
            "not enough history before the cut-off 2022-03-30: the invoice lines start on 2022-01-05, the 6-month "
            "base window needs them from 2021-09-30",
        )
    ]


def test_too_few_outcomes_is_reported_not_raised(wh: Warehouse) -> None:
    # 300 clients buying every month for 3 years: nobody churns or declines
    rows = [
        (f"i{c}-{m}", f"c{c:03d}", f"{2021 + m // 12}-{m % 12 + 1:02d}-05", 100.0)
        for c in range(300)
        for m in range(36)
    ]
    wh.replace("invoice_lines", invoice_lines(rows))
    settings_ = ChurnSettings(backtest_cutoffs=1, train_cutoffs=1)
    result = churn_backtest(tables_of(wh), date(2023, 12, 31), client_features, settings_)
    assert result.skipped == [
        (
            date(2023, 6, 30),
            "cannot train for this cut-off: too few examples of each outcome: 0 clients with and 300 without the "
            "outcome in training, at least 20 of each are needed",
        )
    ]


def test_backtest_needs_invoice_lines() -> None:
    with pytest.raises(ValueError, match=r"^the churn model needs the invoice_lines table$"):
        churn_backtest({}, date(2024, 1, 1), client_features)


def test_no_invoice_lines_at_all(wh: Warehouse) -> None:
    result = churn_backtest(tables_of(wh), date(2024, 6, 30), client_features)
    assert result.status == "insufficient_data"
    assert result.skipped == [(date(2023, 12, 30), "there are no invoice lines"), (date(2023, 6, 30),
                              "there are no invoice lines")]  # fmt: skip
