"""The Models page, and the reading of a snapshot's model results for the client page and the overview.

The page shows how well the two models of the analysis did on data they had not seen, from the snapshot's
``models`` reports (:func:`salesfolio.analytics.portfolio.analyse_portfolio`):

* the purchase forecast (BG/NBD + Gamma-Gamma, Fader, Hardie & Lee 2005): fitted parameters, and the holdout
  backtest: predicted against actual purchases and revenue, total error, mean absolute error, correlation, and
  predicted against actual purchases per client by how often the client had bought before the cut-off;
* the churn model's time-split backtest (:mod:`salesfolio.analytics.churn_backtest`): per cut-off, AUC, precision
  of the top list and the share of lost revenue it held, for the model against recency, warning signals and
  size; the reliability diagram; the verdict in plain words and, when the model is not shown, why revenue at risk
  is ranked by size x a rule-based factor instead.

The reports hold aggregate figures only (the per-client tables are left out when a snapshot is stored), so the
page is the same for every role and names no client. Reports are read tolerantly: a missing or malformed part is
shown as missing, never as an error.

:func:`forecast_horizon_months`, :func:`client_forecast` and :func:`client_churn` give the client page its
forecast and churn cards and the overview its horizon.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from salesfolio.analytics.config import AnalysisConfig, RiskConfig
from salesfolio.store.models import ROLES, Snapshot, SnapshotClient
from salesfolio.web import charts, rollups
from salesfolio.web.deps import AnyUser, CacheDep, LangDep, Scope, SnapshotDep
from salesfolio.web.i18n import N_, Lang
from salesfolio.web.schemas import ChurnReason, ClientDetail, Signal
from salesfolio.web.templating import NavItem, render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("models", N_("Models"), ROLES, "chart")]

DEFAULT_HORIZON_MONTHS = AnalysisConfig().forecast_horizon_months
RANKINGS: dict[str, str] = {
    "model": N_("Churn model"),
    "recency": N_("Recency"),
    "signals": N_("Warning signals"),
    "size": N_("Size"),
}
"""The rankings the churn backtest compares, in the order shown."""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return int(number) if number is not None else None


def _day(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value[:10]) if isinstance(value, str) else None
    except ValueError:
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# -- model results for the client page and the overview ---------------------------------------------------------
def forecast_horizon_months(snapshot: Snapshot) -> int:
    """The forecast horizon the snapshot was analysed with, in months.

    ``snapshot.config["forecast_horizon_months"]``, else the forecast report's ``horizon_months``, else the
    summary's ``config.horizon_months``, else the default (24).
    """
    candidates = (
        _dict(snapshot.config).get("forecast_horizon_months"),
        _dict(_dict(snapshot.models).get("forecast")).get("horizon_months"),
        _dict(_dict(snapshot.summary).get("config")).get("horizon_months"),
    )
    for value in candidates:
        months = _int(value)
        if months is not None and months > 0:
            return months
    return DEFAULT_HORIZON_MONTHS


def churn_model_shown(snapshot: Snapshot) -> bool:
    """True when the churn backtest recommended showing the model (``models["churn"]["show_model"]``)."""
    return _dict(_dict(snapshot.models).get("churn")).get("show_model") is True


@dataclass(frozen=True)
class ClientForecast:
    """A client's purchase forecast over ``horizon_months`` (BG/NBD purchases, Gamma-Gamma spend)."""

    horizon_months: int
    p_alive: float | None
    expected_purchases: float | None
    expected_revenue: float | None
    revenue_ttm: float | None
    one_time_buyer: bool
    """One purchase so far: BG/NBD gives P(alive) = 1 to a client without a repeat purchase, by construction."""

    @property
    def per_year(self) -> float | None:
        """Expected revenue per year of the horizon."""
        return None if self.expected_revenue is None else self.expected_revenue * 12 / self.horizon_months

    @property
    def growth(self) -> float | None:
        """Expected revenue per year minus revenue TTM (money)."""
        return None if self.per_year is None else self.per_year - (self.revenue_ttm or 0.0)

    @property
    def growth_share(self) -> float | None:
        """Expected revenue per year on revenue TTM, minus 1 (None without positive revenue TTM)."""
        if self.per_year is None or not self.revenue_ttm or self.revenue_ttm <= 0:
            return None
        return self.per_year / self.revenue_ttm - 1


