"""Purchase forecasts: BG/NBD purchase counts and Gamma-Gamma spend (Fader, Hardie & Lee 2005).

- :mod:`~salesfolio.analytics.clv.summary`: invoice lines -> per-client frequency, recency, T, monetary value
  (pandas, or an Ibis expression that runs in the warehouse);
- :mod:`~salesfolio.analytics.clv.beta_geo`: :class:`BetaGeoModel` (how many purchases, P(alive));
- :mod:`~salesfolio.analytics.clv.gamma_gamma`: :class:`GammaGammaModel` (spend per purchase, expected revenue);
- :mod:`~salesfolio.analytics.clv.backtest`: :func:`forecast_clients` and the holdout :func:`forecast_backtest`.

Time is in days unless a ``time_unit_days`` says otherwise; a month is 365.25 / 12 days. See ``docs/models.md``.
"""

from salesfolio.analytics.clv.backtest import BacktestReport, forecast_backtest, forecast_clients
from salesfolio.analytics.clv.base import DAYS_PER_MONTH, DAYS_PER_YEAR, ConvergenceWarning, NotFittedError
from salesfolio.analytics.clv.beta_geo import BetaGeoModel
from salesfolio.analytics.clv.gamma_gamma import GammaGammaModel
from salesfolio.analytics.clv.summary import rfm_summary, rfm_summary_expr

__all__ = [
    "DAYS_PER_MONTH",
    "DAYS_PER_YEAR",
    "BacktestReport",
    "BetaGeoModel",
    "ConvergenceWarning",
    "GammaGammaModel",
    "NotFittedError",
    "forecast_backtest",
    "forecast_clients",
    "rfm_summary",
    "rfm_summary_expr",
]
