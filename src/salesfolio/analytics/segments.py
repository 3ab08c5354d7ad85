"""Portfolio segments: ABC/Pareto, value x potential, cost-to-serve x net price, opportunity zones, RFM, heatmaps.

Every function takes per-client Series indexed by client_id (or a frame with a ``client_id`` column) and returns
a frame with a ``client_id`` column, so results join on one key. Labels of every segment in English and Polish
are in :data:`SEGMENT_LABELS`. Missing inputs never fail: a client without the data gets ``unknown``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from salesfolio.analytics.config import CtsConfig, MatrixConfig, OpportunityZonesConfig
from salesfolio.analytics.scoring import labels
from salesfolio.contract import CLIENTS, OPPORTUNITIES

CLIENT_ID = CLIENTS.column("client_id").name
_OPP_ID = OPPORTUNITIES.column("opportunity_id").name
_OPP_VALUE = OPPORTUNITIES.column("value").name
_OPP_PROBABILITY = OPPORTUNITIES.column("probability").name
_OPP_CLOSED = OPPORTUNITIES.column("closed").name
_OPP_WON = OPPORTUNITIES.column("won").name

UNKNOWN = "unknown"

SEGMENT_LABELS: dict[str, tuple[str, str]] = {
    # value x potential matrix
    "strategic": ("Strategic", "Strategiczni"),
    "development": ("Development", "Rozwojowi"),
    "maintain": ("Maintain", "Do utrzymania"),
    "operational": ("Operational", "Operacyjni"),
    # cost-to-serve x net price (Shapiro et al. 1987)
    "carriage_trade": ("Carriage trade", "Wymagający premium"),
    "passive": ("Passive", "Pasywni"),
    "aggressive": ("Aggressive", "Agresywni"),
    "bargain_basement": ("Bargain basement", "Okazyjni"),
    # RFM
    "champions": ("Champions", "Czempioni"),
    "loyal": ("Loyal", "Lojalni"),
    "potential_loyalists": ("Potential loyalists", "Potencjalnie lojalni"),
    "new": ("New", "Nowi"),
    "promising": ("Promising", "Obiecujący"),
    "need_attention": ("Need attention", "Wymagający uwagi"),
    "about_to_sleep": ("About to sleep", "Zasypiający"),
    "at_risk": ("At risk", "Zagrożeni"),
    "cannot_lose": ("Cannot lose", "Nie możemy ich stracić"),
    "hibernating": ("Hibernating", "Uśpieni"),
    "lost": ("Lost", "Utraceni"),
    UNKNOWN: ("Unknown", "Brak danych"),
}
"""English and Polish label of every segment id this module returns."""


def _series(values: pd.Series, name: str) -> pd.Series:
    if not isinstance(values, pd.Series):
        raise TypeError(f"{name} must be a pandas Series indexed by client_id")
    if values.index.has_duplicates:
        shown = ", ".join(repr(str(v)) for v in values.index[values.index.duplicated()].unique()[:5])
        raise ValueError(f"{name} has duplicate client_id values: {shown}")
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return pd.Series(np.where(np.isfinite(x), x, np.nan), index=values.index, name=values.name)


def _aligned(**named: pd.Series) -> pd.DataFrame:
    frame = pd.concat({k: _series(v, k) for k, v in named.items()}, axis=1, join="outer", sort=False)
    frame.index.name = CLIENT_ID
    return frame


# ---------------------------------------------------------------------------------------------------------------
# ABC / Pareto


def _arrow_ids(ids: pd.Index | pd.api.extensions.ExtensionArray | np.ndarray) -> pa.Array:
    return pa.array(pd.array(np.asarray(ids, dtype=object) if isinstance(ids, np.ndarray) else ids, dtype="str"))


def money_order(values: np.ndarray, ids: pd.Index | pd.api.extensions.ExtensionArray | np.ndarray) -> np.ndarray:
    """Row positions that sort ``values`` largest first, on values rounded to cents, ties by client_id, NaN last.

    Engines add floats in different orders, so equal revenues can differ in the last bits; rounding to cents with
    client_id as tie-break keeps the order, and ABC boundaries, identical across engines and row orders
    (performance-anchors.md, pitfalls).
    """
    cents = np.round(np.asarray(values, dtype="float64") * 100.0)
    missing = np.isnan(cents)
    table = pa.table({"missing": missing, "cents": np.where(missing, 0.0, cents), "id": _arrow_ids(ids)})
    order = pc.sort_indices(table, sort_keys=[("missing", "ascending"), ("cents", "descending"), ("id", "ascending")])
    result: np.ndarray = order.to_numpy()
    return result


def _pareto_order(values: pd.Series) -> pd.DataFrame:
    v = _series(values, "values")
    order = money_order(v.to_numpy(), v.index)
    value = v.to_numpy()[order]
    cents = np.round(value * 100.0)
    frame = pd.DataFrame({CLIENT_ID: pd.array(v.index, dtype="str").take(order), "value": value})
    frame["_missing"] = np.isnan(cents)
    positive = np.where(cents > 0, cents, 0.0).astype("int64")
    frame["_positive"] = positive
    frame["_cumulative"] = np.cumsum(positive)
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame


def abc_classes(values: pd.Series, a: float = 0.80, b: float = 0.95) -> pd.DataFrame:
    """ABC classes by Pareto analysis of ``values`` (revenue, margin, ...).

    Method: clients are sorted by value (rounded to cents; ties by client_id, so the order never depends on
    row order or on floating-point summation order) and their cumulative share of the total of positive
    values is taken. Class A: the clients that together make the first ``a`` (80 %) of the total, including the
    client whose share crosses ``a``; class B: the next up to ``b`` (95 %); class C: the rest, including every
    client with a zero or negative value. A client without a value (NaN) is ``unknown``.
    Source: Pareto's 80/20 principle as used for ABC inventory and customer classification (Dickie 1951,
    "ABC inventory analysis shoots for dollars, not pennies", Factory Management and Maintenance).

    Parameters
    ----------
    values
        One value per client, indexed by client_id.
    a, b
        Cumulative-share cut points (defaults 0.80 and 0.95, ``[analysis.abc]``).

    Returns
    -------
    pandas.DataFrame
        ``client_id, value, rank, share, cumulative_share, abc_class`` sorted by rank (1 = largest).

    The second client crosses 80 % (75 -> 90 %), so it is still A:

    >>> abc_classes(pd.Series({"x": 75.0, "y": 15.0, "z": 6.0, "w": 4.0}))["abc_class"].tolist()
    ['A', 'A', 'B', 'C']
    """
    if not 0 < a <= b <= 1:
        raise ValueError(f"ABC cut points must satisfy 0 < a <= b <= 1, got a={a:g}, b={b:g}")
    frame = _pareto_order(values)
    total = int(frame["_positive"].sum())
    positive = frame["_positive"].to_numpy()
    before = frame["_cumulative"].to_numpy() - positive
    is_pos = positive > 0
    abc = labels(
        [frame["_missing"].to_numpy(), is_pos & (before < a * total), is_pos & (before < b * total)],
        [UNKNOWN, "A", "B"],
        "C",
    )
    frame["share"] = positive / total if total > 0 else 0.0
    frame["cumulative_share"] = frame["_cumulative"] / total if total > 0 else 0.0
    frame["abc_class"] = abc
    return frame[[CLIENT_ID, "value", "rank", "share", "cumulative_share", "abc_class"]]


def abc_summary(classes: pd.DataFrame) -> pd.DataFrame:
    """Clients and value per ABC class with their shares, from :func:`abc_classes`.

    Returns ``abc_class, clients, client_share, value, value_share`` for A, B, C (and unknown when present);
    ``value_share`` is the class's share of the total of positive values, so A + B + C = 100 %.
    """
    positive = classes["value"].clip(lower=0).fillna(0.0)
    grouped = (
        pd.DataFrame({"abc_class": classes["abc_class"], "value": classes["value"], "_pos": positive})
        .groupby("abc_class", sort=True)
        .agg(clients=("value", "size"), value=("value", "sum"), _pos=("_pos", "sum"))
    )
    order = [c for c in ("A", "B", "C", UNKNOWN) if c in grouped.index or c != UNKNOWN]
    grouped = grouped.reindex(order, fill_value=0)
    total_pos = float(positive.sum())
    grouped["client_share"] = grouped["clients"] / max(len(classes), 1)
    grouped["value_share"] = grouped["_pos"] / total_pos if total_pos > 0 else 0.0
    return grouped.reset_index()[["abc_class", "clients", "client_share", "value", "value_share"]]


@dataclass(frozen=True)
class ParetoCurve:
    """The Pareto (Lorenz-style concentration) curve of a portfolio.

    Attributes
    ----------
    frame
        ``rank, client_id, value, client_share, value_share``: after the client of that rank, the cumulative
        share of clients and of the total of positive values (the chart starts at (0, 0) by convention).
    top_n
        How many clients ``top_share`` counts (10 by default).
    top_share
        Share of the total held by the ``top_n`` largest clients (concentration).
    """

    frame: pd.DataFrame
    top_n: int
    top_share: float


def pareto_curve(values: pd.Series, top_n: int = 10) -> ParetoCurve:
    """Cumulative share of clients against cumulative share of value, largest clients first.

    Same ordering as :func:`abc_classes` (cents, then client_id); zero and negative values add nothing, so the
    curve ends at 100 %. ``top_share`` is the top-``top_n`` concentration (default top 10).

    >>> pareto_curve(pd.Series({"x": 60.0, "y": 30.0, "z": 10.0}), top_n=1).top_share
    0.6
    """
    frame = _pareto_order(values)
    total = int(frame["_positive"].sum())
    n = len(frame)
    out = pd.DataFrame(
        {
            "rank": frame["rank"],
            CLIENT_ID: frame[CLIENT_ID],
            "value": frame["value"],
            "client_share": frame["rank"] / n if n else frame["rank"].astype("float64"),
            "value_share": frame["_cumulative"] / total if total > 0 else 0.0,
        }
    )
    top = int(frame["_positive"].iloc[:top_n].sum())
    return ParetoCurve(out, top_n, top / total if total > 0 else 0.0)


# ---------------------------------------------------------------------------------------------------------------
# Two-axis matrices


@dataclass(frozen=True)
class QuadrantResult:
    """A two-axis segmentation: the per-client frame and the split points (the chart's reference lines)."""

    frame: pd.DataFrame
    x_split: float
    y_split: float


def _split_point(values: pd.Series, split: float, *, percentile: bool) -> float:
    present = values.dropna().to_numpy()
    if not percentile:
        return float(split)
    if len(present) == 0:
        return float("nan")
    return float(np.percentile(present, split))


def _quadrants(
    frame: pd.DataFrame, x: str, y: str, x_split: float, y_split: float, names: dict[tuple[bool, bool], str]
) -> pd.DataFrame:
    xv = frame[x].to_numpy()
    yv = frame[y].to_numpy()
    x_high = xv >= x_split
    y_high = yv >= y_split
    known = ~np.isnan(xv) & ~np.isnan(yv)
    segment = labels(
        [~known, x_high & y_high, ~x_high & y_high, x_high & ~y_high],
        [UNKNOWN, names[True, True], names[False, True], names[True, False]],
        names[False, False],
    )
    out = frame.reset_index()
    out[f"{x}_high"] = pd.arrays.BooleanArray(x_high & known, ~known)
    out[f"{y}_high"] = pd.arrays.BooleanArray(y_high & known, ~known)
    out["segment"] = segment
    return out


def value_potential_matrix(
    current_value_score: pd.Series, potential_score: pd.Series, thresholds: MatrixConfig | None = None
) -> QuadrantResult:
    """The current value x future potential portfolio matrix.

    Quadrants (``segment``): high value and high potential = ``strategic`` (grow and protect); low value and high
    potential = ``development`` (invest to develop); high value and low potential = ``maintain`` (keep
    efficiently); low value and low potential = ``operational`` (serve at low cost). "High" means at or above
    the split: with ``split = "percentile"`` (default) the ``value_split`` / ``potential_split`` percentile of
    the clients' scores (default 50 = median), with ``"absolute"`` the score itself. A client missing either
    score is ``unknown``. Source: the customer portfolio matrix of key-account management (Fiocca 1982,
    "Account portfolio analysis for strategy development", Industrial Marketing Management 11; Turnbull 1990),
    an adaptation of the BCG growth-share matrix; the axes come from
    :func:`salesfolio.analytics.scoring.portfolio_axes`.

    Returns
    -------
    QuadrantResult
        ``frame``: ``client_id, value_score, potential_score, value_score_high, potential_score_high, segment``;
        ``x_split`` and ``y_split``: the value and potential scores used as splits.
    """
    cfg = thresholds or MatrixConfig()
    frame = _aligned(value_score=current_value_score, potential_score=potential_score)
    pct = cfg.split == "percentile"
    x_split = _split_point(frame["value_score"], cfg.value_split, percentile=pct)
    y_split = _split_point(frame["potential_score"], cfg.potential_split, percentile=pct)
    names = {
        (True, True): "strategic",
        (False, True): "development",
        (True, False): "maintain",
        (False, False): "operational",
    }
    return QuadrantResult(
        _quadrants(frame, "value_score", "potential_score", x_split, y_split, names), x_split, y_split
    )


def cost_to_serve_inputs(features: pd.DataFrame) -> pd.DataFrame:
    """The two axes of the cost-to-serve matrix from the feature frame, indexed by client_id.

    ``net_price_index`` = ``margin_pct_ttm`` (gross margin as a share of revenue: what the client really pays
    above our cost); ``cost_to_serve_index`` = ``cost_to_serve_ttm / revenue_ttm`` (cost to serve per unit of
    revenue; missing when revenue is not positive). Where a workspace has a revenue-weighted price index against
    list prices, pass that as the net price instead.
    """
    idx = pd.Index(features[CLIENT_ID].astype(str), name=CLIENT_ID)
    nan = pd.Series(np.nan, index=features.index)
    margin = pd.to_numeric(features.get("margin_pct_ttm", nan), errors="coerce").astype("float64")
    cts = pd.to_numeric(features.get("cost_to_serve_ttm", nan), errors="coerce").astype("float64")
    revenue = pd.to_numeric(features.get("revenue_ttm", nan), errors="coerce").astype("float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(revenue.to_numpy() > 0, cts.to_numpy() / revenue.to_numpy(), np.nan)
    return pd.DataFrame({"net_price_index": margin.to_numpy(), "cost_to_serve_index": ratio}, index=idx)


def cost_to_serve_matrix(
    net_price_index: pd.Series, cost_to_serve_index: pd.Series, config: CtsConfig | None = None
) -> QuadrantResult:
    """Cost-to-serve x net price segments after Shapiro, Rangan, Moriarty & Ross (1987).

    Source: B. P. Shapiro, V. K. Rangan, R. T. Moriarty, E. B. Ross, "Manage customers for profits (not just
    sales)", Harvard Business Review 65(5), 1987. Segments (``segment``): high price and high cost =
    ``carriage_trade`` (demanding, pays for it); high price and low cost = ``passive`` (profitable, protect);
    low price and high cost = ``aggressive`` (uses its power: renegotiate or reduce service); low price and low
    cost = ``bargain_basement`` (price-sensitive, serve lean). "High" means at or above the split:
    ``config.price_split`` / ``config.cost_split`` or, when unset (default), the median of the clients that
    have the value. Net price: ``margin_pct_ttm`` (or a revenue-weighted price index); cost to serve: relative
    to revenue (:func:`cost_to_serve_inputs`). A client missing either is ``unknown``.

    Returns
    -------
    QuadrantResult
        ``frame``: ``client_id, net_price_index, cost_to_serve_index, net_price_index_high,
        cost_to_serve_index_high, segment``; ``x_split`` = cost split, ``y_split`` = price split.
    """
    cfg = config or CtsConfig()
    frame = _aligned(net_price_index=net_price_index, cost_to_serve_index=cost_to_serve_index)
    cost_split = (
        cfg.cost_split
        if cfg.cost_split is not None
        else _split_point(frame["cost_to_serve_index"], 50.0, percentile=True)
    )
    price_split = (
        cfg.price_split
        if cfg.price_split is not None
        else _split_point(frame["net_price_index"], 50.0, percentile=True)
    )
    names = {
        (True, True): "carriage_trade",
        (False, True): "passive",
        (True, False): "aggressive",
        (False, False): "bargain_basement",
    }
    out = _quadrants(frame, "cost_to_serve_index", "net_price_index", cost_split, price_split, names)
    cols = [
        CLIENT_ID,
        "net_price_index",
        "cost_to_serve_index",
        "net_price_index_high",
        "cost_to_serve_index_high",
        "segment",
    ]
    return QuadrantResult(out[cols], float(cost_split), float(price_split))


# ---------------------------------------------------------------------------------------------------------------
# Opportunity zones


@dataclass(frozen=True)
class OpportunityZones:
    """Open opportunities by zone, per deal and per client, with the split points used."""

    deals: pd.DataFrame
    clients: pd.DataFrame
    value_split: float
    probability_split: float


def opportunity_zones(opportunities: pd.DataFrame, config: OpportunityZonesConfig | None = None) -> OpportunityZones:
    """Classify OPEN opportunities by deal value x win probability into zones A, B, C and roll them up per client.

    Method: an opportunity is open when it has neither a close date nor a won/lost flag (the feature spec's
    definition). It is *large* when its value is at or above ``value_split`` (default: the median value of the
    open opportunities) and *likely* when its probability is at or above ``probability_split`` (default 0.5).
    Zone A = large and likely (close it: the team's first priority); zone B = large but unlikely, or likely
    but small (work on the probability, or close quickly at low effort); zone C = small and unlikely (qualify or
    drop). Opportunities missing value or probability are ``unknown``. This is the two-axis deal-prioritisation
    grid of sales pipeline management (value x probability, as in the weighted pipeline: value x probability).

    Returns
    -------
    OpportunityZones
        ``deals``: ``opportunity_id, client_id, value, probability, weighted_value, zone``;
        ``clients``: ``client_id, open_deals, pipeline_value, weighted_value``, per zone ``zone_<z>_deals`` and
        ``zone_<z>_value`` for A, B, C, and ``best_zone`` (the best zone the client has a deal in). Opportunities
        without a client (prospects) appear in ``deals`` only.
    """
    cfg = config or OpportunityZonesConfig()
    for col in (_OPP_ID, _OPP_VALUE, _OPP_PROBABILITY):
        if col not in opportunities.columns:
            raise ValueError(f"opportunities has no {col!r} column")
    n = len(opportunities)
    open_mask = np.ones(n, dtype=bool)
    for col in (_OPP_CLOSED, _OPP_WON):
        if col in opportunities.columns:
            open_mask &= opportunities[col].isna().to_numpy()
    deals = opportunities.loc[open_mask]
    client = deals[CLIENT_ID] if CLIENT_ID in deals.columns else pd.Series(pd.NA, index=deals.index)
    value = pd.to_numeric(deals[_OPP_VALUE], errors="coerce").astype("float64").to_numpy()
    prob = pd.to_numeric(deals[_OPP_PROBABILITY], errors="coerce").astype("float64").to_numpy()
    present = value[~np.isnan(value)]
    value_split = (
        float(cfg.value_split)
        if cfg.value_split is not None
        else (float(np.median(present)) if len(present) else float("nan"))
    )
    p_split = float(cfg.probability_split)
    large = value >= value_split
    likely = prob >= p_split
    known = ~np.isnan(value) & ~np.isnan(prob)
    zone = labels([~known, large & likely, large | likely], [UNKNOWN, "A", "B"], "C")
    out = pd.DataFrame(
        {
            _OPP_ID: deals[_OPP_ID].to_numpy(),
            CLIENT_ID: client.to_numpy(),
            "value": value,
            "probability": prob,
            "weighted_value": value * prob,
            "zone": zone,
        }
    )
    with_client = out[out[CLIENT_ID].notna()]
    per_client = with_client.groupby(CLIENT_ID, sort=True).agg(
        open_deals=(_OPP_ID, "size"),
        pipeline_value=("value", "sum"),
        weighted_value=("weighted_value", "sum"),
    )
    by_zone = with_client.pivot_table(
        index=CLIENT_ID, columns="zone", values="value", aggfunc=["size", "sum"], fill_value=0
    )
    for z in ("A", "B", "C"):
        lower = z.lower()
        per_client[f"zone_{lower}_deals"] = (
            by_zone[("size", z)].reindex(per_client.index, fill_value=0).astype("int64")
            if ("size", z) in by_zone.columns
            else 0
        )
        per_client[f"zone_{lower}_value"] = (
            by_zone[("sum", z)].reindex(per_client.index, fill_value=0.0).astype("float64")
            if ("sum", z) in by_zone.columns
            else 0.0
        )
    per_client["best_zone"] = labels(
        [per_client["zone_a_deals"] > 0, per_client["zone_b_deals"] > 0, per_client["zone_c_deals"] > 0],
        ["A", "B", "C"],
        UNKNOWN,
    )
    return OpportunityZones(out, per_client.reset_index(), value_split, p_split)


# ---------------------------------------------------------------------------------------------------------------
# RFM

# Rows: recency score 5 (most recent) .. 1; columns: frequency score 1 .. 5. A 5-point R x F grid; M is reported
# alongside but does not move the segment (it mostly follows F in B2B data).
_RFM_GRID: tuple[tuple[str, ...], ...] = (
    ("new", "potential_loyalists", "potential_loyalists", "champions", "champions"),  # R = 5
    ("promising", "potential_loyalists", "potential_loyalists", "loyal", "loyal"),  # R = 4
    ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),  # R = 3
    ("hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose"),  # R = 2
    ("lost", "hibernating", "at_risk", "at_risk", "cannot_lose"),  # R = 1
)

RFM_SEGMENTS: dict[tuple[int, int], str] = {
    (5 - i, j + 1): name for i, row in enumerate(_RFM_GRID) for j, name in enumerate(row)
}
"""Segment of each (R, F) pair on the 5-point scale; see :func:`rfm_scores`."""


def _equal_bins(x: np.ndarray, ids: pa.Array, bins: int, *, higher_is_better: bool) -> np.ndarray:
    # Rank first (ties broken by client_id, never by row order), then cut the ranks into equal groups: robust
    # where many clients share a value, which makes quantile edges collide.
    scores = np.full(x.shape, -1, dtype="int64")
    mask = ~np.isnan(x)
    m = int(mask.sum())
    if m == 0:
        return scores
    table = pa.table({"key": x[mask] if higher_is_better else -x[mask], "id": ids.filter(pa.array(mask))})
    order = pc.sort_indices(table, sort_keys=[("key", "ascending"), ("id", "ascending")]).to_numpy()
    position = np.empty(m, dtype="int64")
    position[order] = np.arange(m)
    scores[np.flatnonzero(mask)] = position * bins // m + 1
    return scores


def rfm_scores(recency_days: pd.Series, frequency: pd.Series, monetary: pd.Series, bins: int = 5) -> pd.DataFrame:
    r"""RFM scores (1 = worst .. ``bins`` = best) and named segments.

    Method: each measure is ranked over the clients that have it (recency: fewer days is better; frequency and
    monetary: more is better), ties broken by client_id ("rank first", so many equal values still give equal-size
    groups), and the ranks are cut into ``bins`` equal groups (default 5 = quintiles, ``[analysis.rfm]``).
    Source: Hughes, A. M. (1994), *Strategic Database Marketing* (RFM); the R x F segment grid is the one common
    in marketing practice (also used by the rfm R package):

    ====  ==================  ===================  ==================  ===========  ===========
    R\F   1                   2                    3                   4            5
    ====  ==================  ===================  ==================  ===========  ===========
    5     new                 potential_loyalists  potential_loyalists champions    champions
    4     promising           potential_loyalists  potential_loyalists loyal        loyal
    3     about_to_sleep      about_to_sleep       need_attention      loyal        loyal
    2     hibernating         hibernating          at_risk             at_risk      cannot_lose
    1     lost                hibernating          at_risk             at_risk      cannot_lose
    ====  ==================  ===================  ==================  ===========  ===========

    With ``bins`` other than 5, R and F are mapped to the 5-point scale as ``ceil(score x 5 / bins)``. A client
    without recency or frequency (no purchase) is ``unknown``; a missing monetary value leaves ``m`` empty.

    Returns
    -------
    pandas.DataFrame
        ``client_id, recency_days, frequency, monetary, r, f, m, rfm, segment`` (``rfm`` such as ``"543"``).
    """
    if not 2 <= bins <= 9:
        raise ValueError(f"bins must be between 2 and 9, got {bins}")
    frame = _aligned(recency_days=recency_days, frequency=frequency, monetary=monetary)
    ids = _arrow_ids(frame.index)
    r = _equal_bins(frame["recency_days"].to_numpy(), ids, bins, higher_is_better=False)
    f = _equal_bins(frame["frequency"].to_numpy(), ids, bins, higher_is_better=True)
    m = _equal_bins(frame["monetary"].to_numpy(), ids, bins, higher_is_better=True)
    known = (r > 0) & (f > 0)
    r5 = np.ceil(np.where(known, r, 1) * 5 / bins).astype("int64")
    f5 = np.ceil(np.where(known, f, 1) * 5 / bins).astype("int64")
    cell = np.where(known, (5 - r5) * 5 + (f5 - 1), 25)
    names = [name for row in _RFM_GRID for name in row]
    segment = pd.Series(pa.array([*names, UNKNOWN]).take(pa.array(cell)), dtype="str").array
    out = frame.reset_index()
    for name, s in (("r", r), ("f", f), ("m", m)):
        out[name] = pd.arrays.IntegerArray(np.where(s > 0, s, 0), s <= 0)
    code = out["r"].astype("string") + out["f"].astype("string") + out["m"].astype("string").fillna("-")
    out["rfm"] = code
    out["segment"] = segment
    return out


# ---------------------------------------------------------------------------------------------------------------
# Heatmaps


def group_summary(frame: pd.DataFrame, by: str | Sequence[str], value_cols: Sequence[str]) -> pd.DataFrame:
    """Clients and totals per group, for heatmaps (segment x rep, region, industry, size, contract type).

    Parameters
    ----------
    frame
        One row per client with the grouping columns and the value columns (e.g. the feature frame joined with
        segments).
    by
        One column or several (two for a heatmap). Missing keys are grouped as ``unknown``.
    value_cols
        Money or count columns to total (revenue_ttm, margin_ttm, potential, headroom, ...).

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns, ``clients`` and ``client_share``, and per value column its sum (empty when no client
        in the group has the value) and ``<col>_share`` of the column's total.
    """
    keys = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*keys, *value_cols] if c not in frame.columns]
    if missing:
        raise ValueError(f"group_summary: the frame has no column {', '.join(repr(c) for c in missing)}")
    data = frame[[*keys, *value_cols]].copy()
    for key in keys:
        if not pd.api.types.is_numeric_dtype(data[key]) and not pd.api.types.is_bool_dtype(data[key]):
            data[key] = data[key].astype("object").where(data[key].notna(), UNKNOWN)
    grouped = data.groupby(keys, dropna=False, sort=True, observed=True)
    out = grouped.size().rename("clients").to_frame()
    out["client_share"] = out["clients"] / max(len(data), 1)
    for col in value_cols:
        values = pd.to_numeric(data[col], errors="coerce").astype("float64")
        sums = values.groupby([data[k] for k in keys], dropna=False, sort=True, observed=True).sum(min_count=1)
        out[col] = sums.reindex(out.index)
        total = values.sum(min_count=1)
        out[f"{col}_share"] = out[col] / total if pd.notna(total) and total != 0 else np.nan
    return out.reset_index()
