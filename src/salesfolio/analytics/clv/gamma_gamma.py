"""Gamma-Gamma: how much each client will spend per purchase, and the expected revenue that follows.

Method: the gamma-gamma model of monetary value of Colombo & Jiang (1999), "A stochastic RFM model", *Journal of
Interactive Marketing* 13(3), 2-12, in the form of Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value
curves for customer base analysis", *Journal of Marketing Research* 42(4), 415-430, and Fader & Hardie (2013),
"The Gamma-Gamma model of monetary value". The value of each purchase of a client is gamma-distributed with shape
``p`` and rate ``nu``; ``nu`` is gamma-distributed across clients with shape ``q`` and rate ``gamma`` (called
``v`` in some texts). A client's average spend per repeat purchase ``zbar`` over ``x`` repeat purchases then has
the density ``Gamma(p x + q) / (Gamma(p x) Gamma(q)) * gamma ** q * x ** (p x) * zbar ** (p x - 1) /
(gamma + x zbar) ** (p x + q)``, which is maximised over ``p, q, gamma``.

The model assumes that spend per purchase does not depend on how often a client buys; the fit reports the
correlation between the two (``spend_frequency_correlation_``) so that can be checked (Fader & Hardie suggest it
be near zero).

Validated on the CDNOW sample (946 customers with repeat purchases): p = 6.25, q = 3.74, gamma = 15.44; see
``tests/test_clv_gamma_gamma.py`` and ``docs/models.md``.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from scipy import special

from salesfolio.analytics.clv.base import (
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    ArrayLike,
    ClvModel,
    FloatArray,
    as_float_array,
    check_non_negative,
    check_same_length,
    check_whole_numbers,
    frequency_weights,
    group_histories,
    weighted_sum,
)
from salesfolio.analytics.clv.beta_geo import BetaGeoModel


class GammaGammaModel(ClvModel):
    """Gamma-Gamma spend-per-purchase model (Colombo & Jiang 1999; Fader, Hardie & Lee 2005).

    Parameters
    ----------
    penalizer
        L2 penalty ``penalizer * (p**2 + q**2 + gamma**2)`` added to the mean negative log-likelihood. Default 0.0
        (plain maximum likelihood, as in the paper).
    tol
        Convergence tolerance of L-BFGS-B. Default 1e-10.
    maxiter
        Maximum number of L-BFGS-B iterations per start. Default 2000.

    Attributes
    ----------
    params_ : dict[str, float]
        ``p`` (shape of the spend of one purchase), ``q`` and ``gamma`` (heterogeneity of the spend across
        clients). The population mean spend per purchase is ``p * gamma / (q - 1)`` (finite only when q > 1).
    log_likelihood_ : float
        The log-likelihood at ``params_``, summed over the clients fitted.
    converged_ : bool
        False when the optimiser failed, a parameter ran to its bound, or ``q <= 1`` (infinite mean spend).
    fit_message_ : str
        What happened, in words.
    n_clients_ : int
        Clients fitted: those with ``frequency > 0`` and ``monetary_value > 0`` (sum of their weights).
    n_excluded_ : int
        Clients left out because they have no repeat purchase or no positive spend (sum of their weights).
    spend_frequency_correlation_ : float
        Pearson correlation between frequency and average spend of the clients fitted (weighted).

    Examples
    --------
    With the paper's CDNOW estimates: a customer without repeat purchases is expected to spend the population
    mean; one with 2 repeat purchases averaging $22.35 is pulled part of the way towards it.

    >>> model = GammaGammaModel.from_params(p=6.25, q=3.74, gamma=15.44)
    >>> model.expected_average_spend([0, 2], [0.0, 22.35]).round(2)
    array([35.22, 24.66])
    """

    param_names = ("p", "q", "gamma")
    n_excluded_: int
    spend_frequency_correlation_: float

    @classmethod
    def from_params(cls, *, p: float, q: float, gamma: float) -> Self:
        """Return a model with the given parameters (e.g. stored with a snapshot), ready to predict."""
        model = cls()
        model._set_params_by_hand({"p": p, "q": q, "gamma": gamma})
        return model

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike, weights: ArrayLike | None = None) -> Self:
        """Estimate ``p, q, gamma`` by maximum likelihood on the clients with repeat purchases; return ``self``.

        Parameters
        ----------
        frequency
            Repeat purchases per client (whole numbers >= 0).
        monetary_value
            Average value of the client's repeat purchases (``zbar``; the first purchase is not included, as in
            the paper). :func:`~salesfolio.analytics.clv.summary.rfm_summary` computes it after returns.
        weights
            Optional: how many clients each row stands for. Default: one.

        Notes
        -----
        Clients with ``frequency == 0`` carry no information on spend per repeat purchase, and the model is not
        defined for ``monetary_value <= 0`` (credit notes larger than the purchases; lifetimes #378, #211). Both
        are left out of the fit and counted in ``n_excluded_``; they still get a forecast (the population mean
        for x = 0).
        """
        self._check_options()
        x = as_float_array("frequency", frequency)
        spend = as_float_array("monetary_value", monetary_value)
        check_same_length({"frequency": x, "monetary_value": spend})
        check_non_negative("frequency", x)
        check_whole_numbers("frequency", x)
        w = frequency_weights(weights, len(x))
        used = (x > 0) & (spend > 0) & (w > 0)
        self.n_excluded_ = round(float(w[~used].sum()))
        if np.count_nonzero(used) < 2:
            raise ValueError(
                "Gamma-Gamma needs at least two clients with frequency > 0 and monetary_value > 0; "
                f"{np.count_nonzero(used)} found"
            )
        (gx, gm), gw = group_histories([x[used], spend[used]], w[used])
        total = float(gw.sum())

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            ll, gradient = _log_likelihood_and_gradient(np.exp(log_params), gx, gm, gw)
            return -ll / total, -gradient * np.exp(log_params) / total

        log_params, converged, message = self._minimise(objective, _starting_points(gm, gw))
        q = float(np.exp(log_params[1]))
        if converged and q <= 1.0:
            converged = False
            message = (
                f"q = {q:.3g} <= 1: the population mean spend p * gamma / (q - 1) is infinite, so spend "
                "forecasts are unusable; the spend distribution is too heavy-tailed for this model"
            )
        self.log_likelihood_ = float(_log_likelihood_and_gradient(np.exp(log_params), gx, gm, gw)[0])
        self.n_clients_ = round(total)
        self.spend_frequency_correlation_ = _weighted_correlation(x[used], spend[used], w[used])
        self._finish_fit(log_params, converged, message)
        return self

    def _bound_hint(self, name: str, high: bool) -> str:
        if name in ("q", "gamma") and high:
            return "the clients' average spend per purchase looks all alike"
        if name == "p" and high:
            return "the spend of one client hardly varies between purchases"
        return "the spend per purchase is spread extremely widely"

    def log_likelihood(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """Return each client's log-likelihood of ``monetary_value`` given ``frequency`` (both must be > 0)."""
        params = self._check_fitted()
        x, spend = _check_spend(frequency, monetary_value)
        if np.any((x == 0) | (spend <= 0)):
            raise ValueError("the log-likelihood is defined only for frequency > 0 and monetary_value > 0")
        return _log_likelihood_terms(np.array([params["p"], params["q"], params["gamma"]]), x, spend)

    def expected_average_spend(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """Return E[M | x, zbar]: each client's expected spend per future purchase.

        Method: Fader, Hardie & Lee (2005), equation 5 (Fader & Hardie 2013, equation 2):
        ``p (gamma + x zbar) / (p x + q - 1)``, a weighted average of the population mean ``p gamma / (q - 1)``
        and the client's own average ``zbar``, in which the client's weight grows with ``x``. For a client
        with ``x = 0`` it is the population mean.

        Raises
        ------
        ValueError
            When a client with ``frequency > 0`` has ``monetary_value <= 0`` (such a spend is not a purchase
            value), or when ``q <= 1`` makes the expectation infinite for some of the clients asked about.
        """
        params = self._check_fitted()
        x, spend = _check_spend(frequency, monetary_value)
        if np.any((x > 0) & (spend <= 0)):
            raise ValueError("monetary_value must be positive where frequency > 0")
        p, q, gamma = params["p"], params["q"], params["gamma"]
        denominator = p * x + q - 1.0
        if np.any(denominator <= 0):
            raise ValueError(
                f"q = {q:.3g} <= 1: the expected spend of clients with few repeat purchases is infinite "
                "(see fit_message_); the model cannot forecast their spend"
            )
        zbar = np.where(x > 0, spend, 0.0)
        return np.asarray(p * (gamma + x * zbar) / denominator, dtype=np.float64)

    def expected_revenue(
        self,
        beta_geo_model: BetaGeoModel,
        t: float,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary_value: ArrayLike,
        discount_rate: float = 0.0,
        *,
        time_unit_days: float = 1.0,
    ) -> FloatArray:
        """Return each client's expected revenue over the next ``t`` time units: purchases x spend per purchase.

        Method: Fader, Hardie & Lee (2005, "RFM and CLV"): expected purchases from the BG/NBD model
        (:meth:`BetaGeoModel.expected_purchases`) times the expected spend per purchase
        (:meth:`expected_average_spend`); the two are independent by the model's assumption.

        Parameters
        ----------
        beta_geo_model
            A fitted :class:`~salesfolio.analytics.clv.beta_geo.BetaGeoModel` in the same time unit.
        t
            Horizon in the models' time unit (e.g. 730.5 for 24 calendar months in days).
        frequency, recency, T, monetary_value
            The clients' histories.
        discount_rate
            Yearly discount rate (e.g. 0.08 for 8 %). Default 0.0: no discounting, plain expected revenue. When
            positive, the purchases expected in each calendar month (365.25 / 12 days) of the horizon are
            discounted by ``(1 + discount_rate) ** -(months_elapsed / 12)`` at the end of that month.
        time_unit_days
            Length of the models' time unit in days (1.0 for days, 7.0 for weeks). Used only for discounting.
        """
        spend = self.expected_average_spend(frequency, monetary_value)
        if discount_rate < 0 or not np.isfinite(discount_rate):
            raise ValueError("discount_rate must be a non-negative number")
        if discount_rate == 0.0:
            return beta_geo_model.expected_purchases(t, frequency, recency, T) * spend
        horizon = float(t)
        month = DAYS_PER_MONTH / time_unit_days
        edges = np.append(np.arange(0.0, horizon, month), horizon)
        previous = np.zeros_like(spend)
        discounted = np.zeros_like(spend)
        for edge in edges[1:]:
            cumulative = beta_geo_model.expected_purchases(edge, frequency, recency, T)
            years = edge * time_unit_days / DAYS_PER_YEAR
            discounted += (cumulative - previous) * (1.0 + discount_rate) ** -years
            previous = cumulative
        return discounted * spend


def _check_spend(frequency: ArrayLike, monetary_value: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x = as_float_array("frequency", frequency)
    spend = as_float_array("monetary_value", monetary_value)
    check_same_length({"frequency": x, "monetary_value": spend})
    check_non_negative("frequency", x)
    check_whole_numbers("frequency", x)
    return x, spend


def _log_likelihood_terms(params: FloatArray, x: FloatArray, zbar: FloatArray) -> FloatArray:
    p, q, gamma = params
    px = p * x
    return np.asarray(
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1.0) * np.log(zbar)
        + px * np.log(x)
        - (px + q) * np.log(gamma + x * zbar),
        dtype=np.float64,
    )


def _log_likelihood_and_gradient(
    params: FloatArray, x: FloatArray, zbar: FloatArray, weights: FloatArray
) -> tuple[float, FloatArray]:
    """Weighted log-likelihood and its gradient with respect to (p, q, gamma)."""
    p, q, gamma = params
    px = p * x
    log_total = np.log(gamma + x * zbar)
    digamma_pxq = special.digamma(px + q)
    d_p = x * (digamma_pxq - special.digamma(px) + np.log(zbar) + np.log(x) - log_total)
    d_q = digamma_pxq - special.digamma(q) + np.log(gamma) - log_total
    d_gamma = q / gamma - (px + q) / (gamma + x * zbar)
    ll = _log_likelihood_terms(params, x, zbar)
    gradient = np.array([weighted_sum(weights, d) for d in (d_p, d_q, d_gamma)])
    return weighted_sum(weights, ll), gradient


def _starting_points(zbar: FloatArray, weights: FloatArray) -> list[FloatArray]:
    """Starting log-parameters: a grid of (p, q) with gamma set so the population mean matches the data's."""
    mean_spend = weighted_sum(weights, zbar) / float(weights.sum())
    starts = []
    for p in (1.0, 4.0, 10.0):
        for q in (2.0, 4.0, 10.0):
            gamma = mean_spend * (q - 1.0) / p
            starts.append(np.clip(np.log([p, q, gamma]), -14.0, 14.0))
    return starts


def _weighted_correlation(a: FloatArray, b: FloatArray, weights: FloatArray) -> float:
    wsum = weights.sum()
    da = a - weighted_sum(weights, a) / wsum
    db = b - weighted_sum(weights, b) / wsum
    denominator = np.sqrt(weighted_sum(weights, da**2) * weighted_sum(weights, db**2))
    return weighted_sum(weights, da * db) / denominator if denominator > 0 else float("nan")
