"""Per-client reasons of the churn model: one-at-a-time occlusion, computed tree by tree where that is exact.

:meth:`salesfolio.analytics.churn.ChurnModel.reasons` replaces each feature of every client in turn by the
typical value and predicts again; the difference is the feature's contribution (method in that docstring). This
module does the arithmetic and writes the sentences.

Why tree by tree (:func:`occlusion_deltas`): the booster's raw prediction is its baseline plus the outputs of its
trees, added one after the other in the order the trees were grown (scikit-learn's ``_raw_predict``), and the
calibration maps that sum to a probability row by row. Replacing feature ``j`` changes only the trees that split
on ``j`` (about 40 % of the trees per feature on the benchmark data), so the outputs of the others are computed
once and kept; for each feature only its trees are predicted again, and the sum is formed anew in the original
order, which gives bitwise the same numbers as predicting the whole model again. It reads scikit-learn's private
predictor objects, so it is guarded: it is used only when its probabilities without occlusion equal
``predict_proba``'s exactly, and otherwise (another scikit-learn, another estimator) the plain way runs.

>>> _format("days", 45.2), _format("signed_share", -0.125), _format("money", float("nan"))
('45 days', '-12%', 'not known')
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]

REASON_TOLERANCE = 1e-4
"""Changes of predicted probability smaller than this (0.01 points) are not shown as reasons."""

ROWS_PER_BLOCK = 20_000
"""Clients scored at once on the tree-by-tree path: its memory is one float per client and tree of a block."""

_FORMATS: dict[str, tuple[str, str]] = {
    # column -> (words, format kind); kinds: days, ratio, number, share, signed_share, money
    "recency_days": ("days since the last purchase", "days"),
    "order_gap_ratio": ("time since the last order in the client's usual gaps", "ratio"),
    "median_gap_days": ("usual days between orders", "days"),
    "frequency": ("orders per year", "number"),
    "tenure_days": ("days since the first purchase", "days"),
    "growth": ("revenue growth over 12 months", "signed_share"),
    "trend_slope": ("monthly revenue trend", "signed_share"),
    "revenue_ttm": ("revenue in the last 12 months", "money"),
    "revenue_prior_ttm": ("revenue in the 12 months before", "money"),
    "orders_ttm": ("orders in the last 12 months", "number"),
    "orders_prior_ttm": ("orders in the 12 months before", "number"),
    "avg_order_value": ("average order value", "money"),
    "categories_ttm": ("product categories bought", "number"),
    "lost_categories": ("categories no longer bought", "number"),
    "margin_pct_ttm": ("margin", "share"),
    "margin_erosion": ("margin erosion", "signed_share"),
    "returns_share": ("returns", "share"),
    "share_of_wallet": ("share of wallet", "share"),
    "relationship": ("relationship score", "number"),
    "pipeline_weighted": ("weighted open pipeline", "money"),
    "days_since_last_opportunity": ("days since the last opportunity", "days"),
    "win_rate": ("win rate", "share"),
    "hours_ttm": ("sales hours in the last 12 months", "number"),
    "base_revenue": ("revenue in the recent months", "money"),
    "recent_share": ("share of the year's revenue made in the recent months", "share"),
}

Path = Literal["trees", "plain"]


# -- the occlusion differences -----------------------------------------------------------------------------------
def occlusion_deltas(
    estimator: Any,
    matrix: FloatArray,
    typical: FloatArray,
    probability: Callable[[FloatArray], FloatArray],
    n_threads: int = 1,
) -> tuple[FloatArray, FloatArray, Path]:
    """``p(row) - p(row with column j set to typical[j])`` for every row and column of ``matrix``.

    ``estimator`` is the fitted ``CalibratedClassifierCV`` of the churn model and ``probability`` its
    probability of the positive class (what the model scores with, thread limits included). Returns the
    probabilities of the rows as they are, the differences (same shape as ``matrix``) and which way they were
    computed: ``"trees"`` (only the trees that split on a column predicted again; see the module docstring) or
    ``"plain"`` (the whole model predicted once per column). Both give the same numbers. ``n_threads``: OpenMP
    threads of the tree predictions on the tree-by-tree path (each row's result does not depend on it).
    """
    base = probability(matrix)
    parts = _tree_parts(estimator, n_threads)
    if parts is not None:
        deltas = _deltas_by_trees(parts, matrix, typical, base)
        if deltas is not None:
            return base, deltas, "trees"
    return base, _deltas_plain(matrix, typical, base, probability), "plain"


def _deltas_plain(
    matrix: FloatArray, typical: FloatArray, base: FloatArray, probability: Callable[[FloatArray], FloatArray]
) -> FloatArray:
    occluded = matrix.copy()
    deltas = np.empty_like(matrix)
    for j in range(matrix.shape[1]):
        occluded[:, j] = typical[j]
        deltas[:, j] = base - probability(occluded)
        occluded[:, j] = matrix[:, j]
    return deltas


class _TreeParts:
    """What the tree-by-tree path needs from a fitted ``CalibratedClassifierCV(HistGradientBoostingClassifier)``."""

    def __init__(self, booster: Any, calibrator: Any, trees: list[Any], n_threads: int) -> None:
        self.booster = booster
        self.n_threads = n_threads
        self.calibrator = calibrator
        self.trees = trees
        self.baseline = float(np.asarray(booster._baseline_prediction).ravel()[0])
        self.bitsets, self.f_idx_map = booster._bin_mapper.make_known_categories_bitsets()
        self.splits_on = [set(np.unique(t.nodes["feature_idx"][t.nodes["is_leaf"] == 0]).tolist()) for t in trees]

    def outputs(self, X: FloatArray, tree: Any) -> FloatArray:
        return np.asarray(tree.predict(X, self.bitsets, self.f_idx_map, self.n_threads), dtype=np.float64)

    def probability(self, outputs: list[FloatArray], n: int) -> FloatArray:
        # As _raw_predict: the baseline, then each tree's output added in the order the trees were grown.
        raw = np.zeros(n, dtype=np.float64)
        raw += self.baseline
        for out in outputs:
            raw += out
        return np.asarray(self.calibrator.predict(raw), dtype=np.float64)


def _tree_parts(estimator: Any, n_threads: int) -> _TreeParts | None:
    """The booster, its calibrator and its trees, or None when ``estimator`` is not the expected shape."""
    try:
        (calibrated,) = estimator.calibrated_classifiers_
        (calibrator,) = calibrated.calibrators
        booster = calibrated.estimator
        if calibrated.method not in ("sigmoid", "isotonic") or booster.n_trees_per_iteration_ != 1:
            return None
        if booster._preprocessor is not None:  # categorical features: predictions go through an encoder
            return None
        if len(calibrated.classes) != 2 or list(booster.classes_) != list(calibrated.classes):
            return None
        trees = [predictors[0] for predictors in booster._predictors]
        return _TreeParts(booster, calibrator, trees, n_threads)
    except (AttributeError, TypeError, ValueError, IndexError, KeyError):
        return None


def _deltas_by_trees(parts: _TreeParts, matrix: FloatArray, typical: FloatArray, base: FloatArray) -> FloatArray | None:
    """The differences computed tree by tree, or None when its probabilities differ from ``base`` in any bit."""
    deltas = np.empty_like(matrix)
    n_features = matrix.shape[1]
    trees_of = [[t for t, used in enumerate(parts.splits_on) if j in used] for j in range(n_features)]
    try:
        for start in range(0, len(matrix), ROWS_PER_BLOCK):
            block = np.ascontiguousarray(matrix[start : start + ROWS_PER_BLOCK])
            X = parts.booster._preprocess_X(block, reset=False)
            kept = [parts.outputs(X, tree) for tree in parts.trees]
            rows = slice(start, start + len(block))
            block_base = parts.probability(kept, len(block))
            if not np.array_equal(block_base, base[rows]):
                return None
            occluded = np.array(X, dtype=np.float64, order="C", copy=True)
            for j in range(n_features):
                if not trees_of[j]:  # a feature no tree splits on changes nothing
                    deltas[rows, j] = 0.0
                    continue
                occluded[:, j] = typical[j]
                outputs = list(kept)
                for t in trees_of[j]:
                    outputs[t] = parts.outputs(occluded, parts.trees[t])
                deltas[rows, j] = block_base - parts.probability(outputs, len(block))
                occluded[:, j] = X[:, j]
    except (AttributeError, TypeError, ValueError, IndexError, KeyError):
        return None
    return deltas


# -- the reasons table --------------------------------------------------------------------------------------------
def reason_frame(
    client_ids: npt.NDArray[Any],
    features: list[str],
    raw: FloatArray,
    typical_raw: FloatArray,
    deltas: FloatArray,
    top: int,
) -> pd.DataFrame:
    """Up to ``top`` reasons per client, largest absolute contribution first (columns: see ``ChurnModel.reasons``).

    ``raw`` holds the clients' feature values, ``typical_raw`` the typical value each was compared with, both in
    the units shown; ``deltas`` the contributions (:func:`occlusion_deltas`). Contributions below
    :data:`REASON_TOLERANCE` are left out.
    """
    magnitude = np.abs(deltas)
    order = np.argsort(-magnitude, axis=1, kind="stable")[:, :top]
    rows, ranks = np.divmod(np.arange(order.size), order.shape[1])
    picked = order.ravel()
    keep = magnitude[rows, picked] >= REASON_TOLERANCE
    rows, ranks, picked = rows[keep], ranks[keep] + 1, picked[keep]
    names = np.asarray(features, dtype=object)[picked]
    values = raw[rows, picked]
    typical = typical_raw[rows, picked]
    contribution = deltas[rows, picked]
    frame = pd.DataFrame(
        {
            "client_id": client_ids[rows],
            "rank": ranks.astype("int64"),
            "feature": names,
            "value": values,
            "typical": typical,
            "contribution": contribution,
            "direction": np.where(contribution > 0, "raises", "lowers"),
        }
    )
    frame["sentence"] = [_sentence(f, v, t, c) for f, v, t, c in zip(names, values, typical, contribution, strict=True)]
    return frame


def _format(kind: str, value: float) -> str:
    if math.isnan(value):
        return "not known"
    if kind == "days":
        return f"{value:,.0f} days"
    if kind == "ratio":
        return f"{value:.1f}x"
    if kind == "share":
        return f"{value:.0%}"
    if kind == "signed_share":
        return f"{value:+.0%}"
    if kind == "money":
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) < 10 and value != round(value) else f"{value:,.0f}"


def _sentence(feature: str, value: float, typical: float, contribution: float) -> str:
    words, kind = _FORMATS.get(feature, (feature.replace("_", " "), "number"))
    verb = "raises" if contribution > 0 else "lowers"
    return (
        f"{words[0].upper()}{words[1:]}: {_format(kind, value)} (typical client {_format(kind, typical)}) "
        f"{verb} the risk by {abs(contribution) * 100:.1f} points."
    )