def client_forecast(snapshot: Snapshot, client: SnapshotClient, detail: ClientDetail) -> ClientForecast:
    """The forecast card's figures: the snapshot columns first, then ``details.features``, then ``details.forecast``."""
    features = detail.features
    orders = _num(features.get("orders_total"))
    purchases = _num(features.get("expected_purchases"))
    return ClientForecast(
        horizon_months=forecast_horizon_months(snapshot),
        p_alive=client.p_alive if client.p_alive is not None else detail.forecast.p_alive,
        expected_purchases=purchases if purchases is not None else detail.forecast.expected_purchases,
        expected_revenue=(
            client.expected_revenue if client.expected_revenue is not None else detail.forecast.expected_revenue
        ),
        revenue_ttm=client.revenue_ttm,
        one_time_buyer=orders == 1,
    )


@dataclass(frozen=True)
class ClientChurn:
    """The churn card: the model's probability and reasons when the model is shown, else the rule-based factor."""

    model_shown: bool
    model_tested: bool
    """The snapshot has a churn backtest that evaluated at least one cut-off."""
    probability: float | None
    reasons: list[ChurnReason]
    rule_factor: float
    signals: list[Signal]


def rule_factor(snapshot: Snapshot, signals: list[Signal]) -> float:
    """The rule-based risk factor of :func:`salesfolio.analytics.risk.rule_risk_factor` for the fired signals.

    ``1 - (1 - base_factor) x prod(1 - factor_s)`` with the factors of the snapshot's ``risk`` configuration
    (defaults when it has none or cannot be read).
    """
    try:
        config = RiskConfig.model_validate(_dict(_dict(snapshot.config).get("risk")))
    except ValidationError:
        config = RiskConfig()
    keep = 1.0 - config.base_factor
    for name in {s.signal for s in signals}:
        keep *= 1.0 - float(getattr(config.signal_factors, name, 0.0))
    return 1.0 - keep


def client_churn(snapshot: Snapshot, client: SnapshotClient, detail: ClientDetail) -> ClientChurn:
    """The churn card's figures for ``client`` (see :class:`ClientChurn`)."""
    probability = client.churn_probability if client.churn_probability is not None else detail.churn.probability
    shown = churn_model_shown(snapshot) and probability is not None
    report = _dict(_dict(snapshot.models).get("churn"))
    return ClientChurn(
        model_shown=shown,
        model_tested=report.get("status") == "ok" and bool(_list(report.get("cutoffs"))),
        probability=probability if shown else None,
        reasons=detail.churn.reasons if shown else [],
        rule_factor=rule_factor(snapshot, detail.signals),
        signals=detail.signals,
    )


# -- the Models page ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ForecastView:
    """The forecast report of a snapshot (``models["forecast"]``); error percentages as shares (0.05 = 5 %)."""

    status: str
    message: str
    horizon_months: int | None
    n_clients: int | None
    beta_geo: dict[str, float]
    gamma_gamma: dict[str, float]
    backtest_message: str = ""
    cutoff: dt.date | None = None
    observation_end: dt.date | None = None
    backtest_clients: int | None = None
    totals: dict[str, float | None] = field(default_factory=dict)
    error_purchases: float | None = None
    error_revenue: float | None = None
    mae_purchases: float | None = None
    mae_revenue: float | None = None
    correlation_purchases: float | None = None
    correlation_revenue: float | None = None
    by_frequency: list[tuple[str, int, float | None, float | None]] = field(default_factory=list)


def _params(value: Any) -> dict[str, float]:
    return {str(k): v for k, v in ((k, _num(v)) for k, v in _dict(value).items()) if v is not None}


def _share(percent: Any) -> float | None:
    number = _num(percent)
    return None if number is None else number / 100


def read_forecast(models: dict[str, Any]) -> ForecastView | None:
    """The forecast report, or None when the snapshot has none."""
    report = _dict(models).get("forecast")
    if not isinstance(report, dict):
        return None
    view = ForecastView(
        status=_text(report.get("status")),
        message=_text(report.get("message")),
        horizon_months=_int(report.get("horizon_months")),
        n_clients=_int(report.get("n_clients")),
        beta_geo=_params(report.get("beta_geo")),
        gamma_gamma=_params(report.get("gamma_gamma")),
    )
    backtest = _dict(report.get("backtest"))
    if "totals" not in backtest:
        return dataclasses.replace(view, backtest_message=_text(backtest.get("message")))
    totals = _dict(backtest.get("totals"))
    bands = [
        (_text(b.get("frequency_band")), _int(b.get("n_clients")) or 0, _num(b.get("predicted_purchases")),
         _num(b.get("actual_purchases")))
        for b in map(_dict, _list(backtest.get("by_frequency")))
    ]  # fmt: skip
    totals_kept = ("predicted_purchases", "actual_purchases", "predicted_revenue", "actual_revenue")
    return dataclasses.replace(
        view,
        cutoff=_day(backtest.get("cutoff")),
        observation_end=_day(backtest.get("observation_end")),
        backtest_clients=_int(backtest.get("n_clients")),
        totals={k: _num(totals.get(k)) for k in totals_kept},
        error_purchases=_share(backtest.get("total_error_pct_purchases")),
        error_revenue=_share(backtest.get("total_error_pct_revenue")),
        mae_purchases=_num(backtest.get("mae_purchases")),
        mae_revenue=_num(backtest.get("mae_revenue")),
        correlation_purchases=_num(backtest.get("correlation_purchases")),
        correlation_revenue=_num(backtest.get("correlation_revenue")),
        by_frequency=bands,
    )


