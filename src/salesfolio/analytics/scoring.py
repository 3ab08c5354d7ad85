"""Client scoring: a weighted sum of normalised criteria that decomposes into its contributions.

Method (a weighted additive score, the form of customer health scores in Gainsight, ChurnZero and Totango):

1. Each criterion of the catalogue (:mod:`salesfolio.analytics.criteria`) reads its components from the feature
   frame (or from ``extra``). Each component is normalised to 0..1 over all clients that have it:

   * ``percentile`` (default): ``(rank - 1) / (n - 1)`` with tied values sharing their average rank, so the
     lowest client gets 0, the highest 1, and a single client (or all clients tied) 0.5;
   * ``minmax``: ``(x - min) / (max - min)`` (0.5 when all values are equal);
   * ``zscore``: the standard normal CDF of ``(x - mean) / sd`` (population sd; 0.5 when sd is 0).

   A component with ``sign=-1`` is flipped (``1 - x``); the criterion's measure is the weighted mean of the
   components a client has; a ``lower_is_better`` criterion is flipped again, so ``norm_<criterion>`` is
   always 1 for the best client.
2. A criterion that no client has data for is dropped with a warning naming it, and the weights of the rest are
   renormalised to 100 % (``weights_used``).
3. A client without data for some criterion follows ``missing_policy``: ``renormalise`` (default) scores it on
   the criteria it has (its weights rescaled to 100 %), ``neutral`` counts the missing criterion as 0.5.
4. ``contrib_<criterion> = 100 x weight x norm / (sum of the weights that apply to that client)``, and
   ``score`` is the sum of the contributions in catalogue order, so it equals that sum exactly and lies in
   0..100. Bands: ``good`` at or above ``score_bands.good`` (67), ``poor`` below ``score_bands.poor`` (33),
   ``average`` between, ``unknown`` for a client with no data for any criterion.

>>> import pandas as pd
>>> from salesfolio.analytics.config import AnalysisConfig
>>> cfg = AnalysisConfig.model_validate({"criteria": {c: {"enabled": c == "current_value"} for c in
...     ["current_value", "margin", "growth_potential", "relationship", "cost_to_serve", "churn_risk",
...      "cross_sell", "strategic_fit", "growth"]}})
>>> res = score_clients(pd.DataFrame({"client_id": ["a", "b", "c"], "revenue_ttm": [10.0, 30.0, 20.0]}), cfg)
>>> res.frame[["client_id", "score", "band"]].to_dict("list")
{'client_id': ['a', 'b', 'c'], 'score': [0.0, 100.0, 50.0], 'band': ['poor', 'good', 'average']}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.special import ndtr
from scipy.stats import rankdata

from salesfolio.analytics.config import AnalysisConfig
from salesfolio.analytics.criteria import CRITERIA, Component, Normalisation
from salesfolio.contract import CLIENTS

CLIENT_ID = CLIENTS.column("client_id").name

BANDS = ("good", "average", "poor", "unknown")


@dataclass(frozen=True)
class ScoreResult:
    """What :func:`score_clients` returns.

    Attributes
    ----------
    frame
        One row per client in the order of the feature frame: ``client_id``, ``score`` (0-100), ``band``, and for
        every enabled criterion with a weight above 0 a ``contrib_<criterion>`` column in score points (0 for a
        dropped criterion) and a ``norm_<criterion>`` column (0..1, 1 = best; empty where the client has no data).
    weights_used
        Weight of each criterion that entered the score, in percent (adds up to 100).
    dropped
        Criteria dropped because no client has data for them.
    warnings
        One sentence per dropped criterion, naming it and why.
    coverage
        Share of clients (0..1) with data for each enabled criterion.
    """

    frame: pd.DataFrame
    weights_used: dict[str, float]
    dropped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    coverage: dict[str, float] = field(default_factory=dict)


def normalise(values: np.ndarray | pd.Series, method: Normalisation = "percentile") -> np.ndarray:
    """Normalise ``values`` to 0..1 (missing values stay missing).

    Parameters
    ----------
    values
        Raw values; NaN and infinities count as missing.
    method
        ``percentile`` (default): ``(average rank - 1) / (n - 1)``; ``minmax``: ``(x - min) / (max - min)``;
        ``zscore``: ``Phi((x - mean) / sd)`` with the population sd. A single value, or all values equal,
        gives 0.5.

    >>> normalise(np.array([10.0, 20.0, 20.0, np.nan, 40.0])).tolist()
    [0.0, 0.5, 0.5, nan, 1.0]
    >>> normalise(np.array([10.0, 20.0, 40.0]), "minmax").round(4).tolist()
    [0.0, 0.3333, 1.0]
    """
    x = np.asarray(values, dtype="float64")
    out = np.full(x.shape, np.nan)
    mask = np.isfinite(x)
    n = int(mask.sum())
    if n == 0:
        return out
    v = x[mask]
    if method == "percentile":
        if n == 1:
            out[mask] = 0.5
        else:
            out[mask] = (rankdata(v, method="average") - 1.0) / (n - 1)
    elif method == "minmax":
        lo, hi = v.min(), v.max()
        out[mask] = 0.5 if hi == lo else np.clip((v - lo) / (hi - lo), 0.0, 1.0)
    elif method == "zscore":
        scale = np.abs(v).max()
        v = v / scale if scale > 0 else v  # z-scores do not change with scale; this keeps v.std() finite
        sd = v.std()
        out[mask] = 0.5 if sd == 0 else ndtr((v - v.mean()) / sd)
    else:
        raise ValueError(f"unknown normalisation {method!r}; use percentile, minmax or zscore")
    return out


def labels(conditions: Sequence[np.ndarray], names: Sequence[str], default: str) -> pd.api.extensions.ExtensionArray:
    """``numpy.select`` for text labels, built as an Arrow string column (no Python string per row).

    >>> list(labels([np.array([True, False]), np.array([True, True])], ["a", "b"], "c"))
    ['a', 'b']
    """
    codes = np.select(list(conditions), list(range(len(names))), len(names)) if len(conditions) else None
    if codes is None:
        return pd.array([default], dtype="str")
    return pd.Series(pa.array([*names, default]).take(pa.array(codes)), dtype="str").array


def check_features(features: pd.DataFrame) -> None:
    """Refuse a feature frame without a unique ``client_id`` column (the key every result is joined on)."""
    if CLIENT_ID not in features.columns:
        raise ValueError(f"the feature frame has no {CLIENT_ID!r} column")
    dup = features[CLIENT_ID].duplicated()
    if dup.any():
        shown = ", ".join(repr(str(v)) for v in features.loc[dup, CLIENT_ID].unique()[:5])
        raise ValueError(f"the feature frame has duplicate client_id values: {shown}")


def column_values(features: pd.DataFrame, name: str, extra: Mapping[str, pd.Series] | None = None) -> np.ndarray:
    """Column ``name`` as float64 (missing = NaN), from ``extra`` (aligned on client_id) or from the features.

    A column found in neither is all missing, so a criterion needing it is dropped rather than failing.
    """
    if extra is not None and name in extra:
        series = extra[name]
        if series.index.has_duplicates:
            raise ValueError(f"extra[{name!r}] has duplicate client_id values in its index")
        aligned = series.reindex(pd.Index(features[CLIENT_ID]))
        x = pd.to_numeric(aligned, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    elif name in features.columns:
        col = features[name]
        if col.dtype == bool:
            col = col.astype("float64")
        x = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    else:
        return np.full(len(features), np.nan)
    out: np.ndarray = np.where(np.isfinite(x), x, np.nan)
    return out


def _component(
    comp: Component, features: pd.DataFrame, extra: Mapping[str, pd.Series] | None, method: Normalisation
) -> np.ndarray:
    x = column_values(features, comp.column, extra)
    if comp.per is not None:
        per = column_values(features, comp.per, extra)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            x = np.where(per > 0, x / per, np.nan)
    norm = normalise(x, method)
    return 1.0 - norm if comp.sign == -1 else norm


def criterion_norm(
    criterion_id: str,
    features: pd.DataFrame,
    config: AnalysisConfig,
    extra: Mapping[str, pd.Series] | None = None,
) -> np.ndarray:
    """The 0..1 value of one criterion for every client (1 = best; NaN = no data), as used in the score."""
    spec = CRITERIA[criterion_id]
    settings = config.criteria[criterion_id]
    num = np.zeros(len(features))
    den = np.zeros(len(features))
    for comp in spec.components:
        n = _component(comp, features, extra, settings.normalisation)
        have = ~np.isnan(n)
        num += np.where(have, comp.weight * n, 0.0)
        den += np.where(have, comp.weight, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        measure = np.where(den > 0, np.clip(num / den, 0.0, 1.0), np.nan)
    return 1.0 - measure if settings.direction == "lower_is_better" else measure


def _sequential_sum(contrib: np.ndarray) -> np.ndarray:
    # Left to right in catalogue order: the same additions a reader makes, so the score equals the sum exactly.
    total = contrib[:, 0].copy()
    for j in range(1, contrib.shape[1]):
        total = total + contrib[:, j]
    return total


def _cap_at_100(contrib: np.ndarray) -> np.ndarray:
    # Weights rescaled per client can add up to 100 plus a rounding error (1e-14); shrink those rows by it so
    # the documented range [0, 100] holds exactly.
    total = _sequential_sum(contrib)
    for _ in range(8):
        over = total > 100.0
        if not over.any():
            break
        contrib[over] *= 100.0 / total[over][:, None]
        contrib[over] = np.nextafter(contrib[over], 0.0)
        total = _sequential_sum(contrib)
    return contrib


def score_clients(
    features: pd.DataFrame, config: AnalysisConfig, extra: Mapping[str, pd.Series] | None = None
) -> ScoreResult:
    """Score every client 0-100 on the workspace's criteria; see the module docstring for the method.

    Parameters
    ----------
    features
        The per-client feature frame (``docs/dev/feature-spec.md``); columns a criterion needs may be absent.
    config
        The analysis configuration: criteria (weight, enabled, direction, normalisation), ``missing_policy``
        (``renormalise`` by default) and ``score_bands`` (67 / 33).
    extra
        Inputs from other analyses, each a Series indexed by client_id: ``n_signals``, ``whitespace_value``,
        ``churn_probability``.

    Returns
    -------
    ScoreResult
        Scores with their contributions, the weights used and warnings for dropped criteria.
    """
    check_features(features)
    n = len(features)
    enabled = [cid for cid, c in config.criteria.items() if c.enabled and c.weight > 0]
    norms: dict[str, np.ndarray] = {cid: criterion_norm(cid, features, config, extra) for cid in enabled}
    coverage = {cid: float(np.mean(~np.isnan(v))) if n else 0.0 for cid, v in norms.items()}
    dropped = [cid for cid in enabled if n == 0 or np.isnan(norms[cid]).all()]
    kept = [cid for cid in enabled if cid not in dropped]
    warnings = [
        f"{cid} dropped: no client has {CRITERIA[cid].data_name} data ({CRITERIA[cid].missing_reason}); "
        "the remaining weights were renormalised"
        for cid in dropped
    ]
    total_weight = sum(config.criteria[cid].weight for cid in kept)
    weights_used = {cid: 100.0 * config.criteria[cid].weight / total_weight for cid in kept}

    score = np.full(n, np.nan)
    contrib_cols: dict[str, np.ndarray] = {}
    if kept:
        weights = np.array([config.criteria[cid].weight for cid in kept])
        matrix = np.column_stack([norms[cid] for cid in kept])
        have = ~np.isnan(matrix)
        if config.missing_policy == "neutral":
            matrix = np.where(have, matrix, 0.5)
            have = np.ones_like(have)
        applied = (have * weights).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            contrib = 100.0 * np.where(have, matrix, 0.0) * weights / applied[:, None]
        scored = applied > 0
        contrib[~scored] = np.nan
        contrib[scored] = _cap_at_100(contrib[scored])
        score = _sequential_sum(contrib)
        contrib_cols = {cid: contrib[:, j] for j, cid in enumerate(kept)}
    else:
        warnings.append("no criterion has data for any client: no scores were computed")

    bands = config.score_bands
    band = labels([np.isnan(score), score >= bands.good, score < bands.poor], ["unknown", "good", "poor"], "average")
    zero_or_nan = np.where(np.isnan(score), np.nan, 0.0)
    columns: dict[str, object] = {CLIENT_ID: features[CLIENT_ID].array, "score": score, "band": band}
    columns.update({f"contrib_{cid}": contrib_cols.get(cid, zero_or_nan) for cid in enabled})
    columns.update({f"norm_{cid}": norms[cid] for cid in enabled})
    return ScoreResult(pd.DataFrame(columns), weights_used, dropped, warnings, coverage)


def portfolio_axes(result: ScoreResult, config: AnalysisConfig) -> pd.DataFrame:
    """The two axes of the value x potential matrix, 0-100, from a score result.

    ``value_score`` is the weighted mean of ``norm_<criterion>`` over ``matrix.value_criteria`` (default
    current value and margin) and ``potential_score`` over ``matrix.potential_criteria`` (default growth
    potential, growth and cross-sell), each with the criteria's weights, over the criteria the client has, x 100.
    Criteria not in the score (disabled or dropped) are left out; a client with none of them gets NaN.
    """
    frame = result.frame
    out = pd.DataFrame({CLIENT_ID: frame[CLIENT_ID].array})
    for axis, ids in (
        ("value_score", config.matrix.value_criteria),
        ("potential_score", config.matrix.potential_criteria),
    ):
        num = np.zeros(len(frame))
        den = np.zeros(len(frame))
        for cid in ids:
            if cid not in result.weights_used:
                continue
            v = frame[f"norm_{cid}"].to_numpy(dtype="float64")
            w = result.weights_used[cid]
            num += np.where(np.isnan(v), 0.0, w * v)
            den += np.where(np.isnan(v), 0.0, w)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[axis] = np.where(den > 0, np.clip(100.0 * num / den, 0.0, 100.0), np.nan)
    return out
