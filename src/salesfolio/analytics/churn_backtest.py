"""Churn training sets, production scoring and the time-split backtest against simple baselines.

Training sets (:func:`build_training_set`): at each cut-off ``C`` whose outcome window ``(C, C + N months]``
ends by ``as_of``, the client features computed from the tables as they stood at ``C``
(:func:`~salesfolio.analytics.churn.tables_as_of`) joined to the outcome of
:func:`~salesfolio.analytics.churn.churn_labels`. :func:`predict_churn` trains
:class:`~salesfolio.analytics.churn.ChurnModel` on them and scores the clients at ``as_of``.

Backtest protocol (:func:`churn_backtest`; ``docs/models.md``; baselines after the project's churn-baselines
note):

1. Evaluation cut-offs ``E_1 = as_of - N months`` (its outcome window ends at ``as_of``), ``E_2 = E_1 - step``,
   ... (``config.backtest_cutoffs``, default 2; ``step`` defaults to ``N``).
2. At each ``E`` the production procedure is replayed as it would have run on that day: the model is trained
   on the cut-offs whose outcome window ends by ``E`` (:func:`build_training_set` with ``as_of = E``), features
   come only from data up to ``E``, and the clients of ``E``'s population are scored. Their outcome in
   ``(E, E + N]`` is then compared with four rankings:

   * ``model``: the churn probability (for money: probability x base revenue, the expected loss);
   * ``recency``: days since the last purchase;
   * ``signals``: the number of rule-based early-warning signals fired
     (:func:`~salesfolio.analytics.churn.signal_count`);
   * ``size``: base revenue alone, no risk signal at all.

3. Metrics per ranking: AUC of the target outcome (and of churn alone), precision of the top ``top_share``
   (default 10 %) of clients, the share of all lost revenue those clients hold; for the model also the Brier
   score (against predicting the training base rate) and a 10-bin reliability table. Ties in a ranking are
   broken at random *in expectation* (a tied group straddling the top-k boundary counts pro rata), so a coarse
   score such as the signal count is neither favoured nor penalised by an arbitrary order.
4. The verdict (:func:`backtest_verdict`): the model *beats recency* at a cut-off when its AUC exceeds
   recency's by ``min_auc_gain`` (default 0.02), and *beats size* when its top 10 % holds
   ``min_lost_share_gain`` (default 2 points) more of the lost revenue; each gain must also hold up under a
   paired bootstrap over the clients (:func:`gain_interval`: the lower end of its 90 % interval above zero).
   Only a model that beats both at every evaluated cut-off is recommended for display.

The metrics (:func:`auc`, :func:`top_k_expected`, :func:`gain_interval`, :func:`reliability_table`) live in
:mod:`salesfolio.analytics.churn_metrics` and are importable from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from salesfolio.analytics.churn import (
    CHURN_FEATURES,
    ChurnModel,
    ChurnSettings,
    Target,
    churn_labels,
    churn_population,
    cutoff_dates,
    history_problem,
    signal_count,
    tables_as_of,
)
from salesfolio.analytics.churn_metrics import (
    ReliabilityBin,
    ResampledAuc,
    ScoreMetrics,
    auc,
    gain_interval,
    reliability_table,
    top_k_expected,
)
from salesfolio.analytics.config import AnalysisConfig, ChurnConfig
from salesfolio.analytics.timeseries import add_months
from salesfolio.contract import INVOICE_LINES

FeatureFn = Callable[[Mapping[str, Any], date], Any]
"""``feature_fn(tables, as_of)``: the client feature frame (a DataFrame, or a result with a ``frame``)."""

FloatArray = npt.NDArray[np.float64]

_CLIENT = INVOICE_LINES.column("client_id").name
_DATE = INVOICE_LINES.column("date").name


# -- training sets -------------------------------------------------------------------------------------------
@dataclass
class TrainingSet:
    """Examples for the churn model: features at each cut-off joined to the outcome after it.

    ``frame`` has one row per client and cut-off: ``cutoff``, the label columns of :func:`churn_labels` and the
    feature columns returned by the feature function. ``skipped`` lists the cut-offs left out and why;
    ``warnings`` collects the feature function's warnings (:attr:`CutoffFrames.warnings`).
    """

    frame: pd.DataFrame
    cutoffs: list[date]
    skipped: list[tuple[date, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_positive(self) -> int:
        """Positive examples (``target`` true)."""
        return int(self.frame["target"].sum()) if len(self.frame) else 0


def feature_frame(result: Any) -> tuple[pd.DataFrame, list[str]]:
    """The frame and warnings of a feature function's result (a DataFrame or a ``FeatureResult``)."""
    if isinstance(result, pd.DataFrame):
        return result, []
    frame = getattr(result, "frame", None)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"the feature function must return a DataFrame or a FeatureResult, got {type(result)}")
    return frame, [str(w) for w in getattr(result, "warnings", [])]