@dataclass(frozen=True)
class CutoffView:
    """The churn backtest at one cut-off: metrics per ranking (``scores[ranking][metric]``) and calibration."""

    cutoff: dt.date | None
    n_clients: int | None
    n_positive: int | None
    k: int | None
    scores: dict[str, dict[str, float | None]]
    brier: float | None
    brier_reference: float | None
    reliability: list[tuple[float, float, int]]
    beats_recency: bool
    beats_size: bool


@dataclass(frozen=True)
class ChurnView:
    """The churn report of a snapshot (``models["churn"]``)."""

    status: str
    message: str
    verdict: str
    show_model: bool
    horizon_months: int | None
    top_share: float | None
    min_auc_gain: float | None
    min_lost_share_gain: float | None
    cutoffs: list[CutoffView]
    skipped: list[tuple[dt.date | None, str]]


def _cutoff(item: dict[str, Any]) -> CutoffView:
    scores = {
        name: {m: _num(_dict(_dict(item.get("scores")).get(name)).get(m)) for m in
               ("auc", "auc_churn", "precision_at_k", "lost_revenue_share")}
        for name in RANKINGS
    }  # fmt: skip
    bins = [
        (mean, rate, _int(b.get("n")) or 0)
        for b in map(_dict, _list(item.get("reliability")))
        if (mean := _num(b.get("mean_predicted"))) is not None and (rate := _num(b.get("observed_rate"))) is not None
    ]
    return CutoffView(
        cutoff=_day(item.get("cutoff")),
        n_clients=_int(item.get("n_clients")),
        n_positive=_int(item.get("n_positive")),
        k=_int(item.get("k")),
        scores=scores,
        brier=_num(item.get("brier")),
        brier_reference=_num(item.get("brier_reference")),
        reliability=bins,
        beats_recency=item.get("model_beats_recency") is True,
        beats_size=item.get("model_beats_size") is True,
    )


def read_churn(models: dict[str, Any]) -> ChurnView | None:
    """The churn report, or None when the snapshot has none."""
    report = _dict(models).get("churn")
    if not isinstance(report, dict):
        return None
    config = _dict(report.get("config"))
    skipped = [
        (_day(s[0]), _text(s[1])) for s in _list(report.get("skipped")) if isinstance(s, list | tuple) and len(s) == 2
    ]
    return ChurnView(
        status=_text(report.get("status")),
        message=_text(report.get("message")),
        verdict=_text(report.get("verdict")),
        show_model=report.get("show_model") is True,
        horizon_months=_int(config.get("horizon_months")),
        top_share=_num(config.get("top_share")),
        min_auc_gain=_num(config.get("min_auc_gain")),
        min_lost_share_gain=_num(config.get("min_lost_share_gain")),
        cutoffs=[_cutoff(_dict(c)) for c in _list(report.get("cutoffs"))],
        skipped=skipped,
    )


def churn_sentences(view: ChurnView, lang: Lang) -> list[str]:
    """The churn backtest's verdict in plain words, in the user's language (one sentence per item)."""
    if view.status != "ok" or not view.cutoffs:
        return [lang.gettext("The churn model could not be tested on this data, so it is not used.")]
    n = len(view.cutoffs)
    months = lang.number(view.horizon_months) if view.horizon_months else "?"
    out = []
    if view.show_model:
        out.append(
            lang.ngettext(
                "The churn model ranked clients better than recency and size at the %(n)s cut-off tested: its "
                "probabilities are used for revenue at risk and shown on the client pages.",
                "The churn model ranked clients better than recency and size at all %(n)s cut-offs tested: its "
                "probabilities are used for revenue at risk and shown on the client pages.",
                n,
            )
            % {"n": lang.number(n)}
        )
    else:
        out.append(
            lang.gettext(
                "The churn model is not shown. It beat recency at %(recency)s and size at %(size)s of %(n)s "
                "cut-offs; it must beat both at every cut-off to be trusted."
            )
            % {
                "recency": lang.number(sum(c.beats_recency for c in view.cutoffs)),
                "size": lang.number(sum(c.beats_size for c in view.cutoffs)),
                "n": lang.number(n),
            }
        )
    for c in view.cutoffs:
        model, recency, size = c.scores["model"], c.scores["recency"], c.scores["size"]
        out.append(
            lang.gettext(
                "At %(date)s: AUC %(model_auc)s against %(recency_auc)s for recency; the model's top %(k)s clients "
                "held %(model_share)s of the revenue lost in the next %(months)s months, the %(k)s largest "
                "clients %(size_share)s."
            )
            % {
                "date": lang.date(c.cutoff),
                "model_auc": lang.decimal(model["auc"], 2),
                "recency_auc": lang.decimal(recency["auc"], 2),
                "k": lang.number(c.k),
                "model_share": lang.percent(model["lost_revenue_share"]),
                "size_share": lang.percent(size["lost_revenue_share"]),
                "months": months,
            }
        )
    return out


