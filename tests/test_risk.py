"""Revenue at risk: ranked in money, rule-based factors, a churn model's probabilities where given."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesfolio.analytics.config import AnalysisConfig, RiskConfig
from salesfolio.analytics.risk import revenue_at_risk, rule_risk_factor
from salesfolio.analytics.signals import early_warnings


@pytest.fixture
def features() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": ["small", "big", "mid", "gone"],
            "revenue_ttm": [100_000.0, 1_000_000.0, 300_000.0, 0.0],
            "revenue_prior_ttm": [200_000.0, 1_000_000.0, 300_000.0, 50_000.0],
            "growth": [-0.5, 0.0, 0.0, -1.0 + 1e-3],  # gone: a year with almost nothing
            "trend_slope": [-0.01, 0.0, 0.0, 0.0],
            "recency_days": [200.0, 10.0, 20.0, 400.0],
            "order_gap_ratio": [4.0, 0.5, 0.5, np.nan],
            "orders_total": [10, 50, 20, 2],
            "median_gap_days": [50.0, 20.0, 40.0, np.nan],
            "lost_categories": [0, 0, 1, 0],
        }
    )


def test_rule_factor_combines_signals_as_independent_risks(features: pd.DataFrame) -> None:
    signals = early_warnings(features, AnalysisConfig())
    factor = rule_risk_factor(signals)
    # small: falling revenue, order gap, inactivity -> 1 - 0.9 x 0.8 x 0.8 x 0.7; big: base 0.10;
    # mid: lost categories -> 1 - 0.9 x 0.9; gone: falling revenue and inactivity -> 1 - 0.9 x 0.8 x 0.7.
    assert factor.to_dict() == pytest.approx({"small": 0.5968, "big": 0.10, "mid": 0.19, "gone": 0.496})


def test_ranked_by_expected_loss_in_money_not_by_probability(features: pd.DataFrame) -> None:
    signals = early_warnings(features, AnalysisConfig())
    out = revenue_at_risk(features, signals)
    # The large client with no signal (1,000,000 x 0.10) outranks the small one with three (100,000 x 0.5968).
    assert out["client_id"].tolist() == ["big", "small", "mid", "gone"]
    assert out["rank"].tolist() == [1, 2, 3, 4]
    assert out["expected_loss"].tolist() == pytest.approx([100_000.0, 59_680.0, 57_000.0, 0.0])
    assert out["risk_level"].tolist() == ["low", "high", "low", "high"]
    assert out["basis"].tolist() == ["signals"] * 4
    assert out["n_signals"].tolist() == [0, 3, 1, 2]
    total = 216_680.0
    assert out["loss_share"].tolist() == pytest.approx([100_000 / total, 59_680 / total, 57_000 / total, 0.0])
    assert out["cumulative_loss_share"].iloc[-1] == pytest.approx(1.0)
    assert out["signals_en"].iloc[2] == "Stopped buying 1 product category bought in the prior 12 months"
    assert out["signals_pl"].iloc[0] == ""
    assert list(out.columns) == [
        "rank", "client_id", "base_revenue", "risk_factor", "basis", "expected_loss", "loss_share",
        "cumulative_loss_share", "risk_level", "n_signals", "signals_en", "signals_pl",
    ]  # fmt: skip


def test_model_probability_replaces_the_rules_where_given(features: pd.DataFrame) -> None:
    signals = early_warnings(features, AnalysisConfig())
    prob = pd.Series({"small": 0.05, "big": 0.02})
    out = revenue_at_risk(features, signals, prob).set_index("client_id")
    assert out.index.tolist() == ["mid", "big", "small", "gone"]
    assert out["basis"].tolist() == ["signals", "model", "model", "signals"]
    assert out.loc["big", "expected_loss"] == pytest.approx(20_000.0)
    assert out.loc["small", "risk_level"] == "low"


def test_base_revenue_and_configuration(features: pd.DataFrame) -> None:
    signals = early_warnings(features, AnalysisConfig())
    # The last six months annualised: mid is now the largest base.
    base = pd.Series({"small": 50_000.0, "big": 400_000.0, "mid": 900_000.0, "gone": -10.0})
    out = revenue_at_risk(features, signals, base_revenue=base, config=RiskConfig(base_factor=0.0))
    assert out["client_id"].tolist() == ["mid", "small", "big", "gone"]
    assert out["expected_loss"].tolist() == pytest.approx([900_000 * 0.1, 50_000 * (1 - 0.8 * 0.8 * 0.7), 0.0, 0.0])
    assert out["base_revenue"].tolist()[-1] == 0.0  # negative base counts as nothing to lose


def test_equal_losses_are_ordered_by_client_id() -> None:
    frame = pd.DataFrame({"client_id": ["b", "c", "a"], "revenue_ttm": [100.0, 100.0 + 1e-12, 100.0]})
    out = revenue_at_risk(frame, early_warnings(frame, AnalysisConfig()))
    assert out["client_id"].tolist() == ["a", "b", "c"]