class CutoffFrames:
    """Features joined to labels per cut-off, each computed once (the backtest reuses cut-offs).

    Holds the tables as they stood at ``as_of`` (:func:`tables_as_of`), so nothing later is ever read, and the
    first invoice date for :func:`history_problem`. Used by :func:`build_training_set`, :func:`predict_churn`
    and the backtest.
    """

    def __init__(
        self,
        tables: Mapping[str, Any],
        as_of: date,
        feature_fn: FeatureFn,
        horizon_months: int,
        revenue_drop_share: float,
        target: Target,
    ) -> None:
        if INVOICE_LINES.name not in tables:
            raise ValueError(f"the churn model needs the {INVOICE_LINES.name} table")
        self.tables = tables_as_of(tables, as_of)
        self.lines = self.tables[INVOICE_LINES.name]
        self.feature_fn = feature_fn
        self.horizon_months = horizon_months
        self.revenue_drop_share = revenue_drop_share
        self.target: Target = target
        first = self.lines.filter(self.lines[_CLIENT].notnull())[_DATE].min().execute()
        self.first_date: date | None = None if first is None or pd.isna(first) else pd.Timestamp(first).date()
        self._warnings: dict[str, list[date]] = {}
        self._frames: dict[date, pd.DataFrame] = {}
        self._labels: dict[date, pd.DataFrame] = {}

    @property
    def warnings(self) -> list[str]:
        """The feature function's warnings: as given when every cut-off had them, else naming the cut-offs."""
        computed = {c for dates in self._warnings.values() for c in dates}
        out = []
        for warning, dates in self._warnings.items():
            if set(dates) == computed:
                out.append(warning)
            else:
                out.append(f"{warning} (at {', '.join(d.isoformat() for d in sorted(set(dates)))})")
        return out

    def problem(self, cutoff: date) -> str | None:
        """Why ``cutoff`` cannot be used for lack of history, or None (:func:`history_problem`)."""
        return history_problem(self.first_date, cutoff, self.horizon_months)

    def features(self, cutoff: date) -> pd.DataFrame:
        """The feature frame at ``cutoff``, from the tables as they stood then; collects its warnings."""
        frame, warnings = feature_frame(self.feature_fn(tables_as_of(self.tables, cutoff), cutoff))
        for w in warnings:
            self._warnings.setdefault(w, []).append(cutoff)
        if _CLIENT not in frame.columns:
            raise ValueError(f"the feature frame has no {_CLIENT} column")
        frame = frame.copy()
        frame[_CLIENT] = frame[_CLIENT].astype(str)
        return frame

    def labels(self, cutoff: date) -> pd.DataFrame:
        """:func:`churn_labels` at ``cutoff`` (computed once, then cached)."""
        if cutoff not in self._labels:
            self._labels[cutoff] = churn_labels(
                self.lines, cutoff, self.horizon_months, revenue_drop_share=self.revenue_drop_share, target=self.target
            )
        return self._labels[cutoff]

    def frame(self, cutoff: date) -> pd.DataFrame:
        """Labels at ``cutoff`` left-joined to the features at ``cutoff`` (computed once, then cached)."""
        if cutoff not in self._frames:
            labels = self.labels(cutoff)
            features = self.features(cutoff)
            clash = [c for c in features.columns if c in labels.columns and c != _CLIENT]
            joined = labels.merge(features.drop(columns=clash), on=_CLIENT, how="left")
            joined.insert(0, "cutoff", cutoff)
            self._frames[cutoff] = joined
        return self._frames[cutoff]

    def training_set(
        self, anchor: date, n_cutoffs: int, step_months: int, skip_months: int = 0, *, with_features: bool = True
    ) -> TrainingSet:
        """The examples of the usable cut-offs among :func:`cutoff_dates` ``(anchor, N, n_cutoffs, step, skip)``.

        ``with_features=False`` gives the labels alone, enough to check the sizes (:func:`training_problem`)
        before any feature is computed.
        """
        used: list[date] = []
        skipped: list[tuple[date, str]] = []
        frames: list[pd.DataFrame] = []
        for cutoff in cutoff_dates(anchor, self.horizon_months, n_cutoffs, step_months, skip_months=skip_months):
            problem = self.problem(cutoff)
            if problem is not None:
                skipped.append((cutoff, problem))
                continue
            used.append(cutoff)
            frames.append(self.frame(cutoff) if with_features else self.labels(cutoff).assign(cutoff=cutoff))
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"cutoff": [], "target": []})
        return TrainingSet(frame, used, skipped, list(self.warnings))


