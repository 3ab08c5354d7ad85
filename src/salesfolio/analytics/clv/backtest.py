"""Forecasts per client for a horizon, and a holdout backtest that says in numbers how good they were.

- :func:`forecast_clients`: P(alive), expected purchases, expected spend and expected revenue per client for a
  horizon (default 24 calendar months = 730.5 days), from a summary and two fitted models.
- :func:`forecast_backtest`: fit BG/NBD and Gamma-Gamma on the data up to a cut-off, forecast the following
  ``horizon_days``, and compare with what happened, client by client (the calibration/holdout validation of
  Fader, Hardie & Lee 2005, section 4, reported as numbers rather than only plots, as lifetimes #438 and #439 ask).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from salesfolio.analytics.clv.base import DAYS_PER_MONTH
from salesfolio.analytics.clv.beta_geo import BetaGeoModel
from salesfolio.analytics.clv.gamma_gamma import GammaGammaModel
from salesfolio.analytics.clv.summary import CLIENT_COL, DATE_COL, VALUE_COL, as_date, rfm_summary, rfm_summary_expr

if TYPE_CHECKING:
    import ibis.expr.types as ir

DEFAULT_HORIZON_DAYS = 24 * DAYS_PER_MONTH
"""24 calendar months: 730.5 days, the 18-24-month horizon the board plans for."""

FREQUENCY_BANDS = ("0", "1", "2", "3", "4", "5", "6", "7+")
"""Calibration-frequency bands of :attr:`BacktestReport.by_frequency` (the conditional-expectation check of the
paper's figure 4)."""


def forecast_clients(
    summary: pd.DataFrame,
    model_bg: BetaGeoModel,
    model_gg: GammaGammaModel | None,
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    *,
    client_col: str = CLIENT_COL,
    time_unit_days: float = 1.0,
) -> pd.DataFrame:
    """Return each client's forecast for the next ``horizon_days``.

    Method: P(alive) and expected purchases from BG/NBD (Fader, Hardie & Lee 2005, equations 10-11); expected
    spend per purchase from Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"); expected revenue = purchases x
    spend, undiscounted.

    Parameters
    ----------
    summary
        Output of :func:`~salesfolio.analytics.clv.summary.rfm_summary` (columns ``client_col``, ``frequency``,
        ``recency``, ``T``, ``monetary_value``), in the time unit ``time_unit_days``.
    model_bg, model_gg
        Fitted models in the same time unit. ``model_gg`` may be None: then the spend and revenue columns are
        left out.
    horizon_days
        Forecast horizon in days. Default 730.5 (24 calendar months of 365.25 / 12 days).
    client_col
        Name of the client column. Default ``client_id``.
    time_unit_days
        Length of the summary's time unit in days. Default 1.0.

    Returns
    -------
    pandas.DataFrame
        ``client_col``, ``p_alive``, ``expected_purchases`` and, with ``model_gg``, ``expected_average_spend``
        and ``expected_revenue``; in the order of ``summary``. Remember that ``p_alive`` is 1 for clients without
        a repeat purchase by the model's definition (see :meth:`BetaGeoModel.probability_alive`).
    """
    for column in (client_col, "frequency", "recency", "T", "monetary_value"):
        if column not in summary.columns:
            raise ValueError(f"Required column {column} missing")
    if not (np.isfinite(horizon_days) and horizon_days >= 0):
        raise ValueError("horizon_days must be a non-negative number of days")
    x, t_x, t_obs = summary["frequency"], summary["recency"], summary["T"]
    horizon = horizon_days / time_unit_days
    result = pd.DataFrame({client_col: summary[client_col].to_numpy()})
    result["p_alive"] = model_bg.probability_alive(x, t_x, t_obs)
    result["expected_purchases"] = model_bg.expected_purchases(horizon, x, t_x, t_obs)
    if model_gg is not None:
        result["expected_average_spend"] = model_gg.expected_average_spend(x, summary["monetary_value"])
        result["expected_revenue"] = result["expected_purchases"] * result["expected_average_spend"]
    return result


@dataclass
class BacktestReport:
    """What a holdout backtest of the purchase and revenue forecasts found.

    Attributes
    ----------
    cutoff, horizon_days, observation_end
        The calibration period ends on ``cutoff`` (inclusive); the holdout is ``(cutoff, observation_end]``, with
        ``observation_end = cutoff + horizon_days``.
    clients
        One row per client known at the cut-off: ``client_id``, ``predicted_purchases``, ``actual_purchases``,
        ``predicted_revenue``, ``actual_revenue`` (net value of the holdout purchase days, what the models
        forecast), ``net_revenue`` (all holdout days, credit-note days included) and ``frequency`` (calibration).
    totals
        Sums over clients of the predicted and actual columns.
    mae_purchases, mae_revenue
        Mean absolute error per client.
    total_error_pct_purchases, total_error_pct_revenue
        ``100 * (predicted - actual) / actual`` on the totals (positive: the forecast was too high).
    correlation_purchases, correlation_revenue
        Pearson correlation between predicted and actual per client (NaN when either is constant).
    by_frequency
        Mean predicted and actual purchases per client by calibration frequency band (0, 1, ..., 7+): where the
        model fits poorly for a group of clients.
    params_bg, params_gg, converged, fit_messages
        The fitted parameters and whether both fits converged.
    """

    cutoff: dt.date
    horizon_days: int
    observation_end: dt.date
    clients: pd.DataFrame
    totals: dict[str, float]
    mae_purchases: float
    mae_revenue: float
    total_error_pct_purchases: float
    total_error_pct_revenue: float
    correlation_purchases: float
    correlation_revenue: float
    by_frequency: pd.DataFrame
    params_bg: dict[str, float]
    params_gg: dict[str, float]
    converged: bool
    fit_messages: dict[str, str] = field(default_factory=dict)

    @property
    def n_clients(self) -> int:
        """Number of clients in the backtest (those with a purchase up to the cut-off)."""
        return len(self.clients)

    def to_dict(self, *, include_clients: bool = False) -> dict[str, Any]:
        """Return the report as plain JSON-serialisable values, for storing with a snapshot.

        NaN becomes None. The per-client table is left out unless ``include_clients`` is True.
        """
        result: dict[str, Any] = {
            "method": "BG/NBD + Gamma-Gamma (Fader, Hardie & Lee 2005), holdout backtest",
            "cutoff": self.cutoff.isoformat(),
            "horizon_days": self.horizon_days,
            "observation_end": self.observation_end.isoformat(),
            "n_clients": self.n_clients,
            "totals": {k: _plain(v) for k, v in self.totals.items()},
            "mae_purchases": _plain(self.mae_purchases),
            "mae_revenue": _plain(self.mae_revenue),
            "total_error_pct_purchases": _plain(self.total_error_pct_purchases),
            "total_error_pct_revenue": _plain(self.total_error_pct_revenue),
            "correlation_purchases": _plain(self.correlation_purchases),
            "correlation_revenue": _plain(self.correlation_revenue),
            "by_frequency": _records(self.by_frequency),
            "params_bg": {k: _plain(v) for k, v in self.params_bg.items()},
            "params_gg": {k: _plain(v) for k, v in self.params_gg.items()},
            "converged": self.converged,
            "fit_messages": dict(self.fit_messages),
        }
        if include_clients:
            result["clients"] = _records(self.clients)
        return result


def forecast_backtest(
    transactions: pd.DataFrame | ir.Table,
    *,
    cutoff: dt.date | str,
    horizon_days: int,
    client_col: str = CLIENT_COL,
    date_col: str = DATE_COL,
    value_col: str = VALUE_COL,
    time_unit_days: float = 1.0,
    penalizer: float = 0.0,
    data_end: dt.date | str | None = None,
) -> BacktestReport:
    """Fit BG/NBD and Gamma-Gamma up to ``cutoff``, forecast ``horizon_days`` ahead and compare with the actuals.

    Method: the calibration/holdout validation of Fader, Hardie & Lee (2005), section 4: the summary of
    :func:`~salesfolio.analytics.clv.summary.rfm_summary` with ``calibration_end=cutoff`` and
    ``observation_end=cutoff + horizon_days``; :class:`BetaGeoModel` fitted on frequency, recency and T;
    :class:`GammaGammaModel` on frequency and monetary value; predicted purchases = E[Y(horizon) | x, t_x, T],
    predicted revenue = predicted purchases x expected spend per purchase (undiscounted). Clients whose first
    purchase is after the cut-off are not forecast and not counted.

    Parameters
    ----------
    transactions
        Invoice lines as a pandas frame or an Ibis table (then the summary is computed in the engine).
    cutoff
        Last day of the calibration period (inclusive).
    horizon_days
        Length of the holdout in whole days (e.g. 365).
    client_col, date_col, value_col
        Column names; default the invoice-lines contract (``client_id``, ``date``, ``revenue``).
    time_unit_days
        Time unit the models are fitted in. Default 1.0 (days); forecasts do not depend on it.
    penalizer
        L2 penalty for both fits. Default 0.0.
    data_end
        The last day the data cover. Default: the latest date in the data. Give it when the extract runs to a
        later day on which nothing was invoiced.

    Raises
    ------
    ValueError
        When ``horizon_days`` is not a positive whole number, or the data end before ``cutoff + horizon_days``
        (actual purchases would be cut short and the comparison misleading).
    """
    if isinstance(horizon_days, bool) or not float(horizon_days).is_integer() or horizon_days <= 0:
        raise ValueError("horizon_days must be a positive whole number of days")
    days = int(horizon_days)
    cut = as_date(cutoff, "cutoff")
    end = cut + dt.timedelta(days=days)
    options = {"client_col": client_col, "date_col": date_col, "value_col": value_col}
    if date_col not in transactions.columns:
        raise ValueError(f"Required column {date_col} missing")
    if isinstance(transactions, pd.DataFrame):
        latest = pd.to_datetime(transactions[date_col]).max()
        summary = rfm_summary(
            transactions, observation_end=end, calibration_end=cut, time_unit_days=time_unit_days, **options
        )
    else:
        latest = pd.Timestamp(transactions[date_col].max().execute())
        expression = rfm_summary_expr(
            transactions, observation_end=end, calibration_end=cut, time_unit_days=time_unit_days, **options
        )
        summary = expression.to_pandas()
    covered = as_date(data_end, "data_end") if data_end is not None else None
    if covered is None and not pd.isna(latest):
        covered = latest.date()
    if covered is None or covered < end:
        raise ValueError(
            f"the data end on {covered}, before cutoff + horizon ({end}); choose an earlier cutoff or a shorter "
            "horizon (or pass data_end if the data run to a later day on which nothing was invoiced)"
        )
    model_bg = BetaGeoModel(penalizer=penalizer).fit(summary["frequency"], summary["recency"], summary["T"])
    model_gg = GammaGammaModel(penalizer=penalizer).fit(summary["frequency"], summary["monetary_value"])
    forecast = forecast_clients(
        summary, model_bg, model_gg, float(days), client_col=client_col, time_unit_days=time_unit_days
    )
    clients = pd.DataFrame(
        {
            client_col: summary[client_col].to_numpy(),
            "frequency": summary["frequency"].to_numpy(),
            "predicted_purchases": forecast["expected_purchases"].to_numpy(),
            "actual_purchases": summary["frequency_holdout"].to_numpy(),
            "predicted_revenue": forecast["expected_revenue"].to_numpy(),
            "actual_revenue": (summary["frequency_holdout"] * summary["monetary_value_holdout"]).to_numpy(),
            "net_revenue": summary["net_revenue_holdout"].to_numpy(),
        }
    )
    totals = {
        "predicted_purchases": float(clients["predicted_purchases"].sum()),
        "actual_purchases": float(clients["actual_purchases"].sum()),
        "predicted_revenue": float(clients["predicted_revenue"].sum()),
        "actual_revenue": float(clients["actual_revenue"].sum()),
        "net_revenue": float(clients["net_revenue"].sum()),
    }
    return BacktestReport(
        cutoff=cut,
        horizon_days=days,
        observation_end=end,
        clients=clients,
        totals=totals,
        mae_purchases=_mae(clients["predicted_purchases"], clients["actual_purchases"]),
        mae_revenue=_mae(clients["predicted_revenue"], clients["actual_revenue"]),
        total_error_pct_purchases=_error_pct(totals["predicted_purchases"], totals["actual_purchases"]),
        total_error_pct_revenue=_error_pct(totals["predicted_revenue"], totals["actual_revenue"]),
        correlation_purchases=_correlation(clients["predicted_purchases"], clients["actual_purchases"]),
        correlation_revenue=_correlation(clients["predicted_revenue"], clients["actual_revenue"]),
        by_frequency=_by_frequency(clients),
        params_bg=dict(model_bg.params_),
        params_gg=dict(model_gg.params_),
        converged=model_bg.converged_ and model_gg.converged_,
        fit_messages={"bg_nbd": model_bg.fit_message_, "gamma_gamma": model_gg.fit_message_},
    )


def _mae(predicted: pd.Series, actual: pd.Series) -> float:
    return float(np.mean(np.abs(predicted.to_numpy(dtype=float) - actual.to_numpy(dtype=float))))


def _error_pct(predicted: float, actual: float) -> float:
    return 100.0 * (predicted - actual) / actual if actual != 0 else float("nan")


def _correlation(predicted: pd.Series, actual: pd.Series) -> float:
    a = predicted.to_numpy(dtype=float)
    b = actual.to_numpy(dtype=float)
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _by_frequency(clients: pd.DataFrame) -> pd.DataFrame:
    band_index = np.minimum(clients["frequency"].to_numpy(), len(FREQUENCY_BANDS) - 1)
    bands = pd.Categorical.from_codes(band_index, categories=list(FREQUENCY_BANDS), ordered=True)
    grouped = clients.groupby(bands, observed=True)
    table = pd.DataFrame(
        {
            "n_clients": grouped.size(),
            "predicted_purchases": grouped["predicted_purchases"].mean(),
            "actual_purchases": grouped["actual_purchases"].mean(),
        }
    )
    table.index.name = "frequency_band"
    return table.reset_index().assign(frequency_band=lambda t: t["frequency_band"].astype(str))


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(float(value)) else float(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]