def churn_fallback_reasons(view: ChurnView | None, lang: Lang) -> list[str]:
    """Why revenue at risk is ranked by size x the rule-based factor (empty when the model is shown)."""
    if view is not None and view.show_model:
        return []
    if view is None or view.status != "ok" or not view.cutoffs:
        return [
            lang.gettext(
                "There is not enough history to train and test a churn model (at least two cut-offs with enough "
                "clients who left and who stayed are needed)."
            )
        ]
    n = len(view.cutoffs)
    out = []
    lost_size = n - sum(c.beats_size for c in view.cutoffs)
    if lost_size:
        out.append(
            lang.gettext(
                "At %(count)s of %(n)s cut-offs the largest clients alone held as much of the lost revenue as the "
                "model's top list: most lost revenue comes from large clients buying less, which size already finds."
            )
            % {"count": lang.number(lost_size), "n": lang.number(n)}
        )
    lost_recency = n - sum(c.beats_recency for c in view.cutoffs)
    if lost_recency:
        out.append(
            lang.gettext(
                "At %(count)s of %(n)s cut-offs the days since the last purchase ranked who leaves or buys much "
                "less about as well as the model."
            )
            % {"count": lang.number(lost_recency), "n": lang.number(n)}
        )
    return out


def _figures(snapshot: Snapshot, lang: Lang) -> tuple[dict[str, str], str | None]:
    """The churn backtest's figures (by metric) and the forecast's frequency figure of ``snapshot``."""
    forecast = read_forecast(snapshot.models or {})
    churn = read_churn(snapshot.models or {})
    names = {key: lang.gettext(label) for key, label in RANKINGS.items()}
    churn_figures: dict[str, str] = {}
    if churn is not None and churn.cutoffs:
        dates = [lang.date(c.cutoff) for c in churn.cutoffs]
        for metric, percent, reference in (
            ("auc", False, 0.5),
            ("precision_at_k", True, None),
            ("lost_revenue_share", True, None),
        ):
            series = {key: [c.scores[key][metric] for c in churn.cutoffs] for key in RANKINGS}
            churn_figures[metric] = charts.ranking_chart(
                dates, series, names, lang, percent=percent, reference=reference
            )
        curves = [(lang.date(c.cutoff), c.reliability) for c in churn.cutoffs if c.reliability]
        if curves:
            churn_figures["reliability"] = charts.reliability_chart(curves, lang)
    frequency_figure = None
    if forecast is not None and forecast.by_frequency:
        bands = forecast.by_frequency
        frequency_figure = charts.frequency_chart(
            [b[0] for b in bands], [b[2] for b in bands], [b[3] for b in bands], [b[1] for b in bands], lang
        )
    return churn_figures, frequency_figure


@router.get("/models", name="models")
def models_page(
    request: Request, user: AnyUser, scope: Scope, snapshot: SnapshotDep, lang: LangDep, cache: CacheDep
) -> Response:
    """The Models page of the chosen (default: newest) snapshot.

    Its figures are built once per snapshot, scope and language (the models of a snapshot never change).
    """
    if snapshot is None:
        return render(request, "models.html", {"empty": True})
    forecast = read_forecast(snapshot.models or {})
    churn = read_churn(snapshot.models or {})
    names = {key: lang.gettext(label) for key, label in RANKINGS.items()}
    churn_figures, frequency_figure = rollups.cached(
        cache, snapshot, scope, ("models_figures", rollups.lang_key(lang)), lambda: _figures(snapshot, lang)
    )
    context = {
        "empty": False,
        "forecast": forecast,
        "churn": churn,
        "horizon_months": forecast_horizon_months(snapshot),
        "rankings": names,
        "churn_figures": churn_figures,
        "frequency_figure": frequency_figure,
        "churn_sentences": churn_sentences(churn, lang) if churn is not None else [],
        "fallback_reasons": churn_fallback_reasons(churn, lang),
    }
    return render(request, "models.html", context)