def build_training_set(
    tables: Mapping[str, Any],
    as_of: date,
    feature_fn: FeatureFn,
    horizon_months: int = 6,
    n_cutoffs: int = 2,
    *,
    step_months: int | None = None,
    revenue_drop_share: float = 0.5,
    target: Target = "either",
) -> TrainingSet:
    """Training examples from the ``n_cutoffs`` latest cut-offs whose outcome is known at ``as_of``.

    Cut-offs are :func:`cutoff_dates` (``as_of - N``, then every ``step_months``, default ``N``, earlier). For
    each, the features are ``feature_fn(tables_as_of(tables, C), C)`` (pass
    :func:`salesfolio.analytics.features.client_features`), so no feature can see a line after ``C``; the labels
    are :func:`churn_labels` at ``C``; the population is the label population (features left-joined to it).
    Nothing after ``as_of`` is read. A cut-off whose base window starts before the data do is skipped (see
    :func:`history_problem`) and listed in ``skipped``.
    """
    builder = CutoffFrames(tables, as_of, feature_fn, horizon_months, revenue_drop_share, target)
    step = horizon_months if step_months is None else step_months
    return builder.training_set(as_of, n_cutoffs, step)


# -- production scoring --------------------------------------------------------------------------------------
@dataclass
class ChurnPrediction:
    """Churn probabilities at ``as_of`` (see :func:`predict_churn`).

    ``frame``: ``client_id``, ``churn_probability``, ``base_revenue``, ``expected_loss`` (probability x base
    revenue), sorted by expected loss, largest first. ``reasons``: :meth:`ChurnModel.reasons` for these clients.
    Empty, with ``status="insufficient_data"`` and a message, when there was too little history to train; with
    ``status="skipped"`` when :func:`churn_report` was asked to score only a model its backtest recommends.
    """

    status: Literal["ok", "insufficient_data", "skipped"]
    message: str
    as_of: date
    frame: pd.DataFrame
    reasons: pd.DataFrame
    training_cutoffs: list[date]
    model: ChurnModel | None = None
    warnings: list[str] = field(default_factory=list)


def available_features(scored: pd.DataFrame) -> tuple[str, ...]:
    """The :data:`~salesfolio.analytics.churn.CHURN_FEATURES` with a value for some client of ``scored``.

    The model is fitted on these only: a feature empty where the model scores cannot help there.
    """
    return tuple(
        c for c in CHURN_FEATURES if c in scored.columns and pd.to_numeric(scored[c], errors="coerce").notna().any()
    )


