"""The churn step's cheaper computations give the numbers of the plain ones, and the training sample is what it says.

Reasons tree by tree against occlusion with the whole model, the bootstrap's AUC from counts against ``auc`` on the
resampled arrays, ``top_k_expected`` by selection against a full sort, and the stratified training sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier

from salesfolio.analytics import churn_reasons
from salesfolio.analytics.churn import ChurnModel, ChurnSettings, stratified_sample
from salesfolio.analytics.churn_backtest import ResampledAuc, auc, gain_interval, top_k_expected
from salesfolio.analytics.churn_reasons import occlusion_deltas
from salesfolio.analytics.config import AnalysisConfig, render_toml_section


def planted(n: int, seed: int, cutoffs: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Features with a planted outcome (own-rhythm gap, lost categories), some missing margins, ``cutoffs`` dates."""
    rng = np.random.default_rng(seed)
    gap = rng.lognormal(np.log(30.0), 0.9, n)
    ratio = rng.lognormal(0.0, 0.7, n)
    lost = rng.poisson(0.4, n).astype(float)
    outcome = rng.random(n) < 1 / (1 + np.exp(-(-2.0 + 2.2 * np.log(ratio) * (ratio > 1) + 0.9 * lost)))
    frame = pd.DataFrame(
        {
            "client_id": [f"c{i:06d}" for i in range(n)],
            "cutoff": np.arange(n) % cutoffs,
            "recency_days": ratio * gap,
            "median_gap_days": gap,
            "order_gap_ratio": ratio,
            "lost_categories": lost,
            "revenue_ttm": rng.lognormal(np.log(20_000.0), 1.0, n),
            "growth": rng.normal(0.0, 0.3, n),
            "margin_pct_ttm": np.where(rng.random(n) < 0.3, np.nan, rng.normal(0.25, 0.05, n)),
        }
    )
    return frame, outcome


def old_reasons(model: ChurnModel, X: pd.DataFrame, top: int) -> pd.DataFrame:
    """``ChurnModel.reasons`` as it was before the tree-by-tree path: the whole model once per feature."""
    from salesfolio.analytics.churn import _feature_matrix, _population_medians, _populations, percentile_ranks

    raw = _feature_matrix(X, model.features_)
    matrix = percentile_ranks(raw, _populations(X)) if model.population_ranks else raw
    if model.population_ranks:
        typical_raw = _population_medians(raw, _populations(X))
        typical_model = np.full(len(model.features_), 0.5)
    else:
        typical_model = np.asarray([model.reference_[c] for c in model.features_])
        typical_raw = np.broadcast_to(typical_model, raw.shape)
    base = model.estimator_.predict_proba(matrix)[:, 1]
    deltas = np.empty_like(matrix)
    for i in range(len(model.features_)):
        kept = matrix[:, i].copy()
        matrix[:, i] = typical_model[i]
        deltas[:, i] = base - model.estimator_.predict_proba(matrix)[:, 1]
        matrix[:, i] = kept
    return churn_reasons.reason_frame(X.client_id.to_numpy(), list(model.features_), raw, typical_raw, deltas, top)


