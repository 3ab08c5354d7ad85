"""Revenue at risk: which clients could cost the most revenue, ranked in money.

Method: ``expected_loss = base_revenue x risk_factor`` per client, ranked by expected loss (largest first).

* ``base_revenue``: the revenue that can be lost in the next year: by default ``revenue_ttm`` (the last 12
  months); pass the last 6 months annualised (x 2) as ``base_revenue`` where available, which reacts faster.
  Negative or missing revenue counts as 0.
* ``risk_factor``: the churn model's probability where one is given (``basis = "model"``); otherwise a
  rule-based factor from the early-warning signals that fired (``basis = "signals"``), combined as independent
  risks: ``1 - (1 - base_factor) x product over fired signals of (1 - factor_signal)``. Defaults
  (``[analysis.risk]``): base 0.10; falling revenue 0.20, order gap 0.20, inactivity 0.30, lost categories 0.10,
  margin erosion 0.05. A client with no signal keeps the base factor, one with all five reaches 0.66.
* ``risk_level`` says how likely (``high`` at a factor of 0.45 or more, ``medium`` from 0.25, else ``low``);
  ``expected_loss`` says how much, and the list is ordered by how much.

Evidence for ranking by money (``/work/shared/notes/churn-baselines.md``: cut-off 6 months before the end of the
data, loss = fall in 6-month revenue): the 10 % of clients ranked riskiest by base revenue alone held 35.9 % (UCI
Online Retail) and 67.6 % (Superstore) of all lost revenue; recency, own-rhythm recency and revenue trend held
0-6 %, a gradient-boosting churn classifier 1.7 % and 7.2 %; own-rhythm recency x base revenue 30.4 % and
54.5 %. Most lost revenue comes from large clients buying less, not from clients leaving. So size stays the
dominant term here (the signal factor spans at most 6.6x), and the signal factors are priors, not estimates:
they order clients of similar size. Where a churn model beats the size ranking on a held-out cut-off, pass its
probabilities instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesfolio.analytics.config import AnalysisConfig, RiskConfig
from salesfolio.analytics.scoring import CLIENT_ID, check_features, column_values, labels
from salesfolio.analytics.segments import money_order
from salesfolio.analytics.signals import RULES, SignalResult


def rule_risk_factor(signals: SignalResult, config: RiskConfig | None = None) -> pd.Series:
    """The rule-based risk factor per client (indexed by client_id) from the signals that fired.

    ``1 - (1 - base_factor) x prod(1 - factor_s for each fired signal s)``: each fired signal independently puts
    its share of the remaining revenue at risk, so the factor stays below 1 however many fire.
    """
    cfg = config or RiskConfig()
    wide = signals.wide
    keep = np.full(len(wide), 1.0 - cfg.base_factor)
    for signal in RULES:
        column = f"signal_{signal}"
        if column in wide.columns:
            fired = wide[column].to_numpy(dtype=bool)
            keep *= np.where(fired, 1.0 - getattr(cfg.signal_factors, signal), 1.0)
    return pd.Series(1.0 - keep, index=pd.Index(wide[CLIENT_ID], name=CLIENT_ID), name="risk_factor")


def revenue_at_risk(
    features: pd.DataFrame,
    signals: SignalResult,
    churn_probability: pd.Series | None = None,
    *,
    config: AnalysisConfig | RiskConfig | None = None,
    base_revenue: pd.Series | None = None,
) -> pd.DataFrame:
    """Expected revenue loss per client, ranked in money (see the module docstring for method and evidence).

    Parameters
    ----------
    features
        The per-client feature frame (``revenue_ttm`` is the default base).
    signals
        :func:`salesfolio.analytics.signals.early_warnings` for the same clients.
    churn_probability
        A churn model's probability per client (indexed by client_id); where present it replaces the
        rule-based factor.
    config
        The analysis configuration (its ``risk`` section) or a :class:`RiskConfig`; defaults when omitted.
    base_revenue
        Revenue that can be lost, per client (e.g. the last 6 months x 2); ``revenue_ttm`` when omitted.

    Returns
    -------
    pandas.DataFrame
        ``rank, client_id, base_revenue, risk_factor, basis, expected_loss, loss_share, cumulative_loss_share,
        risk_level, n_signals, signals_en, signals_pl``, sorted by expected loss (rounded to cents, then
        client_id).
    """
    check_features(features)
    cfg = config.risk if isinstance(config, AnalysisConfig) else (config or RiskConfig())
    ids = pd.Index(features[CLIENT_ID])
    if base_revenue is not None:
        base = pd.to_numeric(base_revenue.reindex(ids), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    else:
        base = column_values(features, "revenue_ttm")
    base = np.clip(np.nan_to_num(base, nan=0.0), 0.0, None)

    wide = signals.wide.set_index(CLIENT_ID).reindex(ids)
    rule_factor = rule_risk_factor(signals, cfg).reindex(ids).to_numpy(dtype="float64")
    rule_factor = np.where(np.isnan(rule_factor), cfg.base_factor, rule_factor)
    if churn_probability is not None:
        prob = pd.to_numeric(churn_probability.reindex(ids), errors="coerce").to_numpy(dtype="float64")
        from_model = ~np.isnan(prob)
        factor = np.where(from_model, np.clip(np.nan_to_num(prob), 0.0, 1.0), rule_factor)
    else:
        from_model = np.zeros(len(ids), dtype=bool)
        factor = rule_factor
    loss = base * factor
    total = loss.sum()
    out = pd.DataFrame(
        {
            CLIENT_ID: features[CLIENT_ID].array,
            "base_revenue": base,
            "risk_factor": factor,
            "basis": labels([from_model], ["model"], "signals"),
            "expected_loss": loss,
            "risk_level": labels([factor >= cfg.high_level, factor >= cfg.medium_level], ["high", "medium"], "low"),
            "n_signals": wide["n_signals"].fillna(0).to_numpy(dtype="int64"),
            "signals_en": wide["summary_en"].fillna("").to_numpy(dtype=object),
            "signals_pl": wide["summary_pl"].fillna("").to_numpy(dtype=object),
        }
    )
    out = out.take(money_order(loss, features[CLIENT_ID].array)).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out.insert(
        out.columns.get_loc("expected_loss") + 1,
        "loss_share",
        out["expected_loss"] / total if total > 0 else 0.0,
    )
    out.insert(
        out.columns.get_loc("loss_share") + 1,
        "cumulative_loss_share",
        out["expected_loss"].cumsum() / total if total > 0 else 0.0,
    )
    return out
