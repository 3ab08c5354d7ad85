"""Metrics of the churn backtest: AUC, expected top-k sums with ties, reliability, paired bootstrap intervals.

Used by :mod:`salesfolio.analytics.churn_backtest` (which re-exports them). :class:`ResampledAuc` gives the AUC
of a bootstrap resample from the resample's counts per client without sorting it again: the same number as
:func:`auc` on the resampled arrays, bit for bit (its rank sums are sums of half-integers, exact in floating
point), at a fraction of the cost, which matters at 100,000 clients x 200 resamples x two rankings.

>>> outcome = np.array([True, False, True, False])
>>> score = np.array([0.9, 0.1, 0.4, 0.4])
>>> auc(outcome, score)
0.875
>>> rows = np.array([0, 0, 3, 2, 1])  # a resample: client 0 twice, client 3, 2 and 1 once
>>> ResampledAuc(outcome, score).auc(np.bincount(rows, minlength=4)) == auc(outcome[rows], score[rows])
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]


def top_k_expected(score: FloatArray, values: FloatArray, k: int) -> float:
    """Expected sum of ``values`` over the ``k`` highest ``score`` when ties are broken at random.

    Rows strictly above the k-th score count whole; the tied group at the k-th score counts by the share of it
    that fits into the top k. Missing scores rank lowest.
    """
    if k <= 0 or len(score) == 0:
        return 0.0
    k = min(k, len(score))
    s = np.where(np.isnan(score), -np.inf, score)
    # the k-th largest value: a selection (linear time) gives the same element a full sort would
    threshold = np.partition(s, len(s) - k)[len(s) - k]
    above = s > threshold
    tied = s == threshold
    room = k - int(above.sum())
    return float(values[above].sum() + room * values[tied].sum() / tied.sum())


def auc(outcome: npt.NDArray[np.bool_], score: FloatArray) -> float | None:
    """ROC AUC of ``score`` for ``outcome``; None when only one outcome occurs.

    Mann-Whitney form: ``(sum of the positives' ranks - P (P + 1) / 2) / (P N)``, ties at their mean rank (so a
    tie between a positive and a negative counts one half, as ``sklearn.metrics.roc_auc_score``); missing
    scores rank lowest.
    """
    positives = int(outcome.sum())
    negatives = len(outcome) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = stats.rankdata(np.where(np.isnan(score), -np.inf, score))
    return float((ranks[outcome].sum() - positives * (positives + 1) / 2) / (positives * negatives))


class ResampledAuc:
    """:func:`auc` of ``score`` for ``outcome`` on resamples of the rows, each given as a count per row.

    The rows are sorted once; a resample's rank sum then comes from the counts of each group of tied scores:
    a group of ``W`` copies after ``C`` smaller ones has the mean rank ``C + (W + 1) / 2``, and its ``P``
    positive copies add ``P`` times that. Every term is a half-integer below 2**52, so the sum is exact and the
    result equals :func:`auc` of ``(outcome[rows], score[rows])`` bit for bit.
    """

    def __init__(self, outcome: npt.NDArray[np.bool_], score: FloatArray) -> None:
        s = np.where(np.isnan(score), -np.inf, np.asarray(score, dtype=np.float64))
        self._order = np.argsort(s, kind="stable")
        ordered = s[self._order]
        self._starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        self._positive = np.asarray(outcome, dtype=bool)[self._order]

    def auc(self, counts: npt.NDArray[np.int64]) -> float | None:
        """The AUC of the resample holding row ``i`` ``counts[i]`` times; None when one outcome is missing."""
        weights = counts[self._order]
        group_size = np.add.reduceat(weights, self._starts)
        group_positives = np.add.reduceat(np.where(self._positive, weights, 0), self._starts)
        positives = int(group_positives.sum())
        negatives = int(group_size.sum()) - positives
        if positives == 0 or negatives == 0:
            return None
        before = np.cumsum(group_size) - group_size
        rank_sum = float(np.sum(group_positives * (before + (group_size + 1) / 2)))
        return float((rank_sum - positives * (positives + 1) / 2) / (positives * negatives))


def gain_interval(
    gain: Callable[[npt.NDArray[np.int64]], float | None], n: int, samples: int, confidence: float, seed: int
) -> tuple[float, float] | None:
    """Paired bootstrap interval of a gain (model minus baseline) over the ``n`` clients of one cut-off.

    Method: resample the clients with replacement ``samples`` times, recompute ``gain(indices)`` on each resample
    (model and baseline on the same clients, so what they share cancels) and return the ``(1 - confidence) / 2``
    and ``(1 + confidence) / 2`` quantiles (Efron & Tibshirani 1993, percentile interval). None when
    ``samples`` is 0.
    """
    if samples <= 0:
        return None
    rng = np.random.default_rng(seed)
    values = [g for g in (gain(rng.integers(0, n, n)) for _ in range(samples)) if g is not None]
    if not values:
        return None
    low, high = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


@dataclass
class ScoreMetrics:
    """How one ranking did at one cut-off."""

    auc: float | None
    auc_churn: float | None
    precision_at_k: float
    lost_revenue_share: float | None


@dataclass
class ReliabilityBin:
    """One of ten equal-width bins of predicted probability: clients, mean predicted, observed rate."""

    lower: float
    upper: float
    n: int
    mean_predicted: float | None
    observed_rate: float | None


def reliability_table(probability: FloatArray, outcome: npt.NDArray[np.bool_], bins: int = 10) -> list[ReliabilityBin]:
    """Mean predicted probability against the observed rate in ``bins`` equal-width bins of [0, 1]."""
    index = np.minimum((probability * bins).astype(int), bins - 1)

    def row(b: int, inside: npt.NDArray[np.bool_]) -> ReliabilityBin:
        n = int(inside.sum())
        mean, rate = (float(probability[inside].mean()), float(outcome[inside].mean())) if n else (None, None)
        return ReliabilityBin(b / bins, (b + 1) / bins, n, mean, rate)

    return [row(b, index == b) for b in range(bins)]