def training_problem(training: TrainingSet, config: ChurnSettings) -> str | None:
    """Why ``training`` is too small for a model worth testing (``config``'s minimums), or None."""
    if not training.cutoffs:
        latest = training.skipped[0][1] if training.skipped else "no cut-off was asked for"
        return f"no earlier cut-off with a known outcome has enough history ({latest})"
    n = len(training.frame)
    positives = training.n_positive
    per_cutoff = n / len(training.cutoffs)
    if per_cutoff < config.min_clients:
        return (
            f"too few clients: {per_cutoff:.0f} per training cut-off on average, "
            f"at least {config.min_clients} are needed"
        )
    if min(positives, n - positives) < config.min_positives:
        return (
            f"too few examples of each outcome: {positives} clients with and {n - positives} without the "
            f"outcome in training, at least {config.min_positives} of each are needed"
        )
    return None


def predict_churn(
    tables: Mapping[str, Any],
    as_of: date,
    feature_fn: FeatureFn,
    config: ChurnSettings | AnalysisConfig | ChurnConfig | None = None,
    *,
    top_reasons: int = 3,
) -> ChurnPrediction:
    """Train on every usable cut-off whose outcome is known at ``as_of`` and score the clients at ``as_of``.

    Training: :func:`build_training_set` with ``config.train_cutoffs`` cut-offs (default 2) and
    ``config.horizon_months`` (default 6); model: :class:`ChurnModel` with ``config.random_state``. Scored: the
    clients with revenue in the 12 months before ``as_of`` (:func:`churn_population`). Whether to *show* the
    probabilities is decided by the backtest (:func:`salesfolio.analytics.churn_backtest.churn_backtest`).
    """
    cfg = ChurnSettings.from_config(config)
    builder = CutoffFrames(tables, as_of, feature_fn, cfg.horizon_months, cfg.revenue_drop_share, cfg.target)
    return _predict(builder, as_of, cfg, top_reasons)


def _predict(builder: CutoffFrames, as_of: date, cfg: ChurnSettings, top_reasons: int) -> ChurnPrediction:
    sizes = builder.training_set(as_of, cfg.train_cutoffs, cfg.step, with_features=False)
    problem = training_problem(sizes, cfg)
    if problem is not None:
        empty = pd.DataFrame({_CLIENT: [], "churn_probability": [], "base_revenue": [], "expected_loss": []})
        return ChurnPrediction(
            "insufficient_data", f"no churn model: {problem}", as_of, empty, pd.DataFrame(), sizes.cutoffs
        )
    training = builder.training_set(as_of, cfg.train_cutoffs, cfg.step)
    population = churn_population(builder.lines, as_of, cfg.horizon_months)
    features = builder.features(as_of)
    clash = [c for c in features.columns if c in population.columns and c != _CLIENT]
    scored = population.merge(features.drop(columns=clash), on=_CLIENT, how="left")
    model = ChurnModel(
        features=available_features(scored),
        max_rows_per_population=cfg.max_rows_per_population,
        random_state=cfg.random_state,
    )
    model.fit(training.frame, training.frame["target"])
    probability = model.predict_proba(scored).to_numpy()
    frame = pd.DataFrame(
        {
            _CLIENT: scored[_CLIENT].to_numpy(),
            "churn_probability": probability,
            "base_revenue": scored["base_revenue"].to_numpy(),
            "expected_loss": probability * scored["base_revenue"].clip(lower=0.0).to_numpy(),
        }
    )
    frame = frame.sort_values(["expected_loss", _CLIENT], ascending=[False, True], ignore_index=True)
    message = (
        f"trained on {len(training.frame)} examples from {len(training.cutoffs)} cut-off(s) "
        f"({', '.join(c.isoformat() for c in training.cutoffs)}); {len(frame)} clients scored"
    )
    return ChurnPrediction(
        "ok",
        message,
        as_of,
        frame,
        model.reasons(scored, top=top_reasons),
        training.cutoffs,
        model,
        list(builder.warnings),
    )


# -- backtest ---------------------------------------------------------------------------------------------------
SHOW_MODEL = "show the model"
SHOW_SIZE = "show size-ranked revenue at risk instead; the model does not beat the baselines on this data"


