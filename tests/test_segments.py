"""Segments: ABC/Pareto, value x potential, cost-to-serve, opportunity zones, RFM and heatmap summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesfolio.analytics.config import CtsConfig, MatrixConfig, OpportunityZonesConfig
from salesfolio.analytics.segments import (
    RFM_SEGMENTS,
    SEGMENT_LABELS,
    abc_classes,
    abc_summary,
    cost_to_serve_inputs,
    cost_to_serve_matrix,
    group_summary,
    opportunity_zones,
    pareto_curve,
    rfm_scores,
    value_potential_matrix,
)

PORTFOLIO = pd.Series(
    {
        "e": 40.0,
        "b": 0.1 * 200 + 1e-14,  # 20.000000000000014: equal to "a" in cents, so client_id decides
        "a": 20.0,
        "c": 10.0,
        "f": 6.0,
        "g": 4.0,
        "z": 0.0,
        "y": -5.0,
        "n": np.nan,
    }
)


def test_abc_by_hand_with_cents_tie_break() -> None:
    abc = abc_classes(PORTFOLIO)
    assert abc["client_id"].tolist() == ["e", "a", "b", "c", "f", "g", "z", "y", "n"]
    assert abc["rank"].tolist() == list(range(1, 10))
    # Cumulative share before each client: 0, 40, 60 (-> b crosses 80 %: still A), 80 (B), 90 (B), 96 (C).
    assert abc["abc_class"].tolist() == ["A", "A", "A", "B", "B", "C", "C", "C", "unknown"]
    assert abc["share"].tolist() == pytest.approx([0.4, 0.2, 0.2, 0.1, 0.06, 0.04, 0, 0, 0])
    assert abc["cumulative_share"].tolist() == pytest.approx([0.4, 0.6, 0.8, 0.9, 0.96, 1, 1, 1, 1])
    no_b = abc_classes(PORTFOLIO, a=0.5, b=0.5)
    assert no_b["abc_class"].tolist()[:4] == ["A", "A", "C", "C"]


def test_abc_summary_shares() -> None:
    summary = abc_summary(abc_classes(PORTFOLIO))
    assert summary["abc_class"].tolist() == ["A", "B", "C", "unknown"]
    assert summary["clients"].tolist() == [3, 2, 3, 1]
    assert summary["value"].tolist() == pytest.approx([80.0, 16.0, -1.0, 0.0])
    assert summary["value_share"].tolist() == pytest.approx([0.8, 0.16, 0.04, 0.0])
    assert summary["client_share"].sum() == pytest.approx(1.0)


def test_abc_input_errors() -> None:
    with pytest.raises(ValueError, match=r"^values has duplicate client_id values: 'a'$"):
        abc_classes(pd.Series([1.0, 2.0], index=["a", "a"]))
    with pytest.raises(ValueError, match=r"^ABC cut points must satisfy 0 < a <= b <= 1, got a=0.9, b=0.8$"):
        abc_classes(PORTFOLIO, a=0.9, b=0.8)
    with pytest.raises(TypeError, match=r"^values must be a pandas Series indexed by client_id$"):
        abc_classes([1.0, 2.0])  # type: ignore[arg-type]


def test_pareto_curve_and_top_concentration() -> None:
    curve = pareto_curve(PORTFOLIO, top_n=3)
    assert curve.top_n == 3
    assert curve.top_share == pytest.approx(0.8)
    assert curve.frame["client_share"].tolist() == pytest.approx([i / 9 for i in range(1, 10)])
    assert curve.frame["value_share"].tolist() == pytest.approx([0.4, 0.6, 0.8, 0.9, 0.96, 1, 1, 1, 1])
    assert pareto_curve(pd.Series({"x": -1.0})).top_share == 0.0


money = st.floats(min_value=-1e4, max_value=1e7, allow_nan=False, allow_infinity=False)


@st.composite
def portfolios(draw: st.DrawFn) -> pd.Series:
    values = draw(st.lists(st.one_of(money, st.sampled_from([0.0, 100.0, 0.1 + 0.2, 0.3])), min_size=1, max_size=40))
    return pd.Series(values, index=[f"c{i:02d}" for i in range(len(values))])


@settings(max_examples=80, deadline=None)
@given(portfolios(), st.randoms(use_true_random=False))
def test_abc_is_invariant_to_row_order_and_shares_add_up(values: pd.Series, rnd: object) -> None:
    order = list(values.index)
    rnd.shuffle(order)  # type: ignore[attr-defined]
    first = abc_classes(values).set_index("client_id")["abc_class"]
    shuffled = abc_classes(values.loc[order]).set_index("client_id")["abc_class"]
    assert first.sort_index().equals(shuffled.sort_index())
    summary = abc_summary(abc_classes(values))
    assert summary["clients"].sum() == len(values)
    if (values.round(2) > 0).any():
        assert summary["value_share"].sum() == pytest.approx(1.0)
    # Every positive client in A sits before every positive client in B, and so on.
    ranked = abc_classes(values)
    assert ranked["abc_class"].tolist() == sorted(ranked["abc_class"], key=["A", "B", "C", "unknown"].index)


def test_value_potential_quadrants_by_hand() -> None:
    value = pd.Series({"a": 10.0, "b": 60.0, "c": 80.0, "d": np.nan})
    potential = pd.Series({"a": 90.0, "b": 20.0, "c": 70.0, "d": 5.0})
    res = value_potential_matrix(value, potential)
    # Medians: value of a, b, c = 60; potential of all four = (20 + 70) / 2 = 45.
    assert (res.x_split, res.y_split) == (60.0, 45.0)
    assert res.frame["segment"].tolist() == ["development", "maintain", "strategic", "unknown"]
    assert res.frame["value_score_high"].tolist() == [False, True, True, pd.NA]
    absolute = value_potential_matrix(value, potential, MatrixConfig(split="absolute", value_split=70.0))
    assert (absolute.x_split, absolute.y_split) == (70.0, 50.0)
    assert absolute.frame["segment"].tolist() == ["development", "operational", "strategic", "unknown"]
    assert {"strategic", "development", "maintain", "operational"} <= set(SEGMENT_LABELS)


def test_cost_to_serve_matrix_by_hand() -> None:
    price = pd.Series({"a": 0.30, "b": 0.10, "c": 0.25, "d": 0.05, "e": np.nan})
    cost = pd.Series({"a": 0.08, "b": 0.09, "c": 0.01, "d": 0.02, "e": 0.05})
    res = cost_to_serve_matrix(price, cost)
    assert res.x_split == 0.05  # median cost of a..e
    assert res.y_split == pytest.approx(0.175)  # median price of a..d
    assert res.frame["segment"].tolist() == ["carriage_trade", "aggressive", "passive", "bargain_basement", "unknown"]
    fixed = cost_to_serve_matrix(price, cost, CtsConfig(price_split=0.08, cost_split=0.085))
    assert fixed.frame["segment"].tolist() == ["passive", "carriage_trade", "passive", "bargain_basement", "unknown"]
    assert SEGMENT_LABELS["carriage_trade"] == ("Carriage trade", "Wymagający premium")


def test_cost_to_serve_inputs_from_features() -> None:
    features = pd.DataFrame(
        {
            "client_id": ["a", "b", "c"],
            "margin_pct_ttm": [0.2, np.nan, 0.1],
            "cost_to_serve_ttm": [50.0, 10.0, 5.0],
            "revenue_ttm": [1000.0, 100.0, 0.0],
        }
    )
    inputs = cost_to_serve_inputs(features)
    assert inputs.index.tolist() == ["a", "b", "c"]
    assert inputs["net_price_index"].fillna(-1).tolist() == [0.2, -1, 0.1]
    assert inputs["cost_to_serve_index"].fillna(-1).tolist() == [0.05, 0.1, -1]
    bare = cost_to_serve_inputs(pd.DataFrame({"client_id": ["a"]}))
    assert bare.isna().all().all()


def test_opportunity_zones_by_hand() -> None:
    opps = pd.DataFrame(
        {
            "opportunity_id": ["o1", "o2", "o3", "o4", "o5", "o6"],
            "client_id": ["a", "a", "b", None, "c", "c"],
            "value": [100.0, 10.0, 50.0, 70.0, 500.0, np.nan],
            "probability": [0.8, 0.9, 0.2, 0.5, 1.0, 0.5],
            "closed": [None, None, None, None, "2025-01-31", None],
            "won": [None, None, None, None, True, None],
        }
    )
    res = opportunity_zones(opps)
    # Open deals o1-o4 and o6; median open value of 100, 10, 50, 70 = 60.
    assert res.value_split == 60.0 and res.probability_split == 0.5
    assert res.deals["opportunity_id"].tolist() == ["o1", "o2", "o3", "o4", "o6"]
    assert res.deals["zone"].tolist() == ["A", "B", "C", "A", "unknown"]
    assert res.deals["weighted_value"].fillna(-1).tolist() == [80.0, 9.0, 10.0, 35.0, -1]
    clients = res.clients.set_index("client_id")
    assert clients.index.tolist() == ["a", "b", "c"]  # the prospect o4 has no client
    assert clients.loc["a", ["open_deals", "zone_a_deals", "zone_b_deals", "zone_c_deals"]].tolist() == [2, 1, 1, 0]
    assert clients.loc["a", ["pipeline_value", "weighted_value", "zone_a_value", "zone_b_value"]].tolist() == [
        110.0, 89.0, 100.0, 10.0,
    ]  # fmt: skip
    assert clients["best_zone"].tolist() == ["A", "C", "unknown"]
    strict = opportunity_zones(opps, OpportunityZonesConfig(value_split=80.0, probability_split=0.85))
    assert strict.deals["zone"].tolist() == ["B", "B", "C", "C", "unknown"]
    with pytest.raises(ValueError, match=r"^opportunities has no 'probability' column$"):
        opportunity_zones(opps.drop(columns="probability"))


def test_rfm_scores_by_hand() -> None:
    rfm = rfm_scores(
        pd.Series({"a": 10.0, "b": 100.0, "c": 300.0, "d": 5.0, "e": 100.0}),
        pd.Series({"a": 10.0, "b": 1.0, "c": 2.0, "d": 1.0, "e": 4.0}),
        pd.Series({"a": 1000.0, "b": 10.0, "c": np.nan, "d": 50.0, "e": 200.0}),
    ).set_index("client_id")
    # R: most recent best; b and e tie at 100 days and client_id decides (b first = worse).
    assert rfm["r"].tolist() == [4, 2, 1, 5, 3]
    # F: b and d tie at 1 order a year; b first.
    assert rfm["f"].tolist() == [5, 1, 3, 2, 4]
    # M over the four clients that have it: positions 0..3 -> 1, 2, 3, 4.
    assert rfm["m"].tolist() == [4, 1, pd.NA, 2, 3]
    assert rfm["rfm"].tolist() == ["454", "211", "13-", "522", "343"]
    assert rfm["segment"].tolist() == ["loyal", "hibernating", "at_risk", "potential_loyalists", "loyal"]


def test_rfm_with_three_bins_maps_onto_the_five_point_grid() -> None:
    rfm = rfm_scores(
        pd.Series({"x": 1.0, "y": 2.0, "z": 3.0, "w": np.nan}),
        pd.Series({"x": 3.0, "y": 2.0, "z": 1.0, "w": 1.0}),
        pd.Series({"x": 1.0, "y": 1.0, "z": 1.0, "w": 1.0}),
        bins=3,
    ).set_index("client_id")
    # R (3 bins) x 3, 2, 1 -> 5-point 5, 4, 2; F 3, 2, 1 -> 5, 4, 2 (w has no recency: unknown).
    assert rfm["segment"].tolist() == ["champions", "loyal", "hibernating", "unknown"]
    with pytest.raises(ValueError, match=r"^bins must be between 2 and 9, got 12$"):
        rfm_scores(pd.Series({"x": 1.0}), pd.Series({"x": 1.0}), pd.Series({"x": 1.0}), bins=12)


def test_rfm_grid_covers_every_cell_with_a_labelled_segment() -> None:
    assert set(RFM_SEGMENTS) == {(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert RFM_SEGMENTS[1, 1] == "lost" and RFM_SEGMENTS[5, 5] == "champions" and RFM_SEGMENTS[1, 5] == "cannot_lose"
    assert set(RFM_SEGMENTS.values()) <= set(SEGMENT_LABELS)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 5), money), min_size=1, max_size=40))
def test_rfm_groups_are_equal_sized_even_with_ties(rows: list[tuple[int, int, float]]) -> None:
    idx = [f"c{i:02d}" for i in range(len(rows))]
    rfm = rfm_scores(
        pd.Series([float(r[0]) for r in rows], index=idx),
        pd.Series([float(r[1]) for r in rows], index=idx),
        pd.Series([r[2] for r in rows], index=idx),
    )
    counts = rfm["r"].value_counts()
    assert counts.max() - counts.min() <= 1
    assert len(rfm) == len(rows)


def test_group_summary_by_hand() -> None:
    frame = pd.DataFrame(
        {
            "client_id": ["a", "b", "c", "d"],
            "industry": ["x", None, "x", "y"],
            "segment": ["s", "t", "s", "s"],
            "revenue_ttm": [1.0, 2.0, 3.0, 4.0],
            "margin_ttm": [np.nan, np.nan, 1.0, 2.0],
        }
    )
    out = group_summary(frame, ["industry", "segment"], ["revenue_ttm", "margin_ttm"])
    assert out["industry"].tolist() == ["unknown", "x", "y"]
    assert out["segment"].tolist() == ["t", "s", "s"]
    assert out["clients"].tolist() == [1, 2, 1]
    assert out["client_share"].tolist() == [0.25, 0.5, 0.25]
    assert out["revenue_ttm"].tolist() == [2.0, 4.0, 4.0]
    assert out["revenue_ttm_share"].tolist() == [0.2, 0.4, 0.4]
    assert out["margin_ttm"].fillna(-1).tolist() == [-1, 1.0, 2.0]
    assert out["margin_ttm_share"].fillna(-1).tolist() == pytest.approx([-1, 1 / 3, 2 / 3])
    with pytest.raises(ValueError, match=r"^group_summary: the frame has no column 'region', 'headroom'$"):
        group_summary(frame, "region", ["headroom"])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["n", "s", None]), st.sampled_from(["strategic", "maintain"]), money),
        min_size=1,
        max_size=40,
    )
)
def test_segment_counts_add_up_to_the_client_count(rows: list[tuple[str | None, str, float]]) -> None:
    frame = pd.DataFrame(rows, columns=["region", "segment", "revenue_ttm"])
    out = group_summary(frame, ["segment", "region"], ["revenue_ttm"])
    assert out["clients"].sum() == len(rows)
    assert out["revenue_ttm"].sum() == pytest.approx(frame["revenue_ttm"].sum(), rel=1e-9, abs=1e-6)
    quadrants = value_potential_matrix(
        pd.Series(frame["revenue_ttm"].to_numpy(), index=[f"c{i}" for i in range(len(rows))]),
        pd.Series(frame["revenue_ttm"].to_numpy()[::-1], index=[f"c{i}" for i in range(len(rows))]),
    )
    assert quadrants.frame["segment"].value_counts().sum() == len(rows)
