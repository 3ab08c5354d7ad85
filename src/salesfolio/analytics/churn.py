"""Churn probability: labels, a calibrated gradient-boosting model with per-client reasons, training sets.

Method
------
For a cut-off date ``C`` and a horizon of ``N`` calendar months (default 6):

* population: clients with net revenue > 0 in the 12 months before ``C`` (``C - 12 months < date <= C``);
* ``base_revenue``: net revenue in the ``N`` months before ``C``; ``revenue_after``: net revenue in
  ``(C, C + N months]``;
* ``churned``: no purchase in ``(C, C + N]``, a purchase being an invoice with positive net revenue (as
  ``orders_ttm`` in ``docs/dev/feature-spec.md``);
* ``declined``: ``base_revenue > 0`` and ``revenue_after < (1 - revenue_drop_share) * base_revenue`` (default
  ``revenue_drop_share`` 0.5: the client lost more than half of its revenue);
* ``target``: ``churned or declined`` by default (``target="either"``), or one of them alone;
* ``lost_revenue``: ``max(base_revenue - revenue_after, 0)``, the money the backtest weighs its ranking with.

The model (:class:`ChurnModel`) is scikit-learn's ``HistGradientBoostingClassifier`` (missing values handled
natively) wrapped in ``CalibratedClassifierCV`` (sigmoid calibration, isotonic from 1,000 positive examples up,
as scikit-learn's user guide advises against isotonic regression on small samples), over the numeric columns
listed in :data:`CHURN_FEATURES`, each taken as its percentile rank among the clients of the same cut-off, with
per-client reasons (:meth:`ChurnModel.reasons`). Training sets from earlier cut-offs, production scoring and the
time-split backtest against baselines are in :mod:`salesfolio.analytics.churn_backtest`.

>>> from datetime import date
>>> cutoff_dates(date(2024, 12, 31), horizon_months=6, n_cutoffs=3)
[datetime.date(2024, 6, 30), datetime.date(2023, 12, 31), datetime.date(2023, 6, 30)]
>>> ChurnSettings(horizon_months=0)
Traceback (most recent call last):
...
ValueError: churn.horizon_months must be a whole number of months >= 1, got 0
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any, Literal, Self

import ibis
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from salesfolio.analytics.churn_reasons import occlusion_deltas, reason_frame
from salesfolio.analytics.config import AnalysisConfig, ChurnConfig
from salesfolio.analytics.timeseries import add_months
from salesfolio.contract import ACTIVITIES, ASSESSMENTS, COST_TO_SERVE, INVOICE_LINES, OPPORTUNITIES

Target = Literal["churn", "decline", "either"]

_CLIENT = INVOICE_LINES.column("client_id").name
_INVOICE = INVOICE_LINES.column("invoice_id").name
_DATE = INVOICE_LINES.column("date").name
_REVENUE = INVOICE_LINES.column("revenue").name

CHURN_FEATURES: tuple[str, ...] = (
    "recency_days",
    "order_gap_ratio",
    "median_gap_days",
    "frequency",
    "tenure_days",
    "growth",
    "trend_slope",
    "revenue_ttm",
    "revenue_prior_ttm",
    "orders_ttm",
    "orders_prior_ttm",
    "avg_order_value",
    "categories_ttm",
    "lost_categories",
    "margin_pct_ttm",
    "margin_erosion",
    "returns_share",
    "share_of_wallet",
    "relationship",
    "pipeline_weighted",
    "days_since_last_opportunity",
    "win_rate",
    "hours_ttm",
    "base_revenue",
    "recent_share",
)
"""The columns the model may use, in this order; a fit keeps those present and not all empty.