# -- reasons ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "block"),
    [
        ({}, 20_000),  # sigmoid calibration (few positives), percentile ranks
        ({"calibration": "isotonic"}, 20_000),
        ({"population_ranks": False}, 20_000),  # typical = training medians, raw values with NaN
        ({}, 97),  # several blocks of clients, the last one short
    ],
)
def test_reasons_tree_by_tree_are_bitwise_the_plain_ones(
    options: dict[str, Any], block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = planted(1500, seed=11, cutoffs=2)
    model = ChurnModel(max_iter=80, **options).fit(X, y)
    monkeypatch.setattr(churn_reasons, "ROWS_PER_BLOCK", block)
    new = model.reasons(X, top=3)
    old = old_reasons(model, X, top=3)
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    # and the differences themselves, every client and feature, were computed by the trees
    from salesfolio.analytics.churn import _feature_matrix, _populations, percentile_ranks

    raw = _feature_matrix(X, model.features_)
    matrix = percentile_ranks(raw, _populations(X)) if model.population_ranks else raw
    typical = (
        np.full(len(model.features_), 0.5)
        if model.population_ranks
        else np.asarray([model.reference_[c] for c in model.features_])
    )
    base, deltas, path = occlusion_deltas(model.estimator_, matrix, typical, model._probability)
    _, plain_deltas, plain_path = occlusion_deltas(None, matrix, typical, model._probability)
    assert (path, plain_path) == ("trees", "plain")
    np.testing.assert_array_equal(deltas, plain_deltas)
    np.testing.assert_array_equal(base, model.predict_proba(X).to_numpy())
    assert (deltas != 0).any(axis=0).sum() >= 3  # the planted features do move the probability


def test_reasons_fall_back_to_the_plain_way_when_the_check_fails() -> None:
    X, y = planted(800, seed=12)
    model = ChurnModel(max_iter=40).fit(X, y)
    matrix = np.asarray(X[model.features_].rank(pct=True).to_numpy(), dtype=np.float64)
    typical = np.full(matrix.shape[1], 0.5)

    def halved(m: np.ndarray) -> np.ndarray:  # not what the trees compute: the guard must notice
        return np.asarray(model.estimator_.predict_proba(m)[:, 1] / 2)

    base, deltas, path = occlusion_deltas(model.estimator_, matrix, typical, halved)
    assert path == "plain"
    np.testing.assert_array_equal(base, halved(matrix))
    np.testing.assert_array_equal(
        deltas[:, 0], base - halved(np.column_stack([typical[:1].repeat(len(X)), matrix[:, 1:]]))
    )
    # an estimator of another shape (three calibrated boosters averaged) is not taken apart either
    ensemble = CalibratedClassifierCV(HistGradientBoostingClassifier(max_iter=20), cv=3, ensemble=True)
    ensemble.fit(matrix, y)
    _, ensemble_deltas, ensemble_path = occlusion_deltas(
        ensemble, matrix, typical, lambda m: np.asarray(ensemble.predict_proba(m)[:, 1])
    )
    assert ensemble_path == "plain" and ensemble_deltas.shape == matrix.shape


# -- bootstrap metrics --------------------------------------------------------------------------------------------
def old_top_k_expected(score: np.ndarray, values: np.ndarray, k: int) -> float:
    """``top_k_expected`` as it was: the threshold by a full sort."""
    if k <= 0 or len(score) == 0:
        return 0.0
    k = min(k, len(score))
    s = np.where(np.isnan(score), -np.inf, score)
    threshold = np.sort(s)[::-1][k - 1]
    above, tied = s > threshold, s == threshold
    return float(values[above].sum() + (k - int(above.sum())) * values[tied].sum() / tied.sum())


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=300),
    levels=st.integers(min_value=1, max_value=50),
    missing=st.floats(min_value=0.0, max_value=0.5),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_auc_from_counts_and_top_k_by_selection_are_bitwise_the_old_ones(
    n: int, levels: int, missing: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    score = rng.integers(0, levels, n).astype(float) / levels  # few levels: many ties
    score[rng.random(n) < missing] = np.nan
    outcome = rng.random(n) < 0.3
    values = rng.lognormal(5.0, 2.0, n)
    ranked = ResampledAuc(outcome, score)
    assert ranked.auc(np.ones(n, dtype=np.int64)) == auc(outcome, score)
    for _ in range(5):
        rows = rng.integers(0, n, n)
        assert ranked.auc(np.bincount(rows, minlength=n)) == auc(outcome[rows], score[rows])
        k = int(rng.integers(0, n + 2))
        assert top_k_expected(score[rows], values[rows], k) == old_top_k_expected(score[rows], values[rows], k)


def test_bootstrap_interval_of_the_auc_gain_is_unchanged() -> None:
    rng = np.random.default_rng(5)
    n = 5000
    outcome = rng.random(n) < 0.25
    model = np.where(outcome, rng.beta(3, 2, n), rng.beta(2, 3, n))
    recency = np.round(rng.exponential(90, n) + 40 * outcome)  # whole days: ties
    recency[rng.random(n) < 0.05] = np.nan

    def old_gain(i: np.ndarray) -> float | None:
        a, b = auc(outcome[i], model[i]), auc(outcome[i], recency[i])
        return None if a is None or b is None else a - b

    fast_model, fast_recency = ResampledAuc(outcome, model), ResampledAuc(outcome, recency)

    def new_gain(i: np.ndarray) -> float | None:
        counts = np.bincount(i, minlength=n)
        a, b = fast_model.auc(counts), fast_recency.auc(counts)
        return None if a is None or b is None else a - b

    assert gain_interval(new_gain, n, 50, 0.9, 0) == gain_interval(old_gain, n, 50, 0.9, 0)


# -- the training sample ------------------------------------------------------------------------------------------
def test_stratified_sample_keeps_each_cutoffs_base_rate() -> None:
    rng = np.random.default_rng(3)
    populations = np.repeat([0, 1, 2], [10_000, 4_000, 900])
    outcome = rng.random(len(populations)) < np.where(populations == 1, 0.1, 0.35)
    rows = stratified_sample(populations, outcome, 2_000, 7)
    assert (np.diff(rows) > 0).all()  # ascending, no row twice
    for population, expected in ((0, 2_000), (1, 2_000), (2, 900)):
        mine = populations == population
        picked = rows[populations[rows] == population]
        assert abs(len(picked) - expected) <= 1
        assert abs(outcome[picked].mean() - outcome[mine].mean()) < 1 / expected + 1e-12
    assert (rows[populations[rows] == 2] == np.flatnonzero(populations == 2)).all()  # small: kept whole
    np.testing.assert_array_equal(rows, stratified_sample(populations, outcome, 2_000, 7))
    assert not np.array_equal(rows, stratified_sample(populations, outcome, 2_000, 8))
    with pytest.raises(ValueError, match=r"^max_rows must be at least 1, got 0$"):
        stratified_sample(populations, outcome, 0, 7)


def test_model_on_a_sample_ranks_on_the_whole_population() -> None:
    X, y = planted(3000, seed=13, cutoffs=2)
    whole = ChurnModel(max_iter=60).fit(X, y)
    unsampled = ChurnModel(max_iter=60, max_rows_per_population=1500).fit(X, y)  # populations of 1,500: no sample
    np.testing.assert_array_equal(whole.predict_proba(X).to_numpy(), unsampled.predict_proba(X).to_numpy())
    assert whole.n_fit_rows_ == unsampled.n_fit_rows_ == 3000
    sampled = ChurnModel(max_iter=60, max_rows_per_population=600).fit(X, y)
    assert sampled.n_clients_ == 3000 and sampled.n_fit_rows_ == 1200
    again = ChurnModel(max_iter=60, max_rows_per_population=600).fit(X, y)
    np.testing.assert_array_equal(sampled.predict_proba(X).to_numpy(), again.predict_proba(X).to_numpy())
    # the ranks are taken over all 1,500 clients of each cut-off, then the sample drawn: the same model as one
    # fitted on those ranks, given as plain values, of the sampled rows
    from salesfolio.analytics.churn import _feature_matrix, _populations, percentile_ranks

    ranks = percentile_ranks(_feature_matrix(X, sampled.features_), _populations(X))
    ranked = pd.DataFrame(ranks, columns=sampled.features_).assign(client_id=X.client_id)
    rows = stratified_sample(_populations(X), y, 600, 0)
    by_hand = ChurnModel(max_iter=60, population_ranks=False).fit(ranked.iloc[rows], y[rows])
    # The boosters are the same; compared on the sampled rows, because elsewhere a rank can fall exactly on a
    # split, where the 12-digit rounding of plain values decides the side. The calibration's fold boosters meet
    # such ties on their held-out halves, so the calibrated probabilities agree closely, not bit for bit.
    booster = sampled.estimator_.calibrated_classifiers_[0].estimator
    hand_booster = by_hand.estimator_.calibrated_classifiers_[0].estimator
    hand_ranks = _feature_matrix(ranked.iloc[rows], sampled.features_)  # as the plain-values model reads them
    np.testing.assert_array_equal(booster.decision_function(ranks[rows]), hand_booster.decision_function(hand_ranks))
    np.testing.assert_allclose(
        sampled.estimator_.predict_proba(ranks[rows])[:, 1],
        by_hand.predict_proba(ranked.iloc[rows]).to_numpy(),
        rtol=1e-3,
    )


def test_training_sample_is_a_workspace_setting() -> None:
    assert ChurnSettings().max_training_rows_per_cutoff == 20_000
    assert ChurnSettings().max_rows_per_population == 20_000
    assert ChurnSettings(max_training_rows_per_cutoff=0).max_rows_per_population is None
    analysis = AnalysisConfig.model_validate({"churn": {"max_training_rows_per_cutoff": 5000}})
    assert ChurnSettings.from_config(analysis).max_rows_per_population == 5000
    assert "max_training_rows_per_cutoff = 20000" in render_toml_section(AnalysisConfig())
    with pytest.raises(ValueError, match=r"^churn.max_training_rows_per_cutoff must be a whole number >= 0, got -1$"):
        ChurnSettings(max_training_rows_per_cutoff=-1)
