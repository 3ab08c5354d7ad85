"""Client scoring: hand-computed scores, missing-data policies, dropped criteria, and properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesfolio.analytics.config import AnalysisConfig
from salesfolio.analytics.criteria import CRITERIA
from salesfolio.analytics.scoring import normalise, portfolio_axes, score_clients


def only(weights: dict[str, float], **extra: object) -> AnalysisConfig:
    """A config with just these criteria enabled, at these weights."""
    criteria = {cid: {"enabled": cid in weights, "weight": weights.get(cid, 1.0)} for cid in CRITERIA}
    for cid, changes in extra.items():
        criteria[cid].update(changes)  # type: ignore[attr-defined]
    return AnalysisConfig.model_validate({"criteria": criteria})


def sequential_sum(frame: pd.DataFrame) -> pd.Series:
    cols = [c for c in frame.columns if c.startswith("contrib_")]
    total = frame[cols[0]].copy()
    for c in cols[1:]:
        total = total + frame[c]
    return total


@pytest.fixture
def four_clients() -> pd.DataFrame:
    # revenue ranks a<b=c<d; margin: c has none; cost to serve per revenue: b 0.05 < a = d 0.1 < c 0.2.
    return pd.DataFrame(
        {
            "client_id": ["a", "b", "c", "d"],
            "revenue_ttm": [100.0, 200.0, 200.0, 400.0],
            "margin_pct_ttm": [0.30, 0.10, np.nan, 0.20],
            "cost_to_serve_ttm": [10.0, 10.0, 40.0, 40.0],
        }
    )


CONFIG_3 = {"current_value": 50.0, "margin": 30.0, "cost_to_serve": 20.0}


def test_hand_computed_scores_and_contributions(four_clients: pd.DataFrame) -> None:
    res = score_clients(four_clients, only(CONFIG_3))
    f = res.frame.set_index("client_id")
    # Percentile ranks (rank - 1) / (n - 1), ties averaged:
    #   revenue  a 0, b 0.5, c 0.5, d 1;  margin (3 clients) a 1, b 0, d 0.5;
    #   cost per revenue b 0, a 0.5, d 0.5, c 1 -> lower is better -> b 1, a 0.5, d 0.5, c 0.
    assert f["norm_current_value"].tolist() == [0.0, 0.5, 0.5, 1.0]
    assert f["norm_margin"].fillna(-1).tolist() == [1.0, 0.0, -1, 0.5]
    assert f["norm_cost_to_serve"].tolist() == [0.5, 1.0, 0.0, 0.5]
    # a = 50*0 + 30*1 + 20*0.5; b = 25 + 0 + 20; d = 50 + 15 + 10;
    # c has no margin: its 50 + 20 weights are rescaled to 100: 100*50*0.5/70 + 0.
    assert f.loc["a", ["contrib_current_value", "contrib_margin", "contrib_cost_to_serve"]].tolist() == [0, 30, 10]
    assert f.loc["b", "score"] == 45.0
    assert f.loc["d", "score"] == 75.0
    assert f.loc["c", "contrib_margin"] == 0.0
    assert f.loc["c", "score"] == pytest.approx(100 * 50 * 0.5 / 70)
    assert f["band"].tolist() == ["average", "average", "average", "good"]
    assert res.weights_used == {"current_value": 50.0, "margin": 30.0, "cost_to_serve": 20.0}
    assert res.dropped == [] and res.warnings == []
    assert res.coverage == {"current_value": 1.0, "margin": 0.75, "cost_to_serve": 1.0}
    assert list(res.frame.columns) == [
        "client_id", "score", "band",
        "contrib_current_value", "contrib_margin", "contrib_cost_to_serve",
        "norm_current_value", "norm_margin", "norm_cost_to_serve",
    ]  # fmt: skip
    assert (sequential_sum(res.frame) == res.frame["score"]).all()


def test_neutral_policy_counts_missing_as_middling(four_clients: pd.DataFrame) -> None:
    cfg = AnalysisConfig.model_validate({**only(CONFIG_3).model_dump(), "missing_policy": "neutral"})
    f = score_clients(four_clients, cfg).frame.set_index("client_id")
    # c: 50*0.5 + 30*0.5 (neutral) + 20*0 = 40
    assert f.loc["c", "score"] == 40.0
    assert f.loc["c", "contrib_margin"] == 15.0
    assert f.loc["d", "score"] == 75.0


def test_score_bands_follow_the_configuration(four_clients: pd.DataFrame) -> None:
    cfg = AnalysisConfig.model_validate({**only(CONFIG_3).model_dump(), "score_bands": {"good": 75.0, "poor": 40.0}})
    bands = score_clients(four_clients, cfg).frame["band"].tolist()
    # 40 is not below 40 (average); 75 is at the good boundary; 35.7 is poor.
    assert bands == ["average", "average", "poor", "good"]


def test_dropped_criteria_are_named_and_weights_renormalised(four_clients: pd.DataFrame) -> None:
    no_margin = four_clients.assign(margin_pct_ttm=np.nan)
    cfg = only({"current_value": 50.0, "margin": 30.0, "relationship": 10.0, "cost_to_serve": 20.0})
    res = score_clients(no_margin, cfg)
    assert res.dropped == ["margin", "relationship"]
    assert res.warnings == [
        "margin dropped: no client has margin data (invoice lines have no cost); "
        "the remaining weights were renormalised",
        "relationship dropped: no client has relationship data (no assessments with a relationship rating); "
        "the remaining weights were renormalised",
    ]
    assert res.weights_used == pytest.approx({"current_value": 100 * 50 / 70, "cost_to_serve": 100 * 20 / 70})
    f = res.frame.set_index("client_id")
    # d: (50*1 + 20*0.5) / 70 * 100
    assert f.loc["d", "score"] == pytest.approx(6000 / 70)
    assert f["contrib_margin"].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert f["norm_relationship"].isna().all()


def test_combined_components_and_direction(four_clients: pd.DataFrame) -> None:
    frame = pd.DataFrame(
        {
            "client_id": ["a", "b", "c"],
            "headroom": [0.0, 50.0, 100.0],
            "share_of_wallet": [1.0, 0.5, np.nan],
        }
    )
    f = score_clients(frame, only({"growth_potential": 1.0})).frame.set_index("client_id")
    # headroom 0, 0.5, 1; share of wallet (a, b only) 1, 0 -> flipped 0, 1; mean of what each client has.
    assert f["norm_growth_potential"].tolist() == [0.0, 0.75, 1.0]
    flipped = only({"growth_potential": 1.0}, growth_potential={"direction": "lower_is_better"})
    assert score_clients(frame, flipped).frame["norm_growth_potential"].tolist() == [1.0, 0.25, 0.0]


def test_extra_inputs_are_aligned_on_client_id() -> None:
    frame = pd.DataFrame({"client_id": ["a", "b", "c"], "revenue_ttm": [1.0, 2.0, 3.0]})
    # Out of order, one client missing: churn risk from n_signals only; lower risk is better.
    n_signals = pd.Series({"c": 2, "a": 0})
    res = score_clients(frame, only({"churn_risk": 1.0}), extra={"n_signals": n_signals})
    assert res.frame["norm_churn_risk"].fillna(-1).tolist() == [1.0, -1, 0.0]
    assert res.frame["band"].tolist() == ["good", "unknown", "poor"]
    assert np.isnan(res.frame["score"][1])
    with pytest.raises(ValueError, match=r"^extra\['n_signals'\] has duplicate client_id values in its index$"):
        score_clients(frame, only({"churn_risk": 1.0}), extra={"n_signals": pd.Series([1, 2], index=["a", "a"])})


def test_normalisations_by_hand() -> None:
    assert normalise(np.array([10.0, 20.0, 40.0]), "minmax").tolist() == [0.0, 1 / 3, 1.0]
    z = normalise(np.array([1.0, 2.0, 3.0]), "zscore")
    phi = 0.5 * (1 + math.erf(-1 / math.sqrt(2 / 3) / math.sqrt(2)))
    assert z.tolist() == pytest.approx([phi, 0.5, 1 - phi])
    assert normalise(np.array([7.0]), "percentile").tolist() == [0.5]
    assert normalise(np.array([3.0, 3.0, np.inf]), "percentile").tolist()[:2] == [0.5, 0.5]
    assert normalise(np.array([3.0, 3.0]), "minmax").tolist() == [0.5, 0.5]
    assert normalise(np.array([3.0, 3.0]), "zscore").tolist() == [0.5, 0.5]
    assert np.isnan(normalise(np.array([np.nan, np.nan]))).all()


def test_bad_feature_frames_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^the feature frame has no 'client_id' column$"):
        score_clients(pd.DataFrame({"id": ["a"]}), AnalysisConfig())
    dup = pd.DataFrame({"client_id": ["a", "b", "a"], "revenue_ttm": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=r"^the feature frame has duplicate client_id values: 'a'$"):
        score_clients(dup, AnalysisConfig())


def test_no_data_at_all_gives_no_scores_and_says_so() -> None:
    res = score_clients(pd.DataFrame({"client_id": ["a", "b"]}), only({"current_value": 1.0}))
    assert res.frame["band"].tolist() == ["unknown", "unknown"]
    assert res.frame["score"].isna().all()
    assert res.warnings[-1] == "no criterion has data for any client: no scores were computed"


def test_portfolio_axes_average_the_configured_criteria(four_clients: pd.DataFrame) -> None:
    frame = four_clients.assign(headroom=[0.0, 10.0, 20.0, 30.0])
    cfg = only({"current_value": 50.0, "margin": 30.0, "growth_potential": 20.0})
    axes = portfolio_axes(score_clients(frame, cfg), cfg).set_index("client_id")
    # value = (50*cv + 30*margin) / (weights available); c has no margin.
    assert axes["value_score"].tolist() == pytest.approx([100 * 30 / 80, 100 * 25 / 80, 50.0, 100 * 65 / 80])
    # potential: growth_potential only (growth and cross_sell are not in the score); headroom ranks 0, 1/3, 2/3, 1.
    assert axes["potential_score"].tolist() == pytest.approx([0.0, 100 / 3, 200 / 3, 100.0])


# ---------------------------------------------------------------------------------------------------------------
# Properties

money = st.floats(min_value=-1e6, max_value=1e9, allow_nan=False, allow_infinity=False)
maybe_share = st.one_of(st.none(), st.floats(min_value=-0.5, max_value=0.9, allow_nan=False))


@st.composite
def feature_frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(min_value=1, max_value=25))
    rows = draw(
        st.lists(st.tuples(money, maybe_share, st.one_of(st.none(), money), st.one_of(st.none(), money)),
                 min_size=n, max_size=n)
    )  # fmt: skip
    return pd.DataFrame(
        {
            "client_id": [f"c{i}" for i in range(n)],
            "revenue_ttm": [r[0] for r in rows],
            "margin_pct_ttm": [np.nan if r[1] is None else r[1] for r in rows],
            "headroom": [np.nan if r[2] is None else r[2] for r in rows],
            "cost_to_serve_ttm": [np.nan if r[3] is None else r[3] for r in rows],
        }
    )


WEIGHTS = {"current_value": 33.0, "margin": 17.0, "growth_potential": 29.0, "cost_to_serve": 7.0}


@settings(max_examples=60, deadline=None)
@given(
    feature_frames(), st.sampled_from(["renormalise", "neutral"]), st.sampled_from(["percentile", "minmax", "zscore"])
)
def test_scores_lie_in_range_and_equal_their_contributions(frame: pd.DataFrame, policy: str, method: str) -> None:
    cfg = only(WEIGHTS, **{cid: {"normalisation": method} for cid in WEIGHTS})
    cfg = AnalysisConfig.model_validate({**cfg.model_dump(), "missing_policy": policy})
    res = score_clients(frame, cfg)
    scored = res.frame.dropna(subset=["score"])
    assert len(scored) == len(frame)  # revenue is present for everyone
    assert ((scored["score"] >= 0) & (scored["score"] <= 100)).all()
    assert (sequential_sum(scored) == scored["score"]).all()
    assert sum(res.weights_used.values()) == pytest.approx(100.0)


@settings(max_examples=60, deadline=None)
@given(feature_frames(), st.integers(min_value=0, max_value=24), st.floats(min_value=0.01, max_value=1e9))
def test_score_never_falls_when_a_higher_is_better_feature_rises(frame: pd.DataFrame, pick: int, rise: float) -> None:
    i = pick % len(frame)
    # Cost to serve is read per unit of revenue, so it would move with revenue: take it out for this client.
    frame = frame.copy()
    frame.loc[i, "cost_to_serve_ttm"] = np.nan
    richer = frame.copy()
    richer.loc[i, "revenue_ttm"] += rise
    before = score_clients(frame, only(WEIGHTS)).frame["score"].iloc[i]
    after = score_clients(richer, only(WEIGHTS)).frame["score"].iloc[i]
    assert after >= before - 1e-12  # the 1e-14 rescaling that keeps scores within 100 may differ


@settings(max_examples=40, deadline=None)
@given(feature_frames())
def test_a_criterion_without_data_drops_out_and_the_rest_renormalise(frame: pd.DataFrame) -> None:
    with_dead = score_clients(frame, only({**WEIGHTS, "relationship": 50.0}))
    without = score_clients(frame, only(WEIGHTS))
    assert with_dead.dropped == sorted([*without.dropped, "relationship"], key=list(CRITERIA).index)
    assert with_dead.weights_used == without.weights_used
    assert with_dead.frame["score"].equals(without.frame["score"])


@pytest.mark.slow
def test_scale_100k_clients_signals_scoring_segments() -> None:
    """Runs the per-client chain on 100,000 random clients; prints the time (no timed assertion)."""
    import time

    from salesfolio.analytics import segments
    from salesfolio.analytics.signals import early_warnings

    rng = np.random.default_rng(7)
    n = 100_000
    revenue = rng.lognormal(9, 1.5, n)
    prior = revenue * rng.lognormal(0, 0.3, n)
    features = pd.DataFrame(
        {
            "client_id": pd.array([f"c{i:06d}" for i in range(n)], dtype="str"),
            "industry": pd.array(rng.choice(list("ABCDEFGH"), n), dtype="str"),
            "revenue_ttm": revenue,
            "revenue_prior_ttm": prior,
            "growth": revenue / prior - 1,
            "trend_slope": rng.normal(0, 0.02, n),
            "margin_pct_ttm": rng.uniform(0, 0.5, n),
            "margin_pct_prior_ttm": rng.uniform(0, 0.5, n),
            "headroom": rng.lognormal(9, 1, n),
            "share_of_wallet": rng.uniform(0, 1, n),
            "relationship": rng.integers(1, 6, n),
            "strategic_fit": rng.integers(1, 6, n),
            "cost_to_serve_ttm": revenue * rng.uniform(0, 0.1, n),
            "order_gap_ratio": rng.lognormal(0, 0.7, n),
            "orders_total": rng.integers(1, 50, n),
            "median_gap_days": rng.uniform(5, 90, n),
            "recency_days": rng.integers(0, 400, n).astype("float64"),
            "frequency": rng.uniform(0.5, 50, n),
            "lost_categories": rng.poisson(0.3, n),
        }
    )
    features["margin_erosion"] = features["margin_pct_prior_ttm"] - features["margin_pct_ttm"]
    cfg = AnalysisConfig()
    started = time.process_time()
    signals = early_warnings(features, cfg)
    scores = score_clients(features, cfg, extra={"n_signals": signals.n_signals})
    axes = portfolio_axes(scores, cfg).set_index("client_id")
    matrix = segments.value_potential_matrix(axes["value_score"], axes["potential_score"], cfg.matrix)
    by_id = features.set_index("client_id")
    abc = segments.abc_classes(by_id["revenue_ttm"])
    segments.abc_classes(by_id["revenue_ttm"] * by_id["margin_pct_ttm"])
    segments.pareto_curve(by_id["revenue_ttm"])
    cts_in = segments.cost_to_serve_inputs(features)
    cts = segments.cost_to_serve_matrix(cts_in["net_price_index"], cts_in["cost_to_serve_index"])
    rfm = segments.rfm_scores(by_id["recency_days"], by_id["frequency"], by_id["revenue_ttm"])
    heat = segments.group_summary(
        features.assign(segment=matrix.frame["segment"].to_numpy()), ["segment", "industry"], ["revenue_ttm"]
    )
    elapsed = time.process_time() - started
    print(f"\n100k clients: signals + scoring + segments took {elapsed:.2f} s of CPU")

    assert scores.dropped == ["cross_sell"]  # no whitespace was passed
    assert scores.frame["score"].between(0, 100).all()
    assert (sequential_sum(scores.frame) == scores.frame["score"]).all()
    assert len(signals.wide) == n and signals.wide["n_signals"].sum() == len(signals.long)
    assert matrix.frame["segment"].value_counts().sum() == n
    assert abc["abc_class"].value_counts().sum() == n
    assert len(cts.frame) == n and len(rfm) == n
    assert heat["clients"].sum() == n
