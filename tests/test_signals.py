"""Early-warning signals: each rule at its threshold, messages in English and Polish, the combined result."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesfolio.analytics.config import AnalysisConfig, SignalsConfig
from salesfolio.analytics.signals import (
    RULES,
    SIGNAL_LABELS,
    early_warnings,
    falling_revenue,
    inactivity,
    lost_categories,
    margin_erosion,
    order_gap,
)

NAN = np.nan


@pytest.fixture
def features() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": ["a", "b", "c", "d"],
            # a: 80 on 100 = -20 % (-0.19999999999999996 in floating point); b: trend -3 % a month = -36 % a year.
            "growth": [80 / 100 - 1, 0.1, -0.19, NAN],
            "trend_slope": [0.0, -0.03, NAN, -0.01],
            # b sits exactly on the 2.0 ratio; c has too few orders; d is just below.
            "order_gap_ratio": [2.5, 2.0, 3.0, 1.99],
            "orders_total": [5, 3, 2, 10],
            "median_gap_days": [30.0, 90.0, NAN, 50.0],
            "recency_days": [75.0, 180.0, 400.0, 500.0],
            # b: 0.30 - 0.25 = 0.04999999999999999, i.e. 5 pp within rounding.
            "margin_pct_prior_ttm": [0.24, 0.30, NAN, 0.30],
            "margin_pct_ttm": [0.178, 0.25, NAN, 0.251],
            "margin_erosion": [0.24 - 0.178, 0.30 - 0.25, NAN, 0.30 - 0.251],
            "lost_categories": [2, 1, 13, 0],
            "revenue_ttm": [80.0, 110.0, 0.0, 0.0],
            "revenue_prior_ttm": [100.0, 100.0, 50.0, 0.0],
        }
    )


CFG = SignalsConfig()


def test_falling_revenue(features: pd.DataFrame) -> None:
    out = falling_revenue(features, CFG)
    assert out["fired"].tolist() == [True, True, False, False]
    assert out["value"].tolist() == pytest.approx([-0.2, -0.36, -0.19, -0.12])
    assert out["threshold"].tolist() == [-0.2] * 4
    assert out["message_en"].tolist()[:2] == [
        "Revenue down 20 % on the prior 12 months",
        "Monthly revenue trend falling 36 % of an average month per year",
    ]
    assert out["message_pl"].tolist()[:2] == [
        "Przychód niższy o 20 % niż w poprzednich 12 miesiącach",
        "Trend miesięcznego przychodu spada o 36 % średniego miesiąca rocznie",
    ]
    assert out["message_en"].isna().tolist() == [False, False, True, True]


def test_order_gap(features: pd.DataFrame) -> None:
    out = order_gap(features, CFG)
    assert out["fired"].tolist() == [True, True, False, False]
    assert out["value"].tolist() == [2.5, 2.0, 3.0, 1.99]
    assert out["message_en"].tolist()[:2] == [
        "No order for 75 days, 2.5x the usual 30 days between orders",
        "No order for 180 days, 2.0x the usual 90 days between orders",
    ]
    assert out["message_pl"].tolist()[0] == "Brak zamówienia od 75 dni, 2,5x dłużej niż zwykły odstęp 30 dni"
    # Without orders_total the rhythm exists where a median gap exists (the spec leaves it empty below 3 orders).
    assert order_gap(features.drop(columns="orders_total"), CFG)["fired"].tolist() == [True, True, False, False]
    looser = order_gap(features, SignalsConfig(min_orders=2, order_gap_ratio=2.6))
    assert looser["fired"].tolist() == [False, False, True, False]


def test_margin_erosion(features: pd.DataFrame) -> None:
    out = margin_erosion(features, CFG)
    assert out["fired"].tolist() == [True, True, False, False]
    assert out["value"].fillna(-1).tolist() == pytest.approx([6.2, 5.0, -1, 4.9])
    assert out["threshold"].tolist() == [5.0] * 4
    assert out["message_en"].tolist()[:2] == [
        "Margin down 6.2 pp (from 24.0 % to 17.8 %)",
        "Margin down 5.0 pp (from 30.0 % to 25.0 %)",
    ]
    assert out["message_pl"].tolist()[0] == "Marża niższa o 6,2 p.p. (z 24,0 % do 17,8 %)"


def test_lost_categories_with_polish_plurals() -> None:
    counts = [1, 2, 5, 12, 22, 0]
    frame = pd.DataFrame({"client_id": [f"c{n}" for n in counts], "lost_categories": counts})
    out = lost_categories(frame, CFG)
    assert out["fired"].tolist() == [True, True, True, True, True, False]
    assert out["message_en"].tolist()[:2] == [
        "Stopped buying 1 product category bought in the prior 12 months",
        "Stopped buying 2 product categories bought in the prior 12 months",
    ]
    nouns = [m.split(" ")[3] for m in out["message_pl"].tolist()[:5]]
    assert nouns == ["kategorię", "kategorie", "kategorii", "kategorii", "kategorie"]
    assert out["message_pl"].tolist()[0] == (
        "Przestał kupować 1 kategorię produktów kupowanych w poprzednich 12 miesiącach"
    )
    assert lost_categories(frame, SignalsConfig(lost_categories=3))["fired"].tolist() == [
        False, False, True, True, True, False,
    ]  # fmt: skip


def test_inactivity_only_for_recently_active_clients(features: pd.DataFrame) -> None:
    out = inactivity(features, CFG)
    # d has not bought for 500 days and had no revenue in 24 months: lost long ago, not an alert.
    assert out["fired"].tolist() == [False, True, True, False]
    assert out["message_en"].tolist()[1:3] == ["No purchase for 180 days", "No purchase for 400 days"]
    assert out["message_pl"].tolist()[2] == "Brak zakupu od 400 dni"


def test_early_warnings_long_and_wide(features: pd.DataFrame) -> None:
    res = early_warnings(features, AnalysisConfig())
    long = res.long
    assert list(long.columns) == ["client_id", "signal", "value", "threshold", "message_en", "message_pl"]
    assert list(zip(long["signal"], long["client_id"], strict=True)) == [
        ("falling_revenue", "a"), ("falling_revenue", "b"),
        ("order_gap", "a"), ("order_gap", "b"),
        ("margin_erosion", "a"), ("margin_erosion", "b"),
        ("lost_categories", "a"), ("lost_categories", "b"), ("lost_categories", "c"),
        ("inactivity", "b"), ("inactivity", "c"),
    ]  # fmt: skip
    assert long["threshold"].tolist() == [-0.2, -0.2, 2.0, 2.0, 5.0, 5.0, 1.0, 1.0, 1.0, 180.0, 180.0]
    wide = res.wide
    assert wide["n_signals"].tolist() == [4, 5, 2, 0]
    assert wide["signal_inactivity"].tolist() == [False, True, True, False]
    assert [f"signal_{s}" for s in RULES] == [c for c in wide.columns if c.startswith("signal_")]
    assert wide["summary_en"].tolist()[0] == (
        "Revenue down 20 % on the prior 12 months; No order for 75 days, 2.5x the usual 30 days between orders; "
        "Margin down 6.2 pp (from 24.0 % to 17.8 %); "
        "Stopped buying 2 product categories bought in the prior 12 months"
    )
    assert wide["summary_pl"].tolist()[2] == (
        "Przestał kupować 13 kategorii produktów kupowanych w poprzednich 12 miesiącach; Brak zakupu od 400 dni"
    )
    assert wide["summary_en"].tolist()[3] == ""
    assert res.n_signals.to_dict() == {"a": 4, "b": 5, "c": 2, "d": 0}
    assert res.warnings == []


def test_missing_inputs_are_reported_not_fatal() -> None:
    frame = pd.DataFrame({"client_id": ["a", "b"], "recency_days": [200.0, 10.0], "revenue_ttm": [5.0, 5.0]})
    res = early_warnings(frame, SignalsConfig())
    assert res.warnings == [
        "falling_revenue not evaluated: no client has growth or trend data (under 12 months of history)",
        "order_gap not evaluated: no client has an order rhythm (3 or more orders)",
        "margin_erosion not evaluated: no client has margin in both years (invoice lines have no cost)",
        "lost_categories not evaluated: no client has product categories (products have no category)",
    ]
    assert res.long["signal"].tolist() == ["inactivity"]
    assert res.wide["summary_en"].tolist() == ["No purchase for 200 days", ""]


def test_empty_frame_and_labels() -> None:
    empty = pd.DataFrame({"client_id": pd.Series([], dtype="str"), "recency_days": pd.Series([], dtype="float64")})
    res = early_warnings(empty, SignalsConfig())
    assert len(res.long) == 0 and len(res.wide) == 0
    assert list(SIGNAL_LABELS) == list(RULES)
    assert SIGNAL_LABELS["margin_erosion"] == ("Margin erosion", "Spadek marży")