All but the last two come from the client feature frame (``docs/dev/feature-spec.md``); ``base_revenue`` (revenue
of the ``N`` months before the cut-off) and ``recent_share`` (its share of the 12 months' revenue) come with the
population (:func:`churn_labels`, :func:`churn_population`): they carry the revenue momentum at the model's own
horizon, which the 12-month features blur.

Money columns are used as they are, without the log1p a linear model would need: :class:`ChurnModel` turns every
feature into its percentile rank within its cut-off, so any monotone transform would give the same model, and the
reasons show the values in money.
"""


# -- configuration -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChurnSettings:
    """Options of the churn labels, the model's training and the backtest.

    The workspace sets ``horizon_months`` and ``revenue_drop_share`` in ``[analysis.churn]``
    (:class:`salesfolio.analytics.config.ChurnConfig`); :meth:`from_config` reads them from there. The other
    options are the backtest's and keep these defaults unless given here.

    Parameters
    ----------
    horizon_months
        ``N``: the months after a cut-off in which the outcome is observed, and the months before it that give
        the base revenue. Default 6.
    revenue_drop_share
        A client has *declined* when its revenue after the cut-off is below ``(1 - revenue_drop_share)`` times
        the base revenue. Default 0.5.
    target
        What the model predicts: ``"churn"`` (no purchase), ``"decline"`` or ``"either"`` (default).
    step_months
        Months between consecutive cut-offs; default ``horizon_months``. A smaller step adds training cut-offs
        whose outcome windows overlap (more examples, strongly correlated).
    train_cutoffs
        How many cut-offs the model is trained on (the latest ones whose outcome is known). Default 2.
    backtest_cutoffs
        How many cut-offs the backtest evaluates on. Default 2.
    top_share
        The share of clients flagged as riskiest for precision and lost revenue held. Default 0.10.
    min_clients, min_positives
        Below these (clients in a population; examples of each outcome) a cut-off is not evaluated and the
        backtest reports ``insufficient_data``. Defaults 200 and 20.
    min_auc_gain, min_lost_share_gain
        How much the model must exceed the recency baseline's AUC and the size baseline's share of lost revenue
        to count as beating them. Defaults 0.02 (two AUC points) and 0.02 (two percentage points): a smaller
        gain is not worth a second ranking beside the simple one, and on UCI Online Retail gains of one to two
        points over size came and went with changes as small as the tie-breaking of equal revenue.
    bootstrap_samples, confidence
        The gains must also hold up under a paired bootstrap over the clients of the cut-off: the lower end of
        the ``confidence`` interval (default 0.90, so the 5th percentile) above zero. Default 200 resamples;
        0 switches the check off.
    max_training_rows_per_cutoff
        The model is fitted on a stratified random sample of at most this many clients of each training cut-off
        (:func:`stratified_sample`); 0 fits on all. Default 20,000: fit time grows linearly with the rows. On the
        100,000-client benchmark (about 90,000 clients per cut-off, three seeds each) the sample made the fits
        five times cheaper; the backtest AUC moved by -0.006 and +0.000, PR-AUC by -0.009 and -0.013, precision
        of the top 10 % by -0.006 and -0.010, the Brier score by +0.001 (``docs/models.md``). Cut-offs with
        fewer clients are not sampled.
    random_state
        Seed of the model (folds, trees, validation split, sample) and of the bootstrap. Default 0.
    """

    horizon_months: int = 6
    revenue_drop_share: float = 0.5
    target: Target = "either"
    step_months: int | None = None
    train_cutoffs: int = 2
    backtest_cutoffs: int = 2
    top_share: float = 0.10
    min_clients: int = 200
    min_positives: int = 20
    min_auc_gain: float = 0.02
    min_lost_share_gain: float = 0.02
    bootstrap_samples: int = 200
    confidence: float = 0.90
    max_training_rows_per_cutoff: int = 20_000
    random_state: int = 0

    def __post_init__(self) -> None:
        for name in ("horizon_months", "train_cutoffs", "backtest_cutoffs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                what = "a whole number of months" if name == "horizon_months" else "a whole number"
                raise ValueError(f"churn.{name} must be {what} >= 1, got {value!r}")
        if self.step_months is not None and (not isinstance(self.step_months, int) or self.step_months < 1):
            raise ValueError(f"churn.step_months must be a whole number of months >= 1, got {self.step_months!r}")
        _check_label_options(self.revenue_drop_share, self.target)
        if not 0 < self.top_share < 1:
            raise ValueError(f"churn.top_share must be between 0 and 1 (exclusive), got {self.top_share!r}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"churn.confidence must be between 0 and 1 (exclusive), got {self.confidence!r}")
        if self.bootstrap_samples < 0:
            raise ValueError(f"churn.bootstrap_samples must be 0 or more, got {self.bootstrap_samples!r}")
        if self.min_clients < 1 or self.min_positives < 1:
            raise ValueError("churn.min_clients and churn.min_positives must be at least 1")
        rows = self.max_training_rows_per_cutoff
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
            raise ValueError(f"churn.max_training_rows_per_cutoff must be a whole number >= 0, got {rows!r}")

    @property
    def max_rows_per_population(self) -> int | None:
        """:class:`ChurnModel`'s sample size per cut-off: ``max_training_rows_per_cutoff``, None for all rows."""
        return self.max_training_rows_per_cutoff or None

    @property
    def step(self) -> int:
        """Months between cut-offs (``step_months``, or the horizon when unset)."""
        return self.step_months if self.step_months is not None else self.horizon_months

    @classmethod
    def from_config(cls, config: ChurnSettings | AnalysisConfig | ChurnConfig | None) -> ChurnSettings:
        """Settings from the workspace's ``[analysis.churn]`` (or the whole analysis configuration).

        Every field of this class that the workspace section defines is taken from it (``horizon_months`` and
        ``revenue_drop_share`` today); the others keep their defaults. ``None`` gives the defaults.
        """
        if config is None:
            return cls()
        if isinstance(config, ChurnSettings):
            return config
        section = config.churn if isinstance(config, AnalysisConfig) else config
        given = {name: getattr(section, name) for name in cls.__dataclass_fields__ if hasattr(section, name)}
        return cls(**given)

    def to_dict(self) -> dict[str, Any]:
        """The options as a plain dict (for reports and snapshots)."""
        return asdict(self)


def _check_label_options(revenue_drop_share: float, target: str) -> None:
    if not 0 < revenue_drop_share <= 1:
        raise ValueError(f"churn.revenue_drop_share must be in (0, 1], got {revenue_drop_share!r}")
    if target not in ("churn", "decline", "either"):
        raise ValueError(f"churn.target must be 'churn', 'decline' or 'either', got {target!r}")


# -- labels --------------------------------------------------------------------------------------------------
SIGNIFICANT_DIGITS = 12
"""Sums and features are rounded to this many significant digits before anything is ranked or compared."""
ZERO_BELOW = 1e-9
"""Values closer to zero than this count as zero (a sum of +x and -x that came out as 1e-17)."""


def round_significant(values: npt.NDArray[np.float64], digits: int = SIGNIFICANT_DIGITS) -> npt.NDArray[np.float64]:
    """``values`` rounded to ``digits`` significant digits, and to 0 below :data:`ZERO_BELOW` (NaN, inf kept).

    Why: an engine adds floats in whatever order its threads finish, so the same revenue sum can differ in the
    last bits from one run to the next (seen on DuckDB with UCI Online Retail: 1e-10 on sums of thousands), and
    a sum that should be 0 can come out as 1e-17. Two clients then swap places in a ranking, the model's
    percentile ranks move and the backtest's numbers change between identical runs. Twelve digits keep every
    cent of a billion and drop that noise.
    """
    x = np.asarray(values, dtype=np.float64)
    x = np.where(np.abs(x) < ZERO_BELOW, 0.0, x)
    regular = np.isfinite(x) & (x != 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        magnitude = np.floor(np.log10(np.abs(np.where(regular, x, 1.0))))
        scale = 10.0 ** (digits - 1 - magnitude)
        rounded = np.round(x * scale) / scale
    return np.where(regular & np.isfinite(rounded), rounded, x)


def _window_sums(lines: Any, cutoff: date, horizon_months: int, with_outcome: bool) -> pd.DataFrame:
    """Per client of the population: revenue of the 12 and the ``N`` months before ``cutoff`` (and the ``N`` after).

    ``recent_share`` is ``base_revenue / revenue_12m``: the part of the year's revenue made in the last ``N``
    months (about ``N / 12`` for a steady client), a momentum feature the model uses beside the feature frame.
    """
    year_start = add_months(cutoff, -12)
    base_start = add_months(cutoff, -horizon_months)
    end = add_months(cutoff, horizon_months) if with_outcome else cutoff
    first = min(year_start, base_start)
    d = lines[_DATE]
    window = lines.filter(lines[_CLIENT].notnull(), d > ibis.literal(first), d <= ibis.literal(end))
    wd, rev = window[_DATE], window[_REVENUE]
    before = wd <= ibis.literal(cutoff)
    sums: dict[str, Any] = {
        "revenue_12m": rev.sum(where=before & (wd > ibis.literal(year_start))),
        "base_revenue": rev.sum(where=before & (wd > ibis.literal(base_start))),
    }
    if with_outcome:
        sums["revenue_after"] = rev.sum(where=wd > ibis.literal(cutoff))
    per_client = window.group_by(_CLIENT).aggregate(**sums)
    per_client = per_client.filter(per_client.revenue_12m > ZERO_BELOW)  # a net of +x - x is no revenue
    if with_outcome:
        after = window.filter(wd > ibis.literal(cutoff))
        invoices = after.group_by([_CLIENT, _INVOICE]).aggregate(net=after[_REVENUE].sum())
        purchases = (
            invoices.filter(invoices.net > ZERO_BELOW).group_by(_CLIENT).aggregate(purchases_after=ibis._.count())
        )
        per_client = per_client.left_join(purchases, _CLIENT).select(per_client, purchases.purchases_after)
    frame = per_client.execute()
    frame[_CLIENT] = frame[_CLIENT].astype(str)
    for column in ("revenue_12m", "base_revenue", "revenue_after", "purchases_after"):
        if column in frame:
            values = pd.to_numeric(frame[column], errors="coerce").fillna(0.0).to_numpy(dtype="float64")
            frame[column] = round_significant(values)
    share = round_significant((frame.base_revenue / frame.revenue_12m).to_numpy(dtype="float64"))
    frame.insert(frame.columns.get_loc("base_revenue") + 1, "recent_share", share)
    return frame.sort_values(_CLIENT, ignore_index=True)


def churn_labels(
    lines: Any,
    cutoff: date,
    horizon_months: int = 6,
    *,
    revenue_drop_share: float = 0.5,
    target: Target = "either",
) -> pd.DataFrame:
    """Outcome of each client in the ``horizon_months`` after ``cutoff``: churned, declined, lost revenue.

    Method: see the module docstring. Computed by one Ibis expression on ``lines`` (the canonical
    ``invoice_lines``) inside the warehouse engine; only lines dated in ``(cutoff - 12 months, cutoff + N]`` are
    read (calendar months, :func:`~salesfolio.analytics.timeseries.add_months`).

    Parameters
    ----------
    lines
        The canonical ``invoice_lines`` as an Ibis table.
    cutoff
        The date ``C`` the outcome is measured from.
    horizon_months
        ``N``, default 6.
    revenue_drop_share
        Share of the base revenue a client must lose to count as declined; default 0.5.
    target
        ``"churn"``, ``"decline"`` or ``"either"`` (default): which outcome the ``target`` column holds.

    Returns
    -------
    pandas.DataFrame
        One row per client of the population, sorted by ``client_id``: ``client_id``, ``revenue_12m``,
        ``base_revenue``, ``recent_share`` (base / 12-month revenue), ``revenue_after``, ``purchases_after``
        (invoices with positive net revenue after the cut-off), ``churned``, ``declined``, ``target`` (bools)
        and ``lost_revenue``.
    """
    if not isinstance(horizon_months, int) or horizon_months < 1:
        raise ValueError(f"churn.horizon_months must be a whole number of months >= 1, got {horizon_months!r}")
    _check_label_options(revenue_drop_share, target)
    frame = _window_sums(lines, cutoff, horizon_months, with_outcome=True)
    base, after = frame["base_revenue"], frame["revenue_after"]
    frame["purchases_after"] = frame["purchases_after"].astype("int64")
    frame["churned"] = frame["purchases_after"] == 0
    frame["declined"] = (base > 0) & (after < (1.0 - revenue_drop_share) * base)
    frame["target"] = {
        "churn": frame["churned"],
        "decline": frame["declined"],
        "either": frame["churned"] | frame["declined"],
    }[target]
    frame["lost_revenue"] = round_significant((base - after).clip(lower=0.0).to_numpy(dtype="float64"))
    return frame


def churn_population(lines: Any, as_of: date, horizon_months: int = 6) -> pd.DataFrame:
    """The clients scored at ``as_of`` (net revenue > 0 in the 12 months before) and their ``base_revenue``.

    Columns ``client_id``, ``revenue_12m``, ``base_revenue``, ``recent_share``, as in :func:`churn_labels`.

    ``base_revenue`` is the net revenue of the ``horizon_months`` before ``as_of``: the money at stake, which the
    expected loss multiplies with the churn probability. Same windows as :func:`churn_labels`.
    """
    return _window_sums(lines, as_of, horizon_months, with_outcome=False)


# -- point-in-time view of the warehouse ---------------------------------------------------------------------
def tables_as_of(tables: Mapping[str, Any], cutoff: date) -> dict[str, Any]:
    """The canonical tables as they stood at ``cutoff``: nothing dated after it is visible.

    Invoice lines and activities dated after ``cutoff`` are dropped; cost-to-serve and assessments of periods
    starting after it, and assessments entered after it, are dropped; opportunities created after it are
    dropped and those closed after it are shown open (``closed``, ``won`` and ``lost_reason`` null), as they
    were on that day. Clients, reps and products are kept as they are. This is what guarantees that a backtest
    never computes a feature from the future, whatever feature function it is given.
    """
    lit = ibis.literal(cutoff)
    out = dict(tables)

    def has(name: str, *columns: str) -> bool:
        return name in out and all(c in out[name].columns for c in columns)

    if has(INVOICE_LINES.name, _DATE):
        t = out[INVOICE_LINES.name]
        out[INVOICE_LINES.name] = t.filter(t[_DATE] <= lit)
    activity_date = ACTIVITIES.column("date").name
    if has(ACTIVITIES.name, activity_date):
        t = out[ACTIVITIES.name]
        out[ACTIVITIES.name] = t.filter(t[activity_date] <= lit)
    cost_period = COST_TO_SERVE.column("period").name
    if has(COST_TO_SERVE.name, cost_period):
        t = out[COST_TO_SERVE.name]
        out[COST_TO_SERVE.name] = t.filter(t[cost_period] <= lit)
    period, entered = ASSESSMENTS.column("period").name, ASSESSMENTS.column("entered_at").name
    if has(ASSESSMENTS.name, period):
        t = out[ASSESSMENTS.name]
        keep = t[period] <= lit
        if entered in t.columns:
            keep = keep & (t[entered].isnull() | (t[entered] <= lit))
        out[ASSESSMENTS.name] = t.filter(keep)
    created, closed = OPPORTUNITIES.column("created").name, OPPORTUNITIES.column("closed").name
    if has(OPPORTUNITIES.name, created, closed):
        t = out[OPPORTUNITIES.name]
        t = t.filter(t[created].isnull() | (t[created] <= lit))
        later = t[closed] > lit
        masked = {
            name: ibis.ifelse(later, ibis.null(t[name].type()), t[name])
            for name in (closed, OPPORTUNITIES.column("won").name, OPPORTUNITIES.column("lost_reason").name)
            if name in t.columns
        }
        out[OPPORTUNITIES.name] = t.mutate(**masked)
    return out


# -- cut-offs ----------------------------------------------------------------------------------------------
def cutoff_dates(
    as_of: date, horizon_months: int, n_cutoffs: int, step_months: int | None = None, *, skip_months: int = 0
) -> list[date]:
    """Cut-offs whose ``horizon_months`` outcome window ends by ``as_of - skip_months``, latest first.

    ``C_1 = as_of - (skip + N) months`` (its outcome ends exactly at ``as_of - skip``), ``C_k = C_1 - (k - 1) *
    step`` with ``step`` = ``step_months`` or ``N``. Every date is counted from ``as_of`` in calendar months
    (:func:`~salesfolio.analytics.timeseries.add_months`), so the cut-offs of a backtest (``skip`` = how far
    back its evaluation cut-off lies) fall on the same grid of dates as those of production.
    """
    step = horizon_months if step_months is None else step_months
    return [add_months(as_of, -(skip_months + horizon_months + k * step)) for k in range(n_cutoffs)]


HISTORY_GRACE_DAYS = 7
"""A cut-off needs data from the start of its base window; a week's grace lets data that begin on the first
working days of a month or year count as covering it."""


def history_problem(first_date: date | None, cutoff: date, horizon_months: int) -> str | None:
    """Why ``cutoff`` cannot be used (the data start after its base window begins), or None when it can."""
    needed = add_months(cutoff, -horizon_months)
    if first_date is None:
        return "there are no invoice lines"
    if first_date > needed + timedelta(days=HISTORY_GRACE_DAYS):
        return (
            f"not enough history before the cut-off {cutoff.isoformat()}: the invoice lines start on "
            f"{first_date.isoformat()}, the {horizon_months}-month base window needs them from {needed.isoformat()}"
        )
    return None


# -- the model -----------------------------------------------------------------------------------------------
POPULATION_COLUMN = "cutoff"
"""Rows of ``X`` with the same value here form one population (one cut-off) for the percentile ranks."""


def _feature_matrix(X: pd.DataFrame, columns: list[str]) -> npt.NDArray[np.float64]:
    """The float matrix of ``columns`` for the model.

    Missing values and infinities become NaN (which the trees handle); values are rounded to
    :data:`SIGNIFICANT_DIGITS` so that summation noise of the engine cannot reorder clients.
    """
    parts = [pd.to_numeric(X[c], errors="coerce").to_numpy(dtype="float64", na_value=np.nan) for c in columns]
    matrix = np.column_stack(parts) if parts else np.empty((len(X), 0))
    matrix[~np.isfinite(matrix)] = np.nan
    return round_significant(matrix)


def _populations(X: pd.DataFrame) -> npt.NDArray[np.int64]:
    """A population number per row: by ``cutoff`` when ``X`` has that column, else 0 for every row."""
    if POPULATION_COLUMN not in X.columns:
        return np.zeros(len(X), dtype=np.int64)
    codes, _ = pd.factorize(X[POPULATION_COLUMN], use_na_sentinel=False)
    return np.asarray(codes, dtype=np.int64)


def percentile_ranks(matrix: npt.NDArray[np.float64], populations: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Each column as percentile ranks (0..1] within each population; ties share their mean rank, NaN stays NaN."""
    frame = pd.DataFrame(matrix)
    return np.array(frame.groupby(populations).rank(pct=True, method="average").to_numpy(dtype="float64"))


def _population_medians(matrix: npt.NDArray[np.float64], populations: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The median of each column within each row's population (NaN where a population has no value)."""
    frame = pd.DataFrame(matrix)
    return np.asarray(frame.groupby(populations).transform("median").to_numpy(dtype="float64"))


def stratified_sample(
    populations: npt.NDArray[np.int64], outcome: npt.NDArray[np.bool_], max_rows: int, random_state: int | None
) -> npt.NDArray[np.int64]:
    """Row numbers of a random sample of at most ``max_rows`` rows per population, each outcome in its share.

    A population with at most ``max_rows`` rows is kept whole. From a larger one each outcome keeps
    ``round(max_rows * its rows / population rows)`` rows (at least one), drawn without replacement with
    ``numpy.random.default_rng(random_state)``, so the base rate of every cut-off stays as it was and the same
    seed gives the same sample. Returned in ascending order.

    >>> stratified_sample(np.array([0] * 6 + [1] * 2), np.array([1, 0, 0, 0, 0, 1, 1, 0], bool), 3, 0)
    array([0, 3, 4, 6, 7])
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows!r}")
    rng = np.random.default_rng(random_state)
    keep: list[npt.NDArray[np.int64]] = []
    for population in np.unique(populations):
        rows = np.flatnonzero(populations == population)
        if len(rows) <= max_rows:
            keep.append(rows)
            continue
        for value in (False, True):
            group = rows[outcome[rows] == value]
            if len(group):
                take = max(1, round(max_rows * len(group) / len(rows)))
                keep.append(rng.choice(group, take, replace=False))
    return np.sort(np.concatenate(keep)) if keep else np.empty(0, dtype=np.int64)


def _client_index(X: pd.DataFrame) -> pd.Index:
    if _CLIENT in X.columns:
        return pd.Index(X[_CLIENT].astype(str), name=_CLIENT)
    return X.index


class ChurnModel(BaseEstimator):  # type: ignore[misc]  # scikit-learn has no type information
    """Calibrated gradient-boosting churn classifier over the client feature frame.

    Method: ``HistGradientBoostingClassifier`` (scikit-learn; the histogram gradient boosting of LightGBM, Ke et
    al. 2017; missing values go down the side of each split learned for them) inside
    ``CalibratedClassifierCV(ensemble=False)``: the calibration map is fitted on out-of-fold predictions
    (stratified ``cv`` folds) and applied to one booster fitted on all rows, so scoring and :meth:`reasons`
    evaluate a single model. Calibration is Platt's sigmoid unless there are at least ``isotonic_min_positives``
    positive examples (default 1,000), from where isotonic regression, which needs many examples not to
    overfit (scikit-learn user guide, "Probability calibration"), is used (``calibration="auto"``).

    With ``population_ranks=True`` (default) every feature enters as its percentile rank within its population:
    the rows sharing a ``cutoff`` value in ``X`` (a training set spans several cut-offs), or all of ``X`` when
    there is no such column. A model trained at earlier cut-offs then compares clients with their peers of the
    same date, and a level shift between dates (the business growing, inflation, a season, or early cut-offs
    whose 12- and 24-month windows reach before the first invoice line) is not read as a change in risk. On
    the data of ``docs/models.md`` ranks moved the backtest AUC by -0.014 to +0.020 against raw values, but on
    the synthetic set, whose earliest training cut-off had only 12 months of history, raw values gave a Brier
    score worse than predicting the base rate (0.282 against 0.252) and ranks did not (0.147). The price:
    ``X`` passed to :meth:`predict_proba` must be a whole population (all clients scored at one date), not a
    single client.

    Parameters
    ----------
    features
        Candidate feature columns; default :data:`CHURN_FEATURES`. ``fit`` keeps those present in ``X`` with a
        value for some client in *every* population (``features_``): a feature the data did not have yet at an
        earlier cut-off (a CRM introduced last year) would teach the model that "missing" means something it
        will not mean at the date it scores.
    population_ranks
        Use percentile ranks within each population (default) or the raw values.
    learning_rate, max_iter, max_leaf_nodes, min_samples_leaf, l2_regularization
        Booster options; defaults 0.1, 500, 15, 40, 1.0: small, regularised trees, because churn data sets are
        small and noisy (hundreds to thousands of clients per cut-off). A rate of 0.05 gave the same backtest
        AUC within 0.01 on the data of ``docs/models.md`` with twice the trees, so twice the scoring time.
    early_stopping
        Stop adding trees when the log-loss on a 20 % validation split of the training rows has not improved
        for 20 iterations (default ``True``, so the number of trees is chosen from the training data alone).
    calibration
        ``"auto"`` (default), ``"sigmoid"`` or ``"isotonic"``.
    isotonic_min_positives
        Positive examples from which ``"auto"`` uses isotonic calibration. Default 1,000.
    cv
        Folds of the calibration (its out-of-fold predictions). Default 2: each fold's booster costs half a full
        fit, so a model costs two full fits against three with 3 folds. The final booster is the same either way
        (fitted on all rows), so rankings move only through the ties of isotonic calibration: on the benchmark
        and the real data sets of ``docs/models.md`` AUC moved by at most 0.003 and the Brier score by at most
        0.004 (lower at 6 of 7 real-data cut-offs).
    max_rows_per_population
        Fit on a stratified random sample of at most this many rows of each population (each cut-off of a
        training set; :func:`stratified_sample`, seeded with ``random_state``), after the percentile ranks were
        taken over the whole population. ``None`` (default) fits on every row. Fit time grows linearly with the
        rows; :class:`ChurnSettings` sets 20,000 (what that costs in backtest quality: see there).
    random_state
        Seed. Default 0.
    n_threads
        OpenMP threads of the booster while fitting and predicting; default 1. Churn training sets are small
        (thousands of rows), where threads gain little, and on a busy machine OpenMP threads wait for each other:
        measured on 2 shared cores, a 4,600-row fit took 0.6 s on one thread and 12 s on two. ``None`` leaves
        the process default.

    Attributes
    ----------
    features_ : list of str
        The features used, in :data:`CHURN_FEATURES` order.
    reference_ : dict of str to float
        The median of each feature over the training rows (raw values).
    calibration_ : str
        The calibration method used.
    n_clients_, n_positive_ : int
        Training rows and positive examples.
    n_fit_rows_ : int
        Rows the booster and its calibration were fitted on (``n_clients_`` unless ``max_rows_per_population``
        sampled fewer).
    base_rate_ : float
        Share of positive examples in the training rows.
    estimator_ : sklearn.calibration.CalibratedClassifierCV
        The fitted model.
    """

    def __init__(
        self,
        *,
        features: tuple[str, ...] | None = None,
        population_ranks: bool = True,
        learning_rate: float = 0.1,
        max_iter: int = 500,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        early_stopping: bool = True,
        calibration: Literal["auto", "sigmoid", "isotonic"] = "auto",
        isotonic_min_positives: int = 1000,
        cv: int = 2,
        max_rows_per_population: int | None = None,
        random_state: int | None = 0,
        n_threads: int | None = 1,
    ) -> None:
        self.features = features
        self.population_ranks = population_ranks
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.early_stopping = early_stopping
        self.calibration = calibration
        self.isotonic_min_positives = isotonic_min_positives
        self.cv = cv
        self.max_rows_per_population = max_rows_per_population
        self.random_state = random_state
        self.n_threads = n_threads

    def _threads(self) -> contextlib.AbstractContextManager[Any]:
        if self.n_threads is None:
            return contextlib.nullcontext()
        return threadpool_limits(limits=self.n_threads, user_api="openmp")  # type: ignore[no-any-return]

    def fit(self, X: pd.DataFrame, y: Any) -> Self:
        """Fit on the feature frame ``X`` (one row per client and cut-off) and the outcome ``y`` (bool or 0/1)."""
        if self.calibration not in ("auto", "sigmoid", "isotonic"):
            raise ValueError(f"calibration must be 'auto', 'sigmoid' or 'isotonic', got {self.calibration!r}")
        outcome = np.asarray(y)
        if outcome.ndim != 1 or len(outcome) != len(X):
            raise ValueError(f"y must hold one outcome per row of X ({len(X)} rows), got shape {outcome.shape}")
        if not np.isin(outcome, (0, 1)).all():
            raise ValueError("y must hold booleans or 0/1")
        outcome = outcome.astype(bool)
        candidates = list(self.features if self.features is not None else CHURN_FEATURES)
        populations = _populations(X)
        used = [
            c
            for c in candidates
            if c in X.columns and pd.to_numeric(X[c], errors="coerce").notna().groupby(populations).any().all()
        ]
        if not used:
            raise ValueError(f"X has none of the churn features (or all are empty): {', '.join(candidates)}")
        positives, negatives = int(outcome.sum()), int((~outcome).sum())
        if min(positives, negatives) < self.cv:
            raise ValueError(
                f"ChurnModel needs at least {self.cv} positive and {self.cv} negative examples, "
                f"got {positives} positive and {negatives} negative"
            )
        raw = _feature_matrix(X, used)
        if self.calibration == "auto":
            method = "isotonic" if positives >= self.isotonic_min_positives else "sigmoid"
        else:
            method = self.calibration
        booster = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=self.early_stopping,
            validation_fraction=0.2,
            n_iter_no_change=20,
            random_state=self.random_state,
        )
        folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        self.estimator_ = CalibratedClassifierCV(booster, method=method, cv=folds, ensemble=False)
        model_space = self._model_space(raw, X)
        rows = (
            stratified_sample(populations, outcome, self.max_rows_per_population, self.random_state)
            if self.max_rows_per_population is not None
            else slice(None)
        )
        with self._threads():
            self.estimator_.fit(model_space[rows], outcome[rows])
        self.features_ = used
        self.reference_ = {c: float(np.nanmedian(raw[:, i])) for i, c in enumerate(used)}
        self.calibration_ = method
        self.n_clients_ = len(outcome)
        self.n_positive_ = positives
        self.n_fit_rows_ = len(outcome[rows])
        self.base_rate_ = positives / len(outcome)
        return self

    def _model_space(self, raw: npt.NDArray[np.float64], X: pd.DataFrame) -> npt.NDArray[np.float64]:
        return percentile_ranks(raw, _populations(X)) if self.population_ranks else raw

    def _check_fitted(self, X: pd.DataFrame) -> npt.NDArray[np.float64]:
        if not hasattr(self, "estimator_"):
            raise ValueError("ChurnModel is not fitted; call fit() first")
        missing = [c for c in self.features_ if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks feature(s) the model was fitted on: {', '.join(missing)}")
        return _feature_matrix(X, self.features_)

    def _probability(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        with self._threads():
            return np.asarray(self.estimator_.predict_proba(matrix)[:, 1], dtype=np.float64)

    def predict_proba(self, X: pd.DataFrame) -> pd.Series:
        """The calibrated probability of the target outcome for each row of ``X`` (a whole population).

        Unlike scikit-learn's two-column array, one probability per client: a ``Series`` named
        ``churn_probability``, indexed by ``client_id`` when ``X`` has that column (else by ``X``'s index).
        """
        raw = self._check_fitted(X)
        probability = self._probability(self._model_space(raw, X))
        return pd.Series(probability, index=_client_index(X), name="churn_probability")

    def reasons(self, X: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        """The features that move each client's probability most, with their direction and a sentence.

        Method: one-at-a-time occlusion against the typical client. For each feature, the client's value is
        replaced by the median of its population (with ``population_ranks``: the middle rank 0.5; otherwise the
        training median ``reference_``) and the probability predicted again; the contribution is
        ``p(client) - p(client with the typical value)``: positive when the client's value raises the risk. It is
        model-agnostic, exact for what it states ("had this client a typical value of X, its probability would
        be lower by d"), and costs one prediction per feature (25 at most), so 100,000 clients take seconds; only
        the trees that split on the feature are predicted again, which gives the same numbers at about 40 % of
        the cost (:func:`salesfolio.analytics.churn_reasons.occlusion_deltas`).
        SHAP values would share out interactions more fairly, but scikit-learn has no TreeSHAP for this booster
        and the ``shap`` package is not a dependency. Contributions below 0.01 points are not shown.

        Returns
        -------
        pandas.DataFrame
            Up to ``top`` rows per client, largest absolute contribution first: ``client_id``, ``rank``
            (1 = strongest), ``feature``, ``value``, ``typical`` (the population median), ``contribution``
            (probability points as a fraction), ``direction`` (``"raises"`` or ``"lowers"``) and ``sentence``.
        """
        if top < 1:
            raise ValueError(f"top must be at least 1, got {top}")
        raw = self._check_fitted(X)
        matrix = self._model_space(raw, X)
        if self.population_ranks:
            typical_raw = _population_medians(raw, _populations(X))
            typical_model = np.full(len(self.features_), 0.5)
        else:
            typical_model = np.asarray([self.reference_[c] for c in self.features_])
            typical_raw = np.broadcast_to(typical_model, raw.shape)
        threads = self.n_threads if self.n_threads is not None else (os.cpu_count() or 1)
        _, deltas, _ = occlusion_deltas(self.estimator_, matrix, typical_model, self._probability, threads)
        return reason_frame(_client_index(X).to_numpy(), list(self.features_), raw, typical_raw, deltas, top)


# -- the rule baseline --------------------------------------------------------------------------------------
def signal_count(features: pd.DataFrame) -> pd.Series:
    """How many rule-based early-warning signals each client fires (0 to 4): the ``signals`` baseline.

    Kept with the churn model, self-contained, so that the baseline does not move when the rules of
    :mod:`salesfolio.analytics.signals` are tuned: ``growth <= -0.2`` (revenue down a fifth on the prior 12
    months); ``order_gap_ratio >= 2`` with ``orders_total >= 3`` (twice the client's own usual gap;
    ``orders_ttm`` when there is no ``orders_total``); ``lost_categories >= 1``; ``recency_days >= 180``. A
    missing input fires nothing.
    """

    def column(name: str) -> pd.Series:
        if name not in features.columns:
            return pd.Series(np.nan, index=features.index)
        return pd.to_numeric(features[name], errors="coerce").astype("float64")

    orders = column("orders_total") if "orders_total" in features.columns else column("orders_ttm")
    fired = (
        (column("growth") <= -0.2).astype(int)
        + ((column("order_gap_ratio") >= 2) & (orders >= 3)).astype(int)
        + (column("lost_categories") >= 1).astype(int)
        + (column("recency_days") >= 180).astype(int)
    )
    return fired.rename("n_signals")
