"""The whole portfolio analysis of one reference date, composed from the analytics modules.

:func:`analyse_portfolio` is pure: canonical Ibis tables and a configuration in, data frames out. It runs, in
order: client features (in the engine), early-warning signals, whitespace, the churn model (with its time-split
backtest), revenue at risk, the multi-criteria score, the segmentations (value x potential, ABC on revenue and
margin, cost-to-serve x net price, RFM, opportunity zones), and the BG/NBD + Gamma-Gamma purchase forecast (with a
holdout backtest). Every step that lacks data drops out with a warning instead of failing.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings as pywarnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from salesfolio.analytics import segments as seg
from salesfolio.analytics.config import AnalysisConfig
from salesfolio.analytics.features import category_revenue_expr, client_features, invoice_aggregates
from salesfolio.analytics.risk import revenue_at_risk
from salesfolio.analytics.scoring import portfolio_axes, score_clients
from salesfolio.analytics.signals import early_warnings
from salesfolio.analytics.whitespace import whitespace

CLIENT_ID = "client_id"
DAYS_PER_MONTH = 365.25 / 12


@dataclass
class PortfolioAnalysis:
    """The result of :func:`analyse_portfolio`.

    Attributes
    ----------
    as_of
        The reference date.
    clients
        One row per client: attributes, features, ``score``, ``band``, ``contrib_<criterion>``, segments
        (``segment``, ``abc_revenue``, ``abc_margin``, ``cts_segment``, ``rfm_segment``), signals (``n_signals``,
        ``signals_summary``), risk (``expected_loss``, ``risk_level``), whitespace (``whitespace_value``),
        churn (``churn_probability``) and forecast (``p_alive``, ``expected_purchases``, ``expected_revenue``).
    summary
        Portfolio KPIs, segment tables and the Pareto curve (JSON-ready).
    details
        Per-client lists for the client page: ``signals``, ``whitespace``, ``churn_reasons``, keyed by client_id.
    models
        Backtest reports of the forecast and churn models (JSON-ready).
    warnings
        Every data gap met, in plain words.
    weights_used
        Criteria weights (percent) that entered the score.
    """

    as_of: dt.date
    clients: pd.DataFrame
    summary: dict[str, Any]
    details: dict[str, dict[str, Any]]
    models: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    weights_used: dict[str, float] = field(default_factory=dict)


def analyse_portfolio(
    tables: Mapping[str, ir.Table], as_of: dt.date, config: AnalysisConfig | None = None, *, models: bool = True
) -> PortfolioAnalysis:
    """Run the whole analysis for ``as_of`` (see the module docstring for the steps).

    Parameters
    ----------
    tables
        Ibis tables of the canonical tables (``Warehouse.table(name)`` for each); empty ones are fine.
    as_of
        Reference date: features use data up to and including it.
    config
        The workspace's analysis configuration (defaults when omitted).
    models
        Fit the churn and purchase-forecast models (skip for a quick preview of weights and thresholds).
    """
    cfg = config or AnalysisConfig()
    warnings: list[str] = []
    feats = client_features(tables, as_of)
    features = feats.frame
    warnings.extend(feats.warnings)
    if features.empty:
        raise ValueError("no clients: import clients or invoice lines before analysing")
    ids = pd.Index(features[CLIENT_ID])

    signals = early_warnings(features, cfg)
    warnings.extend(signals.warnings)

    products = tables["products"]
    lines = tables["invoice_lines"]
    start = as_of - dt.timedelta(days=365)
    category_revenue = category_revenue_expr(lines, products, start, as_of).execute()
    space = whitespace(category_revenue, features, cfg)
    warnings.extend(space.warnings)

    fitted = _models(tables, as_of, cfg, warnings) if models else _ModelResults()
    churn_probability, model_reports = fitted.churn_probability, fitted.reports
    risk = revenue_at_risk(features, signals, churn_probability, config=cfg).set_index(CLIENT_ID).reindex(ids)

    extra = {"n_signals": signals.n_signals, "whitespace_value": space.whitespace_value}
    if churn_probability is not None:
        extra["churn_probability"] = churn_probability
    scores = score_clients(features, cfg, extra)
    warnings.extend(scores.warnings)
    axes = portfolio_axes(scores, cfg).set_index(CLIENT_ID)
    matrix = seg.value_potential_matrix(axes["value_score"], axes["potential_score"], cfg.matrix)

    revenue = features.set_index(CLIENT_ID)["revenue_ttm"]
    margin = features.set_index(CLIENT_ID)["margin_ttm"]
    abc_rev = seg.abc_classes(revenue, cfg.abc.a, cfg.abc.b).set_index(CLIENT_ID)
    abc_mar = seg.abc_classes(margin, cfg.abc.a, cfg.abc.b).set_index(CLIENT_ID)
    cts_in = seg.cost_to_serve_inputs(features)
    cts = seg.cost_to_serve_matrix(cts_in["net_price_index"], cts_in["cost_to_serve_index"], cfg.cost_to_serve)
    f_idx = features.set_index(CLIENT_ID)
    rfm = seg.rfm_scores(f_idx["recency_days"], f_idx["orders_ttm"], f_idx["revenue_ttm"], cfg.rfm.bins)

    clients = features.copy()
    clients = clients.merge(scores.frame, on=CLIENT_ID, how="left")
    clients = clients.merge(
        matrix.frame[[CLIENT_ID, "value_score", "potential_score", "segment"]], on=CLIENT_ID, how="left"
    )
    clients["abc_revenue"] = abc_rev["abc_class"].reindex(ids).to_numpy()
    clients["abc_margin"] = abc_mar["abc_class"].reindex(ids).to_numpy()
    clients["cts_segment"] = cts.frame.set_index(CLIENT_ID)["segment"].reindex(ids).to_numpy()
    rfm_idx = rfm.set_index(CLIENT_ID)
    clients["rfm_score"] = rfm_idx["rfm"].reindex(ids).to_numpy()
    clients["rfm_segment"] = rfm_idx["segment"].reindex(ids).to_numpy()
    wide = signals.wide.set_index(CLIENT_ID).reindex(ids)
    clients["n_signals"] = wide["n_signals"].fillna(0).astype("int64").to_numpy()
    clients["signals_summary"] = wide["summary_en"].fillna("").to_numpy()
    clients["expected_loss"] = risk["expected_loss"].to_numpy()
    clients["risk_level"] = risk["risk_level"].to_numpy()
    clients["whitespace_value"] = space.whitespace_value.reindex(ids).to_numpy()
    clients["churn_probability"] = (
        churn_probability.reindex(ids).to_numpy() if churn_probability is not None else np.nan
    )

    if models:
        if fitted.forecast is not None:
            fc = fitted.forecast.set_index(CLIENT_ID).reindex(ids)
            for col in ("p_alive", "expected_purchases", "expected_revenue"):
                clients[col] = fc[col].to_numpy() if col in fc.columns else np.nan
            clients["expected_growth"] = (
                clients["expected_revenue"] / (cfg.forecast_horizon_months / 12.0) - (clients["revenue_ttm"])
            )
        else:
            warnings.append(f"purchase forecast: {model_reports['forecast'].get('message')}")

    opp = tables["opportunities"].execute()
    zones = seg.opportunity_zones(opp, cfg.opportunity_zones)
    details = _details(ids, scores.frame, signals.long, space.long, fitted.churn_reasons)
    summary = _summary(clients, features, matrix, cts, zones, cfg)
    summary["weights_used"] = scores.weights_used
    summary["dropped_criteria"] = scores.dropped
    return PortfolioAnalysis(
        as_of=as_of,
        clients=clients,
        summary=summary,
        details=details,
        models=model_reports,
        warnings=_unique(warnings),
        weights_used=scores.weights_used,
    )


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def _invoice_table(tables: Mapping[str, ir.Table], as_of: dt.date) -> ir.Table | None:
    """The lines up to ``as_of`` grouped into invoices, materialised; None on a backend without temporary tables."""
    from salesfolio.analytics.churn import tables_as_of

    try:
        return invoice_aggregates(tables_as_of(tables, as_of)["invoice_lines"], as_of).cache()
    except Exception:  # each model then reads the lines itself
        return None


@dataclass
class _ModelResults:
    """What the models give the analysis: churn probabilities and reasons, the forecast frame, the reports."""

    churn_probability: pd.Series | None = None
    churn_reasons: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    forecast: pd.DataFrame | None = None
    reports: dict[str, Any] = field(default_factory=dict)


def _models(tables: Mapping[str, ir.Table], as_of: dt.date, cfg: AnalysisConfig, warnings: list[str]) -> _ModelResults:
    """The churn model and the purchase forecast.

    Both read the lines at several dates (the churn model's cut-offs, the forecast and its holdout); grouping the
    lines into invoices is the costliest step of each, so it is done once here (a temporary table in the engine)
    and both read the invoices instead of the lines.
    """
    invoices = _invoice_table(tables, as_of)
    try:
        return _fit_models(tables, invoices, as_of, cfg, warnings)
    finally:
        if invoices is not None:
            invoices.release()


def _fit_models(
    tables: Mapping[str, ir.Table], invoices: ir.Table | None, as_of: dt.date, cfg: AnalysisConfig, warnings: list[str]
) -> _ModelResults:
    churn_probability, churn_reasons, report = _churn(tables, invoices, as_of, cfg)
    if report.get("status") != "ok":
        warnings.append(f"churn model not available: {report.get('message')}")
    elif not report.get("show_model", False):
        warnings.append(f"churn model not used for revenue at risk: {report.get('recommendation')}")
    # The forecast needs the revenue per client and day, which the invoices hold as the lines do (same sums).
    forecast, forecast_report = _forecast(invoices if invoices is not None else tables["invoice_lines"], as_of, cfg)
    return _ModelResults(churn_probability, churn_reasons, forecast, {"churn": report, "forecast": forecast_report})


def _churn(
    tables: Mapping[str, ir.Table], invoices: ir.Table | None, as_of: dt.date, cfg: AnalysisConfig
) -> tuple[pd.Series | None, dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Churn probability per client with its backtest; None where the model does not beat the baselines.

    The backtest decides: the model's probabilities are used (for the score and revenue at risk) only when it
    beats recency and size on held-out cut-offs (``show_model``); otherwise the report says why.
    """
    from salesfolio.analytics.churn_backtest import churn_report

    # The model needs the features at four earlier cut-offs (and at as_of when it is shown), each from ``invoices``.
    # A model the backtest does not recommend is not used below, so it is not trained and scored either.
    feature_fn = partial(client_features, invoices=invoices)
    backtest, prediction = churn_report(tables, as_of, feature_fn, cfg, only_if_shown=True)
    report: dict[str, Any] = backtest.to_dict()
    if prediction.status != "ok" or prediction.frame.empty or not report.get("show_model", False):
        report.setdefault("message", prediction.message)
        return None, {}, report
    probability = prediction.frame.set_index(CLIENT_ID)["churn_probability"]
    reasons: dict[str, list[dict[str, Any]]] = {}
    if not prediction.reasons.empty:
        columns = [c for c in prediction.reasons.columns if c != CLIENT_ID]
        holder: dict[str, dict[str, Any]] = {str(c): {"churn_reasons": []} for c in probability.index}
        _distribute(holder, "churn_reasons", prediction.reasons, columns, None)
        reasons = {cid: d["churn_reasons"] for cid, d in holder.items()}
    return probability, reasons, report


def _forecast(lines: ir.Table, as_of: dt.date, cfg: AnalysisConfig) -> tuple[pd.DataFrame | None, dict[str, Any]]:
    """BG/NBD + Gamma-Gamma forecast for the configured horizon, with a holdout backtest of the last year."""
    from salesfolio.analytics.clv import BetaGeoModel, GammaGammaModel
    from salesfolio.analytics.clv.backtest import forecast_backtest, forecast_clients
    from salesfolio.analytics.clv.summary import rfm_summary_expr

    horizon_days = cfg.forecast_horizon_months * DAYS_PER_MONTH
    summary = rfm_summary_expr(lines, observation_end=as_of).execute()
    if len(summary) < 20 or float(summary["frequency"].sum()) < 20:
        return None, {"status": "insufficient_data", "message": "fewer than 20 clients with repeat purchases"}
    with pywarnings.catch_warnings():
        pywarnings.simplefilter("ignore")
        bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
        repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
        gg = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"]) if len(repeat) >= 10 else None
    forecast = forecast_clients(summary, bg, gg, horizon_days)
    report: dict[str, Any] = {
        "status": "ok" if bg.converged_ else "poor_fit",
        "message": "" if bg.converged_ else bg.fit_message_,
        "horizon_months": cfg.forecast_horizon_months,
        "beta_geo": {k: float(v) for k, v in bg.params_.items()},
        "gamma_gamma": {k: float(v) for k, v in gg.params_.items()} if gg is not None else None,
        "n_clients": len(summary),
    }
    first = summary["T"].max()
    holdout_days = 365 if first and first > 2 * 365 else 180
    cutoff = as_of - dt.timedelta(days=holdout_days)
    try:
        with pywarnings.catch_warnings():
            pywarnings.simplefilter("ignore")
            bt = forecast_backtest(lines, cutoff=cutoff, horizon_days=holdout_days)
        report["backtest"] = bt.to_dict(include_clients=False)
    except ValueError as exc:
        report["backtest"] = {"status": "insufficient_data", "message": str(exc)}
    return forecast, report


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({str(k): _plain(v) for k, v in row.items()})
    return out


def _plain(value: Any) -> Any:
    """A JSON-ready Python value (NaN -> None, NumPy scalars -> Python, dates -> ISO strings)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, pd.Timestamp | dt.date):
        return value.isoformat()[:10]
    return value


def plain_values(column: pd.Series) -> list[Any]:
    """:func:`_plain` of every value of ``column``, column-wise: the same values, without a Python call per number.

    Float, integer and bool columns of NumPy dtypes are converted in one go (non-finite floats -> None); other
    columns (strings, dates, nullable dtypes) go through :func:`_plain` value by value.
    """
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        numbers = column.to_numpy(dtype="float64")
        boxed = numbers.astype(object)
        boxed[~np.isfinite(numbers)] = None
        return list(boxed.tolist())
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return list(column.tolist())
    return [_plain(v) for v in column.tolist()]


def _details(
    ids: pd.Index,
    scores: pd.DataFrame,
    signals_long: pd.DataFrame,
    whitespace_long: pd.DataFrame,
    churn_reasons: dict[str, list[dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """Per-client lists for the client page (contributions, signals, whitespace, churn reasons)."""
    contrib_cols = [c for c in scores.columns if c.startswith("contrib_")]
    names = [c.removeprefix("contrib_") for c in contrib_cols]
    contrib = scores[contrib_cols].to_numpy(dtype="float64")
    boxed = contrib.astype(object)
    boxed[~np.isfinite(contrib)] = None  # as _plain: NaN and infinities -> None
    rows: list[list[Any]] = boxed.tolist()
    missing: list[Any] = [None] * len(names)
    position = {str(cid): i for i, cid in enumerate(scores[CLIENT_ID].astype(str))}
    details: dict[str, dict[str, Any]] = {}
    for cid in ids.astype(str):
        i = position.get(cid)
        row = rows[i] if i is not None else missing
        details[cid] = {
            "contributions": dict(zip(names, row, strict=True)),
            "signals": [],
            "whitespace": [],
            "churn_reasons": churn_reasons.get(cid, []),
        }
    _distribute(details, "signals", signals_long, [c for c in signals_long.columns if c != CLIENT_ID], None)
    keep = [c for c in ("category", "expected_value", "peer_share", "basis") if c in whitespace_long.columns]
    _distribute(details, "whitespace", whitespace_long, keep, 10)
    return details


def _distribute(
    details: dict[str, dict[str, Any]], key: str, frame: pd.DataFrame, columns: list[str], limit: int | None
) -> None:
    """Append each row of a long frame, as a plain dict of ``columns``, to its client's ``details[key]``."""
    if frame.empty:
        return
    client_ids = frame[CLIENT_ID].astype(str).tolist()
    rows = list(zip(*(plain_values(frame[c]) for c in columns), strict=True)) if columns else []
    for i, cid in enumerate(client_ids):
        target = details.get(cid)
        if target is None or (limit is not None and len(target[key]) >= limit):
            continue
        target[key].append(dict(zip(columns, rows[i], strict=True)) if columns else {})


def _summary(
    clients: pd.DataFrame,
    features: pd.DataFrame,
    matrix: seg.QuadrantResult,
    cts: seg.QuadrantResult,
    zones: seg.OpportunityZones,
    cfg: AnalysisConfig,
) -> dict[str, Any]:
    """Portfolio KPIs and tables for the overview and the console (JSON-ready)."""
    revenue = features["revenue_ttm"].fillna(0.0)
    prior = features["revenue_prior_ttm"].fillna(0.0)
    total = float(revenue.sum())
    total_prior = float(prior.sum())
    margin = features["margin_ttm"]
    pareto = seg.pareto_curve(features.set_index(CLIENT_ID)["revenue_ttm"])
    curve = pareto.frame
    step = max(1, len(curve) // 200)
    kpis = {
        "clients": len(features),
        "active_clients": int((revenue > 0).sum()),
        "revenue_ttm": total,
        "revenue_prior_ttm": total_prior,
        "growth": (total / total_prior - 1.0) if total_prior > 0 else None,
        "margin_ttm": float(margin.sum()) if margin.notna().any() else None,
        "margin_pct": float(margin.sum()) / total if margin.notna().any() and total else None,
        "top10_share": float(pareto.top_share),
        "revenue_at_risk": float(clients["expected_loss"].fillna(0).sum()),
        "unused_potential": float(features["headroom"].fillna(0).sum()) if "headroom" in features else None,
        "expected_revenue": float(clients["expected_revenue"].sum()) if "expected_revenue" in clients else None,
        "at_risk_clients": int((clients["risk_level"] == "high").sum()),
    }
    by_segment = seg.group_summary(
        clients, "segment", [c for c in ("revenue_ttm", "margin_ttm", "headroom", "expected_loss") if c in clients]
    )
    by_abc = seg.group_summary(clients, "abc_revenue", ["revenue_ttm"])
    return {
        "kpis": {k: _plain(v) for k, v in kpis.items()},
        "segments": _records(by_segment),
        "abc": _records(by_abc),
        "pareto": _records(curve.iloc[::step]),
        "matrix_splits": {"value": _plain(matrix.x_split), "potential": _plain(matrix.y_split)},
        "opportunity_zones": {
            "value_split": _plain(zones.value_split),
            "probability_split": _plain(zones.probability_split),
            "zones": _records(
                zones.deals.groupby("zone", sort=True)
                .agg(deals=("zone", "size"), value=("value", "sum"), weighted_value=("weighted_value", "sum"))
                .reset_index()
            )
            if not zones.deals.empty
            else [],
        },
        "cts_splits": {"net_price": _plain(cts.x_split), "cost_to_serve": _plain(cts.y_split)},
        "config": {"abc": cfg.abc.model_dump(), "horizon_months": cfg.forecast_horizon_months},
    }
