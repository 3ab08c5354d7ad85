"""Gamma-Gamma: the published CDNOW estimates, hand-worked examples, exclusions and expected revenue."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import shared_data
from salesfolio.analytics.clv import (
    DAYS_PER_MONTH,
    BetaGeoModel,
    ConvergenceWarning,
    GammaGammaModel,
    NotFittedError,
)
from salesfolio.analytics.clv.gamma_gamma import _log_likelihood_and_gradient

PUBLISHED = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(shared_data("cdnow", "cdnow_customers_summary_with_transactions.csv"))


@pytest.fixture(scope="module")
def cdnow_model(cdnow: pd.DataFrame) -> GammaGammaModel:
    return GammaGammaModel().fit(cdnow["x"], cdnow["zbar"])


def test_cdnow_reproduces_published_estimates(cdnow_model: GammaGammaModel):
    # Fader, Hardie & Lee (2005), "RFM and CLV": p=6.25, q=3.74, gamma=15.44 on the 946 customers with x > 0.
    assert cdnow_model.converged_, cdnow_model.fit_message_
    for name, value in PUBLISHED.items():
        assert cdnow_model.params_[name] == pytest.approx(value, rel=0.01), name
    assert cdnow_model.n_clients_ == 946
    assert cdnow_model.n_excluded_ == 2357 - 946
    # The model assumes spend and frequency independent; on CDNOW they are nearly so (the paper reports 0.11).
    assert cdnow_model.spend_frequency_correlation_ == pytest.approx(0.11, abs=0.01)


def test_restricting_to_repeat_buyers_by_hand_gives_the_same_fit(cdnow: pd.DataFrame, cdnow_model: GammaGammaModel):
    repeat = cdnow[cdnow["x"] > 0]
    model = GammaGammaModel().fit(repeat["x"], repeat["zbar"])
    assert model.n_excluded_ == 0
    assert model.params_ == pytest.approx(cdnow_model.params_, rel=1e-9)


def test_log_likelihood_of_one_client_by_hand():
    p, q, gamma = 6.0, 4.0, 15.0
    x, zbar = 3, 20.0
    # Density of the mean of x gamma(p, nu) spends with nu ~ gamma(q, gamma), written out with math.gamma.
    density = (
        math.gamma(p * x + q)
        / (math.gamma(p * x) * math.gamma(q))
        * gamma**q
        * x ** (p * x)
        * zbar ** (p * x - 1)
        / (gamma + x * zbar) ** (p * x + q)
    )
    model = GammaGammaModel.from_params(p=p, q=q, gamma=gamma)
    assert model.log_likelihood([x], [zbar])[0] == pytest.approx(math.log(density), rel=1e-12)


def test_expected_average_spend_by_hand():
    p, q, gamma = 6.0, 4.0, 15.0
    model = GammaGammaModel.from_params(p=p, q=q, gamma=gamma)
    population_mean = p * gamma / (q - 1)  # 30.0
    # x = 3, zbar = 20: weight of the client's own mean px / (px + q - 1) = 18/21.
    own_weight = 18 / 21
    expected = (1 - own_weight) * population_mean + own_weight * 20.0
    result = model.expected_average_spend([0, 3], [0.0, 20.0])
    np.testing.assert_allclose(result, [population_mean, expected], rtol=1e-12)
    # x = 0 gives the population mean whatever monetary_value says.
    assert model.expected_average_spend([0], [999.0])[0] == pytest.approx(30.0)


def test_analytic_gradient_matches_finite_differences(cdnow: pd.DataFrame):
    repeat = cdnow[cdnow["x"] > 0]
    x, zbar = repeat["x"].to_numpy(float), repeat["zbar"].to_numpy(float)
    params, weights = np.array([5.0, 3.0, 12.0]), np.ones(len(x))
    _, gradient = _log_likelihood_and_gradient(params, x, zbar, weights)
    for i in range(3):
        step = np.zeros(3)
        step[i] = 1e-6 * params[i]
        up = _log_likelihood_and_gradient(params + step, x, zbar, weights)[0]
        down = _log_likelihood_and_gradient(params - step, x, zbar, weights)[0]
        assert gradient[i] == pytest.approx((up - down) / (2 * step[i]), rel=1e-5)


def test_clients_without_positive_spend_are_excluded_and_counted():
    rng = np.random.default_rng(5)
    x = rng.integers(1, 6, 400)
    zbar = rng.gamma(6.0, 5.0, 400)
    frequency = np.concatenate([x, [0, 0, 2, 3]])
    spend = np.concatenate([zbar, [0.0, 0.0, -5.0, 0.0]])  # credit notes larger than the purchases
    model = GammaGammaModel().fit(frequency, spend)
    assert model.n_excluded_ == 4
    assert model.n_clients_ == 400
    assert model.params_ == pytest.approx(GammaGammaModel().fit(x, zbar).params_, rel=1e-9)
    with pytest.raises(ValueError, match="monetary_value must be positive where frequency > 0"):
        model.expected_average_spend([2], [-5.0])


def test_heavy_tailed_spend_is_flagged_not_forecast():
    # nu ~ gamma(q=0.7): the population mean spend is infinite, so the fit must say so.
    rng = np.random.default_rng(1)
    nu = rng.gamma(0.7, 1 / 10.0, 3000)
    x = rng.integers(1, 8, 3000)
    zbar = rng.gamma(4.0 * x, 1 / (nu * x))
    with pytest.warns(ConvergenceWarning, match=r"q = 0\.694 <= 1"):
        model = GammaGammaModel().fit(x, zbar)
    assert not model.converged_
    with pytest.raises(ValueError, match="infinite"):
        model.expected_average_spend([0], [0.0])


def test_too_few_clients_and_invalid_input():
    with pytest.raises(ValueError, match="at least two clients with frequency > 0 and monetary_value > 0; 1 found"):
        GammaGammaModel().fit([0, 2, 0], [0.0, 10.0, 0.0])
    with pytest.raises(ValueError, match="frequency, monetary_value must have the same length"):
        GammaGammaModel().fit([1, 2], [10.0])
    with pytest.raises(ValueError, match="weights must have one value per client"):
        GammaGammaModel().fit([1, 2], [10.0, 20.0], weights=[1.0])


def test_predicting_before_fit_raises():
    with pytest.raises(NotFittedError, match=r"GammaGammaModel is not fitted; call fit\(\) first"):
        GammaGammaModel().expected_average_spend([1], [10.0])


def test_expected_revenue_is_purchases_times_spend():
    bg = BetaGeoModel.from_params(r=0.5, alpha=30.0, a=0.8, b=2.5)
    gg = GammaGammaModel.from_params(p=6.0, q=4.0, gamma=15.0)
    history = ([3, 0], [200.0, 0.0], [300.0, 100.0], [25.0, 0.0])
    revenue = gg.expected_revenue(bg, 730.5, *history)
    purchases = bg.expected_purchases(730.5, *history[:3])
    spend = gg.expected_average_spend(history[0], history[3])
    np.testing.assert_allclose(revenue, purchases * spend, rtol=1e-12)


def test_discounted_revenue_month_by_month_by_hand():
    bg = BetaGeoModel.from_params(r=0.5, alpha=30.0, a=0.8, b=2.5)
    gg = GammaGammaModel.from_params(p=6.0, q=4.0, gamma=15.0)
    history = ([3], [200.0], [300.0], [25.0])
    horizon = 2.5 * DAYS_PER_MONTH  # two whole calendar months and a half
    ends = [DAYS_PER_MONTH, 2 * DAYS_PER_MONTH, horizon]
    cumulative = [bg.expected_purchases(e, *history[:3])[0] for e in ends]
    steps = np.diff([0.0, *cumulative])
    factors = [1.08 ** -(e / 365.25) for e in ends]
    spend = gg.expected_average_spend(history[0], history[3])[0]
    expected = float(np.sum(steps * factors) * spend)
    assert gg.expected_revenue(bg, horizon, *history, discount_rate=0.08)[0] == pytest.approx(expected, rel=1e-12)
    # In weeks the same horizon and rate give the same value.
    bg_weeks = BetaGeoModel.from_params(r=0.5, alpha=30.0 / 7, a=0.8, b=2.5)
    weeks = gg.expected_revenue(
        bg_weeks, horizon / 7, [3], [200.0 / 7], [300.0 / 7], [25.0], discount_rate=0.08, time_unit_days=7.0
    )
    assert weeks[0] == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="discount_rate must be a non-negative number"):
        gg.expected_revenue(bg, horizon, *history, discount_rate=-0.1)


@settings(max_examples=100, deadline=None)
@given(
    p=st.floats(0.1, 50),
    q=st.floats(1.01, 50),
    gamma=st.floats(0.1, 1e4),
    x=st.integers(0, 500),
    zbar=st.floats(0.01, 1e6),
)
def test_expected_spend_lies_between_population_mean_and_own_mean(p, q, gamma, x, zbar):
    model = GammaGammaModel.from_params(p=p, q=q, gamma=gamma)
    spend = model.expected_average_spend([x], [zbar])[0]
    population = p * gamma / (q - 1)
    low, high = (min(population, zbar), max(population, zbar)) if x > 0 else (population, population)
    assert low * (1 - 1e-9) <= spend <= high * (1 + 1e-9)