@dataclass
class CutoffResult:
    """The backtest at one evaluation cut-off.

    ``scores`` holds the metrics of ``model``, ``recency``, ``signals`` and ``size``; ``k`` is the number of
    clients in the top ``top_share``. ``auc_gain_over_recency`` and ``lost_share_gain_over_size`` are the model's
    gains over the two baselines it must beat, with their paired bootstrap intervals (:func:`gain_interval`).
    ``lost_revenue_share_oracle`` is what a perfect ranking (by the actual loss) would hold.
    """

    cutoff: date
    training_cutoffs: list[date]
    n_train: int
    n_train_positive: int
    n_clients: int
    n_positive: int
    n_churned: int
    n_declined: int
    k: int
    lost_revenue_total: float
    lost_revenue_churned_share: float | None
    lost_revenue_share_oracle: float | None
    scores: dict[str, ScoreMetrics]
    brier: float
    brier_reference: float
    reliability: list[ReliabilityBin]
    calibration: str
    features: list[str]
    auc_gain_over_recency: float | None
    auc_gain_interval: tuple[float, float] | None
    lost_share_gain_over_size: float | None
    lost_share_gain_interval: tuple[float, float] | None
    model_beats_recency: bool
    model_beats_size: bool


@dataclass
class ChurnBacktest:
    """Result of :func:`churn_backtest`: per-cut-off metrics, a verdict in words and a recommendation.

    ``status`` is ``"ok"`` when at least one cut-off was evaluated, else ``"insufficient_data"`` with the
    reasons in ``message``. ``recommendation`` is :data:`SHOW_MODEL` only when the model beat recency on AUC and
    size on lost revenue at every evaluated cut-off; otherwise :data:`SHOW_SIZE`. ``show_model`` says the same
    as a bool (and is in :meth:`to_dict`).
    """

    status: Literal["ok", "insufficient_data"]
    message: str
    verdict: str
    recommendation: str
    as_of: date
    config: dict[str, Any]
    cutoffs: list[CutoffResult] = field(default_factory=list)
    skipped: list[tuple[date, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def show_model(self) -> bool:
        """True only when the backtest recommends showing the model's probabilities."""
        return self.recommendation == SHOW_MODEL

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data: dates as ISO strings, missing numbers as None; ``show_model`` included."""
        plain: dict[str, Any] = _plain(asdict(self))
        plain["show_model"] = self.show_model
        return plain


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _metrics(
    score: FloatArray,
    money_score: FloatArray,
    outcome: npt.NDArray[np.bool_],
    churned: npt.NDArray[np.bool_],
    lost: FloatArray,
    k: int,
) -> ScoreMetrics:
    total = float(lost.sum())
    return ScoreMetrics(
        auc=auc(outcome, score),
        auc_churn=auc(churned, score),
        precision_at_k=top_k_expected(score, outcome.astype(float), k) / k,
        lost_revenue_share=top_k_expected(money_score, lost, k) / total if total > 0 else None,
    )


def _evaluation_problem(frame: pd.DataFrame, config: ChurnSettings) -> str | None:
    n, positives = len(frame), int(frame["target"].sum())
    if n < config.min_clients:
        return f"too few clients at the cut-off: {n}, at least {config.min_clients} are needed"
    if min(positives, n - positives) < config.min_positives:
        return (
            f"too few examples of each outcome at the cut-off: {positives} clients with and {n - positives} "
            f"without the outcome, at least {config.min_positives} of each are needed"
        )
    return None


def _evaluate(as_of: date, offset: int, frames: CutoffFrames, config: ChurnSettings) -> CutoffResult | str:
    cutoff = add_months(as_of, -offset)
    problem = frames.problem(cutoff)
    if problem is not None:
        return problem
    # Trained as on the day of the cut-off: on cut-offs whose outcome window ends by it. Sizes are checked on
    # the labels first, so too little data costs no feature computation.
    grid = (as_of, config.train_cutoffs, config.step, offset)
    problem = training_problem(frames.training_set(*grid, with_features=False), config)
    if problem is not None:
        return f"cannot train for this cut-off: {problem}"
    problem = _evaluation_problem(frames.labels(cutoff), config)
    if problem is not None:
        return problem
    training = frames.training_set(*grid)
    evaluation = frames.frame(cutoff)
    model = ChurnModel(
        features=available_features(evaluation),
        max_rows_per_population=config.max_rows_per_population,
        random_state=config.random_state,
    )
    model.fit(training.frame, training.frame["target"])
    probability = model.predict_proba(evaluation).to_numpy()
    outcome = evaluation["target"].to_numpy(dtype=bool)
    churned = evaluation["churned"].to_numpy(dtype=bool)
    lost = evaluation["lost_revenue"].to_numpy(dtype=np.float64)
    base = evaluation["base_revenue"].to_numpy(dtype=np.float64)
    n = len(evaluation)
    k = max(1, round(config.top_share * n))
    recency = (
        pd.to_numeric(evaluation["recency_days"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        if "recency_days" in evaluation.columns
        else np.full(n, np.nan)
    )
    signals = signal_count(evaluation).to_numpy(dtype=np.float64)
    scores = {
        "model": _metrics(probability, probability * np.clip(base, 0, None), outcome, churned, lost, k),
        "recency": _metrics(recency, recency, outcome, churned, lost, k),
        "signals": _metrics(signals, signals, outcome, churned, lost, k),
        "size": _metrics(base, base, outcome, churned, lost, k),
    }
    total = float(lost.sum())
    brier = float(np.mean((probability - outcome) ** 2))
    reference = float(np.mean((model.base_rate_ - outcome) ** 2))
    money = probability * np.clip(base, 0, None)

    # The AUCs of a resample from its counts per client (the same numbers as auc(outcome[i], score[i])).
    model_ranks, recency_ranks = ResampledAuc(outcome, probability), ResampledAuc(outcome, recency)

    def auc_gain(i: npt.NDArray[np.int64]) -> float | None:
        counts = np.bincount(i, minlength=n)
        model_auc, recency_auc = model_ranks.auc(counts), recency_ranks.auc(counts)
        return None if model_auc is None or recency_auc is None else model_auc - recency_auc

    def lost_gain(i: npt.NDArray[np.int64]) -> float | None:
        lost_i = lost[i]
        total_i = float(lost_i.sum())
        if total_i <= 0:
            return None
        return (top_k_expected(money[i], lost_i, k) - top_k_expected(base[i], lost_i, k)) / total_i

    everyone = np.arange(n)
    auc_gain_value, lost_gain_value = auc_gain(everyone), lost_gain(everyone)
    seed = config.random_state
    auc_ci = gain_interval(auc_gain, n, config.bootstrap_samples, config.confidence, seed)
    lost_ci = gain_interval(lost_gain, n, config.bootstrap_samples, config.confidence, seed)
    beats_recency = _beats(auc_gain_value, auc_ci, config.min_auc_gain)
    beats_size = _beats(lost_gain_value, lost_ci, config.min_lost_share_gain)
    return CutoffResult(
        cutoff=cutoff,
        training_cutoffs=training.cutoffs,
        n_train=len(training.frame),
        n_train_positive=training.n_positive,
        n_clients=n,
        n_positive=int(outcome.sum()),
        n_churned=int(churned.sum()),
        n_declined=int(evaluation["declined"].sum()),
        k=k,
        lost_revenue_total=total,
        lost_revenue_churned_share=float(lost[churned].sum()) / total if total > 0 else None,
        lost_revenue_share_oracle=top_k_expected(lost, lost, k) / total if total > 0 else None,
        scores=scores,
        brier=brier,
        brier_reference=reference,
        reliability=reliability_table(probability, outcome),
        calibration=model.calibration_,
        features=list(model.features_),
        auc_gain_over_recency=auc_gain_value,
        auc_gain_interval=auc_ci,
        lost_share_gain_over_size=lost_gain_value,
        lost_share_gain_interval=lost_ci,
        model_beats_recency=beats_recency,
        model_beats_size=beats_size,
    )


def _beats(gain: float | None, interval: tuple[float, float] | None, min_gain: float) -> bool:
    """A gain counts when it reaches ``min_gain`` and its bootstrap interval lies above zero."""
    if gain is None or gain < min_gain:
        return False
    return interval is None or interval[0] > 0


CHURN_SIGNAL_AUC = 0.6
"""Below this AUC for churn alone, for every ranking, the verdict says that nothing predicts who stops buying."""


def _why_not(gain: float | None, interval: tuple[float, float] | None, min_gain: float, unit: str) -> str:
    """Why a positive gain did not count: within the resampling noise, or below the minimum."""
    if gain is None or gain <= 0:
        return ""
    if interval is not None and interval[0] <= 0:
        return ", a gain within the noise of resampling"
    if gain < min_gain:
        return f", a gain below the {min_gain * 100:g}-{unit} minimum"
    return ""


def backtest_verdict(results: list[CutoffResult], config: ChurnSettings) -> tuple[str, str]:
    """The verdict in words and the recommendation (:data:`SHOW_MODEL` or :data:`SHOW_SIZE`) for ``results``.

    The model is recommended only when it beat recency on AUC and size on lost revenue at every evaluated
    cut-off. The words also say when a baseline ranks the target outcome better than the model, and when no
    ranking predicts churn alone (AUC below :data:`CHURN_SIGNAL_AUC` for all).
    """
    n = len(results)
    recency_wins = sum(r.model_beats_recency for r in results)
    size_wins = sum(r.model_beats_size for r in results)
    parts = []
    for r in results:
        m, rec, size = r.scores["model"], r.scores["recency"], r.scores["size"]
        auc_note = (
            ""
            if r.model_beats_recency
            else _why_not(r.auc_gain_over_recency, r.auc_gain_interval, config.min_auc_gain, "point")
        )
        money_note = (
            ""
            if r.model_beats_size
            else _why_not(r.lost_share_gain_over_size, r.lost_share_gain_interval, config.min_lost_share_gain, "point")
        )
        parts.append(
            f"at {r.cutoff.isoformat()} AUC {_fmt(m.auc)} (recency {_fmt(rec.auc)}{auc_note}), lost revenue held "
            f"by the top {r.k} clients {_pct(m.lost_revenue_share)} (size {_pct(size.lost_revenue_share)}{money_note})"
        )
    shown = recency_wins == n and size_wins == n
    if shown:
        counted = f"on {n} cut-off{'s' if n != 1 else ''}"
        only_one = " (tested on one cut-off only: check again next period)" if n == 1 else ""
        head = f"The model beats recency on AUC and size on lost revenue {counted}{only_one}: "
    else:
        head = (
            f"The model beats recency on AUC at {recency_wins} of {n} and size on lost revenue at {size_wins} of "
            f"{n} evaluated cut-offs: "
        )
    sentences = [head + "; ".join(parts) + "."]
    better = [
        name
        for name in ("recency", "signals", "size")
        if any((r.scores[name].auc or 0.0) > (r.scores["model"].auc or 0.0) for r in results)
    ]
    if better:
        verb = "ranks" if len(better) == 1 else "rank"
        sentences.append(f"{' and '.join(better).capitalize()} alone {verb} the outcome better than the model.")
    best_churn = max((v.auc_churn or 0.0) for r in results for v in r.scores.values())
    if best_churn < CHURN_SIGNAL_AUC:
        sentences.append(
            f"Nothing here predicts who stops buying: the best AUC for churn alone is {best_churn:.2f} "
            "(0.5 is a coin toss)."
        )
    if not shown:
        sentences.append(
            "The model does not add enough over the simple rankings to be shown as a risk score on this data."
        )
    return " ".join(sentences), SHOW_MODEL if shown else SHOW_SIZE


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def churn_backtest(
    tables: Mapping[str, Any],
    as_of: date,
    feature_fn: FeatureFn,
    config: ChurnSettings | AnalysisConfig | ChurnConfig | None = None,
) -> ChurnBacktest:
    """Time-split backtest of :class:`~salesfolio.analytics.churn.ChurnModel` against recency, signals and size.

    Method: see the module docstring. ``feature_fn`` is called as ``feature_fn(tables, cutoff)`` on the tables
    as they stood at each cut-off (:func:`~salesfolio.analytics.churn.tables_as_of`); pass
    :func:`salesfolio.analytics.features.client_features`. Nothing dated after ``as_of`` is read. ``config`` is
    the workspace's analysis configuration or :class:`~salesfolio.analytics.churn.ChurnSettings` (defaults:
    6 months, 2 evaluation cut-offs, 2 training cut-offs each, top 10 %).

    Too little data (too little history for a cut-off and its training cut-offs, fewer than ``min_clients``
    clients or ``min_positives`` examples of either outcome) is not an error: such cut-offs are listed in
    ``skipped`` with the reason, and when none remains the status is ``"insufficient_data"``.
    """
    cfg = ChurnSettings.from_config(config)
    frames = CutoffFrames(tables, as_of, feature_fn, cfg.horizon_months, cfg.revenue_drop_share, cfg.target)
    return _backtest(frames, as_of, cfg)


def churn_report(
    tables: Mapping[str, Any],
    as_of: date,
    feature_fn: FeatureFn,
    config: ChurnSettings | AnalysisConfig | ChurnConfig | None = None,
    *,
    top_reasons: int = 3,
    only_if_shown: bool = False,
) -> tuple[ChurnBacktest, ChurnPrediction]:
    """:func:`churn_backtest` and :func:`predict_churn` together, computing each cut-off's features once.

    The backtest's evaluation cut-offs (``as_of - N``, ``as_of - 2N``) are production's training cut-offs, so
    sharing the frames saves two of the seven feature computations of the default settings. Show
    ``prediction`` only when ``backtest.show_model``; with ``only_if_shown`` (default off) it is not even computed
    otherwise (``status="skipped"``), which saves the production fit, the features at ``as_of`` and the reasons.
    """
    cfg = ChurnSettings.from_config(config)
    frames = CutoffFrames(tables, as_of, feature_fn, cfg.horizon_months, cfg.revenue_drop_share, cfg.target)
    backtest = _backtest(frames, as_of, cfg)
    if only_if_shown and not backtest.show_model:
        empty = pd.DataFrame({_CLIENT: [], "churn_probability": [], "base_revenue": [], "expected_loss": []})
        skipped = "not computed: the backtest does not recommend showing the model"
        return backtest, ChurnPrediction("skipped", skipped, as_of, empty, pd.DataFrame(), [])
    return backtest, _predict(frames, as_of, cfg, top_reasons)


def _backtest(frames: CutoffFrames, as_of: date, cfg: ChurnSettings) -> ChurnBacktest:
    results: list[CutoffResult] = []
    skipped: list[tuple[date, str]] = []
    for k in range(cfg.backtest_cutoffs):
        offset = cfg.horizon_months + k * cfg.step
        cutoff = add_months(as_of, -offset)
        outcome = _evaluate(as_of, offset, frames, cfg)
        if isinstance(outcome, str):
            skipped.append((cutoff, outcome))
        else:
            results.append(outcome)
    if not results:
        reasons = "; ".join(f"{c.isoformat()}: {why}" for c, why in skipped)
        message = f"not enough data to test a churn model ({reasons})"
        verdict = (
            "Not enough data to test a churn model; no risk score can be shown as if it worked. Rank revenue at "
            "risk by size instead."
        )
        return ChurnBacktest(
            "insufficient_data", message, verdict, SHOW_SIZE, as_of, cfg.to_dict(), [], skipped, frames.warnings
        )
    verdict, recommendation = backtest_verdict(results, cfg)
    evaluated = ", ".join(r.cutoff.isoformat() for r in results)
    message = f"evaluated at {len(results)} cut-off(s): {evaluated}"
    if skipped:
        message += "; skipped " + "; ".join(f"{c.isoformat()}: {why}" for c, why in skipped)
    return ChurnBacktest(
        "ok", message, verdict, recommendation, as_of, cfg.to_dict(), results, skipped, list(frames.warnings)
    )
