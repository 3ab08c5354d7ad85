"""BG/NBD: the published CDNOW estimates, hand-worked examples, numerical safeguards and model properties."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special

from conftest import shared_data
from salesfolio.analytics.clv import BetaGeoModel, ConvergenceWarning, NotFittedError
from salesfolio.analytics.clv.beta_geo import (
    _Counts,
    _expected_if_alive,
    _expected_if_alive_quadrature,
    _log_likelihood_and_gradient,
)

PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LOG_LIKELIHOOD = -9582.4
CDNOW = {"r": 0.2426, "alpha": 4.4135, "a": 0.7930, "b": 2.4259}  # the same estimates to four digits


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    return pd.read_csv(shared_data("cdnow", "cdnow_customers_summary.csv"))


@pytest.fixture(scope="module")
def cdnow_model(cdnow_summary: pd.DataFrame) -> BetaGeoModel:
    return BetaGeoModel().fit(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])


# --- the published numbers -----------------------------------------------------------------------------------


def test_cdnow_reproduces_published_estimates(cdnow_model: BetaGeoModel, cdnow_summary: pd.DataFrame):
    # Fader, Hardie & Lee (2005), section 4: r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4 (weeks).
    assert cdnow_model.converged_, cdnow_model.fit_message_
    for name, value in PUBLISHED.items():
        assert cdnow_model.params_[name] == pytest.approx(value, rel=0.01), name
    assert cdnow_model.log_likelihood_ == pytest.approx(PUBLISHED_LOG_LIKELIHOOD, abs=0.1)
    assert cdnow_model.n_clients_ == len(cdnow_summary) == 2357
    assert cdnow_model.n_histories_ < len(cdnow_summary)  # the 1,411 one-time buyers share few histories


def test_cdnow_time_unit_only_rescales_alpha(cdnow_summary: pd.DataFrame, cdnow_model: BetaGeoModel):
    # The same data in days: alpha is 7 times larger, r, a, b and every forecast are unchanged.
    days = BetaGeoModel().fit(cdnow_summary["frequency"], cdnow_summary["recency"] * 7, cdnow_summary["T"] * 7)
    assert days.params_["alpha"] == pytest.approx(7 * cdnow_model.params_["alpha"], rel=1e-5)
    for name in ("r", "a", "b"):
        assert days.params_[name] == pytest.approx(cdnow_model.params_[name], rel=1e-5)
    # The density of the times changes by the Jacobian of the unit: log 7 per repeat purchase.
    shift = -math.log(7) * cdnow_summary["frequency"].sum()
    assert days.log_likelihood_ == pytest.approx(cdnow_model.log_likelihood_ + shift, abs=1e-4)
    weeks = cdnow_model.expected_purchases(52, [2, 0], [30.43, 0], [38.86, 38.86])
    in_days = days.expected_purchases(364, [2, 0], [30.43 * 7, 0], [38.86 * 7, 38.86 * 7])
    np.testing.assert_allclose(in_days, weeks, rtol=1e-4)


def test_grouped_rows_with_weights_fit_the_same_as_the_rows(cdnow_summary: pd.DataFrame, cdnow_model: BetaGeoModel):
    grouped = cdnow_summary.groupby(["frequency", "recency", "T"]).size().reset_index(name="n")
    model = BetaGeoModel().fit(grouped["frequency"], grouped["recency"], grouped["T"], weights=grouped["n"])
    assert model.n_clients_ == 2357
    for name in PUBLISHED:
        assert model.params_[name] == pytest.approx(cdnow_model.params_[name], rel=1e-6)
    assert model.log_likelihood_ == pytest.approx(cdnow_model.log_likelihood_, abs=1e-6)


# --- hand-worked examples ------------------------------------------------------------------------------------


def _hyp2f1_series(a: float, b: float, c: float, z: float, terms: int = 400) -> float:
    """The Gaussian hypergeometric series summed term by term (|z| < 1), independent of scipy."""
    total, term = 1.0, 1.0
    for n in range(terms):
        term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
        total += term
    return total


def test_log_likelihood_of_one_client_by_hand():
    r, alpha, a, b = 0.5, 3.0, 1.5, 2.0
    x, t_x, big_t = 2, 10.0, 20.0
    # Equation 6 term by term, with math.gamma on plain floats.
    a1 = math.gamma(r + x) * alpha**r / math.gamma(r)
    a2 = math.gamma(a + b) * math.gamma(b + x) / (math.gamma(b) * math.gamma(a + b + x))
    a3 = (1 / (alpha + big_t)) ** (r + x)
    a4 = a / (b + x - 1) * (1 / (alpha + t_x)) ** (r + x)
    expected = math.log(a1 * a2 * (a3 + a4))
    model = BetaGeoModel.from_params(r=r, alpha=alpha, a=a, b=b)
    assert model.log_likelihood([x], [t_x], [big_t])[0] == pytest.approx(expected, rel=1e-12)
    # x = 0: only the first term, and A2 = 1.
    expected_zero = math.log(alpha**r * (1 / (alpha + big_t)) ** r)
    assert model.log_likelihood([0], [0], [big_t])[0] == pytest.approx(expected_zero, rel=1e-12)


def test_probability_alive_by_hand():
    r, alpha, a, b = 0.5, 3.0, 1.5, 2.0
    model = BetaGeoModel.from_params(r=r, alpha=alpha, a=a, b=b)
    # Equation 11: 1 / (1 + a/(b+x-1) * ((alpha+T)/(alpha+t_x))**(r+x)) = 1 / (1 + 1.5/3 * (23/13)**2.5)
    expected = 1 / (1 + 0.5 * (23 / 13) ** 2.5)
    assert model.probability_alive([2], [10.0], [20.0])[0] == pytest.approx(expected, rel=1e-12)
    # Bought again at the very end: (alpha+T)/(alpha+t_x) = 1, so 1 / (1 + a/(b+x-1)).
    assert model.probability_alive([2], [20.0], [20.0])[0] == pytest.approx(1 / 1.5, rel=1e-12)


def test_probability_alive_is_one_without_repeat_purchases():
    # By the model's definition: dropout happens only after a repeat purchase (docstring and docs/models.md).
    model = BetaGeoModel.from_params(**CDNOW)
    np.testing.assert_array_equal(model.probability_alive([0, 0], [0, 0], [1.0, 1000.0]), [1.0, 1.0])


def test_expected_purchases_by_hand():
    # Equation 10 with the 2F1 summed as a series, for a CDNOW customer (x=2, t_x=30.43, T=38.86) and t=39 weeks.
    r, alpha, a, b = CDNOW["r"], CDNOW["alpha"], CDNOW["a"], CDNOW["b"]
    x, t_x, big_t, t = 2, 30.43, 38.86, 39.0
    z = t / (alpha + big_t + t)
    hyp = _hyp2f1_series(r + x, b + x, a + b + x - 1, z)
    numerator = (a + b + x - 1) / (a - 1) * (1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp)
    denominator = 1 + a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x)
    model = BetaGeoModel.from_params(**CDNOW)
    result = model.expected_purchases(t, [x], [t_x], [big_t])[0]
    assert result == pytest.approx(numerator / denominator, rel=1e-10)
    assert result == pytest.approx(1.226, abs=5e-4)


def test_expected_purchases_new_by_hand():
    # Equation 9 with the series; and for a short t it is about the mean purchase rate r/alpha times t.
    r, alpha, a, b = CDNOW["r"], CDNOW["alpha"], CDNOW["a"], CDNOW["b"]
    model = BetaGeoModel.from_params(**CDNOW)
    t = 39.0
    hyp = _hyp2f1_series(r, b, a + b - 1, t / (alpha + t))
    expected = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)
    assert model.expected_purchases_new([t])[0] == pytest.approx(expected, rel=1e-10)
    assert model.expected_purchases_new([1e-4])[0] == pytest.approx(r / alpha * 1e-4, rel=1e-3)
    assert model.expected_purchases_new([0.0])[0] == 0.0


def test_analytic_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.poisson(2.0, 300).astype(float)
    big_t = rng.uniform(10, 50, 300)
    t_x = np.where(x > 0, big_t * rng.uniform(0.1, 1.0, 300), 0.0)
    params = np.array([0.7, 5.0, 0.9, 2.5])
    counts, weights = _Counts(x), np.ones(300)
    _, gradient = _log_likelihood_and_gradient(params, counts, t_x, big_t, weights)
    for i in range(4):
        step = np.zeros(4)
        step[i] = 1e-6 * params[i]
        up = _log_likelihood_and_gradient(params + step, counts, t_x, big_t, weights)[0]
        down = _log_likelihood_and_gradient(params - step, counts, t_x, big_t, weights)[0]
        assert gradient[i] == pytest.approx((up - down) / (2 * step[i]), rel=1e-5)


# --- numerical safeguards ------------------------------------------------------------------------------------


def _adaptive_reference(t: float, k: float, s: float, a: float, b: float) -> float:
    """E[(1 - (1 + p t/s)**-k) / p] for p ~ Beta(a, b) by adaptive quadrature (slow, one value)."""

    def integrand(p: float) -> float:
        density = math.exp((a - 1) * math.log(p) + (b - 1) * math.log1p(-p) - special.betaln(a, b))
        return density * -math.expm1(-k * math.log1p(p * t / s)) / p

    return integrate.quad(integrand, 0, 1, limit=500, epsabs=0, epsrel=1e-11, points=[min(0.5, s / t)])[0]


@pytest.mark.parametrize(
    ("t", "x", "big_t", "r", "alpha", "a", "b"),
    [
        (1040.0, 200, 38.86, 0.243, 4.414, 0.793, 2.426),  # the Pfaff form of 2F1 is NaN here
        (1e4, 500, 38.86, 0.243, 4.414, 0.793, 2.426),  # both closed forms are NaN here
        (730.5, 1200, 1400.0, 0.7, 60.0, 2.35, 2.34),  # a daily buyer over four years
        (365.0, 40, 700.0, 1.2, 80.0, 1.00001, 3.0),  # a next to 1: the closed forms cancel
    ],
)
def test_expected_purchases_is_finite_and_right_where_hyp2f1_fails(t, x, big_t, r, alpha, a, b):
    value = _expected_if_alive(np.array([t]), np.array([r + x]), np.array([alpha + big_t]), a, np.array([b + x]))[0]
    assert np.isfinite(value)
    assert value == pytest.approx(_adaptive_reference(t, r + x, alpha + big_t, a, b + x), rel=1e-7)


def test_quadrature_agrees_with_closed_form_where_that_is_accurate():
    rng = np.random.default_rng(7)
    n = 200
    t = rng.uniform(1, 400, n)
    k = rng.uniform(0.2, 30, n)
    s = rng.uniform(5, 600, n)
    b = rng.uniform(0.5, 40, n)
    for a in (0.3, 0.793, 2.5):
        closed = _expected_if_alive(t, k, s, a, b)
        numeric = _expected_if_alive_quadrature(t, k, s, a, b)
        np.testing.assert_allclose(numeric, closed, rtol=1e-8)


def test_predicting_before_fit_raises():
    with pytest.raises(NotFittedError, match=r"BetaGeoModel is not fitted; call fit\(\) first"):
        BetaGeoModel().expected_purchases(10, [1], [5], [10])
    with pytest.raises(NotFittedError, match="not fitted"):
        BetaGeoModel().probability_alive([1], [5], [10])


@pytest.mark.parametrize(
    ("frequency", "recency", "big_t", "message"),
    [
        ([1, -1], [1, 0], [2, 2], "frequency must be non-negative"),
        ([1.5], [1], [2], "frequency must hold whole numbers"),
        ([1], [3], [2], "recency must not exceed T"),
        ([0], [1], [2], "recency must be 0 where frequency is 0"),
        ([1, 2], [1], [2, 3], "frequency, recency, T must have the same length"),
        ([1, np.nan], [1, 1], [2, 2], "frequency contains missing or infinite values"),
        ([0, 0], [0, 0], [2, 3], "no client has a repeat purchase"),
    ],
)
def test_invalid_input_is_refused_with_the_reason(frequency, recency, big_t, message):
    with pytest.raises(ValueError, match=message):
        BetaGeoModel().fit(frequency, recency, big_t)


def test_a_fit_that_runs_to_a_bound_says_so():
    # Everybody bought regularly up to the last day: no sign of dropout, so b (and a/b) run off to the bound.
    rng = np.random.default_rng(0)
    big_t = rng.uniform(50, 100, 500)
    x = np.round(big_t / 5)
    with pytest.warns(ConvergenceWarning, match="ran to the bound"):
        model = BetaGeoModel().fit(x, big_t, big_t)
    assert not model.converged_
    assert "no client appears to have stopped buying" in model.fit_message_
    assert "purchase rates look all alike" in model.fit_message_
    assert "NOT CONVERGED" in repr(model)


def test_a_good_fit_issues_no_warning(cdnow_summary: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = BetaGeoModel().fit(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    assert model.converged_
    assert model.fit_message_ == "converged"


def test_from_params_refuses_bad_parameters():
    with pytest.raises(TypeError, match="b"):
        BetaGeoModel.from_params(r=1, alpha=1, a=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="positive and finite: alpha"):
        BetaGeoModel.from_params(r=1, alpha=-1, a=1, b=1)


def test_init_stores_options_only():
    model = BetaGeoModel(penalizer=0.1, tol=1e-8, maxiter=50)
    assert model.get_params() == {"penalizer": 0.1, "tol": 1e-8, "maxiter": 50}
    assert not model.is_fitted
    assert "not fitted" in repr(model)


# --- properties ----------------------------------------------------------------------------------------------

params_strategy = st.fixed_dictionaries(
    {
        "r": st.floats(0.05, 20),
        "alpha": st.floats(0.1, 500),
        "a": st.floats(0.05, 20),
        "b": st.floats(0.05, 50),
    }
)


@st.composite
def histories(draw: st.DrawFn) -> tuple[int, float, float]:
    big_t = draw(st.floats(0.0, 2000))
    x = draw(st.integers(0, 1500))
    t_x = 0.0 if x == 0 else draw(st.floats(0.0, big_t))
    return x, t_x, big_t


@settings(max_examples=150, deadline=None)
@given(params=params_strategy, history=histories())
def test_probability_alive_is_a_probability(params, history):
    x, t_x, big_t = history
    p_alive = BetaGeoModel.from_params(**params).probability_alive([x], [t_x], [big_t])[0]
    assert 0.0 <= p_alive <= 1.0


@settings(max_examples=150, deadline=None)
@given(
    params=params_strategy,
    history=histories(),
    horizons=st.lists(st.floats(0.0, 5000), min_size=2, max_size=4),
)
def test_expected_purchases_non_negative_and_increasing_in_t(params, history, horizons):
    x, t_x, big_t = history
    model = BetaGeoModel.from_params(**params)
    ts = np.sort(np.array(horizons))
    n = len(ts)
    values = model.expected_purchases(ts, [x] * n, [t_x] * n, [big_t] * n)
    assert np.all(np.isfinite(values))
    assert np.all(values >= 0)
    assert np.all(np.diff(values) >= -1e-9 * np.maximum(values[1:], 1.0))
    new = model.expected_purchases_new(ts)
    assert np.all(new >= 0)
    assert np.all(np.diff(new) >= -1e-9 * np.maximum(new[1:], 1.0))


@pytest.mark.parametrize("n", [0, 1, 7, 5_000])
def test_group_histories_equals_numpy_unique_of_rows(n: int):
    """The lexsort grouping gives the rows, order and weights of ``np.unique(axis=0)`` (what it replaced)."""
    from salesfolio.analytics.clv.base import group_histories

    rng = np.random.default_rng(n)
    columns = [rng.integers(0, 9, n) * 1.0, rng.integers(0, 40, n) * 0.5, rng.integers(0, 30, n) * 1.0]
    weights = rng.random(n)
    weights[rng.integers(0, max(n, 1), n // 10)] = 0.0  # histories whose weights sum to 0 are dropped
    unique, inverse = np.unique(np.column_stack(columns), axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=weights, minlength=len(unique))
    keep = summed > 0
    rows, counts = group_histories(columns, weights)
    assert len(rows) == 3
    for i, column in enumerate(rows):
        np.testing.assert_array_equal(column, unique[keep, i])
    np.testing.assert_array_equal(counts, summed[keep])
