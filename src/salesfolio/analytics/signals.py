"""Early-warning signals: simple, explainable rules that flag a client who is starting to slip away.

Each rule reads the per-client feature frame (``docs/dev/feature-spec.md``) and returns, for every client, whether
it fired, the value it looked at and the threshold (``[analysis.signals]``), with a message in English and
Polish. The rules are the declining-customer alerts users ask for (dormant, declining, lost-category lists:
frappe/erpnext #13818, #2548) and the classic behavioural churn indicators of B2B account management: falling
spend, a purchase gap beyond the client's own rhythm, shrinking breadth, eroding margin, inactivity.

Values are compared with a tolerance of 1e-9, so a drop of exactly 20 % fires at a 20 % threshold even where
floating-point division gives 19.999999999999996 %.

>>> import pandas as pd
>>> from salesfolio.analytics.config import SignalsConfig
>>> f = pd.DataFrame({"client_id": ["a", "b"], "recency_days": [200.0, 20.0], "revenue_ttm": [5.0, 9.0],
...                   "revenue_prior_ttm": [50.0, 9.0]})
>>> inactivity(f, SignalsConfig())[["client_id", "fired", "value", "threshold"]].to_dict("list")
{'client_id': ['a', 'b'], 'fired': [True, False], 'value': [200.0, 20.0], 'threshold': [180.0, 180.0]}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from salesfolio.analytics.config import AnalysisConfig, SignalsConfig
from salesfolio.analytics.scoring import CLIENT_ID, check_features, column_values

_EPS = 1e-9

SIGNAL_LABELS: dict[str, tuple[str, str]] = {
    "falling_revenue": ("Falling revenue", "Spadek przychodu"),
    "order_gap": ("Order gap beyond the usual rhythm", "Przerwa w zamówieniach dłuższa niż zwykle"),
    "margin_erosion": ("Margin erosion", "Spadek marży"),
    "lost_categories": ("Categories no longer bought", "Utracone kategorie"),
    "inactivity": ("Inactivity", "Brak aktywności"),
}
"""Every signal id with its English and Polish label, in evaluation order."""


Text: TypeAlias = pa.Array | str
"""Message pieces: Arrow string arrays (one value per client) or constant strings."""


def _num(x: np.ndarray, decimals: int = 0, *, polish: bool = False) -> pa.Array:
    # Number formatting with Arrow string kernels (no per-client Python): whole numbers, or a fixed number of
    # decimals with a decimal comma in Polish. Missing values read "?".
    missing = np.isnan(x)
    scaled = np.round(np.where(missing, 0.0, x) * 10**decimals).astype("int64")
    magnitude = np.abs(scaled)
    text = pc.cast(pa.array(magnitude // 10**decimals), pa.string())
    if decimals:
        fraction = pc.utf8_lpad(pc.cast(pa.array(magnitude % 10**decimals), pa.string()), decimals, "0")
        text = pc.binary_join_element_wise(text, fraction, "," if polish else ".")
    text = pc.if_else(pa.array(scaled < 0), pc.binary_join_element_wise("-", text, ""), text)
    return pc.if_else(pa.array(missing), "?", text)


def _join(*parts: Text) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _choose(mask: np.ndarray, when_true: pa.Array, when_false: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(mask), when_true, when_false)


class Evaluation(NamedTuple):
    """One rule evaluated for every client; the messages are for the fired clients only, in client order."""

    fired: np.ndarray
    value: np.ndarray
    threshold: float
    message_en: pa.Array
    message_pl: pa.Array


Messages = Callable[[np.ndarray], tuple[pa.Array, pa.Array]]


def _evaluation(fired: np.ndarray, value: np.ndarray, threshold: float, messages: Messages) -> Evaluation:
    # Text is built for the fired clients only: formatting it for every client would cost more than the rules.
    en, pl = messages(fired)
    return Evaluation(fired, value, float(threshold), en, pl)


def _scatter(messages: pa.Array, fired: np.ndarray) -> pd.arrays.ArrowStringArray:
    full = pc.replace_with_mask(pa.nulls(len(fired), pa.string()), pa.array(fired), messages)
    return pd.Series(full, dtype="str").array


def _rule_frame(features: pd.DataFrame, ev: Evaluation) -> pd.DataFrame:
    return pd.DataFrame(
        {
            CLIENT_ID: features[CLIENT_ID].array,
            "fired": ev.fired,
            "value": ev.value,
            "threshold": np.full(len(features), ev.threshold),
            "message_en": _scatter(ev.message_en, ev.fired),
            "message_pl": _scatter(ev.message_pl, ev.fired),
        }
    )


def _falling_revenue(features: pd.DataFrame, config: SignalsConfig) -> Evaluation:
    growth = column_values(features, "growth")
    trend_year = 12.0 * column_values(features, "trend_slope")
    value = np.fmin(growth, trend_year)
    threshold = -config.revenue_drop

    def messages(sel: np.ndarray) -> tuple[pa.Array, pa.Array]:
        by_trend = np.isnan(growth[sel]) | (trend_year[sel] < growth[sel])
        pct = _num(-100.0 * value[sel])
        en = _choose(
            by_trend,
            _join("Monthly revenue trend falling ", pct, " % of an average month per year"),
            _join("Revenue down ", pct, " % on the prior 12 months"),
        )
        pl = _choose(
            by_trend,
            _join("Trend miesięcznego przychodu spada o ", pct, " % średniego miesiąca rocznie"),
            _join("Przychód niższy o ", pct, " % niż w poprzednich 12 miesiącach"),
        )
        return en, pl

    return _evaluation(value <= threshold + _EPS, value, threshold, messages)


def falling_revenue(features: pd.DataFrame, config: SignalsConfig) -> pd.DataFrame:
    """Falling revenue: yearly revenue change at or below ``-revenue_drop`` (default -20 %).

    Fires on growth on the prior 12 months at or below ``-revenue_drop``, or a monthly trend line falling by at
    least that share of an average month per year (``12 x trend_slope``). ``value`` is the worse of the two
    yearly rates (``min(growth, 12 x trend_slope)``), ``threshold`` is ``-revenue_drop``. Growth is the feature
    spec's ``revenue_ttm / revenue_prior_ttm - 1``; the trend slope is the OLS slope of 24 monthly revenues
    (months without purchase count as 0) divided by the mean month, so both are relative changes per year and
    one threshold serves both.

    Returns
    -------
    pandas.DataFrame
        ``client_id, fired, value, threshold, message_en, message_pl`` (messages empty where it did not fire);
        the same for every rule.
    """
    return _rule_frame(features, _falling_revenue(features, config))


def _order_gap(features: pd.DataFrame, config: SignalsConfig) -> Evaluation:
    ratio = column_values(features, "order_gap_ratio")
    gap = column_values(features, "median_gap_days")
    recency = column_values(features, "recency_days")
    if "orders_total" in features.columns:
        enough = column_values(features, "orders_total") >= config.min_orders
    else:
        enough = ~np.isnan(gap)

    def messages(sel: np.ndarray) -> tuple[pa.Array, pa.Array]:
        days, usual = _num(recency[sel]), _num(gap[sel])
        en = _join("No order for ", days, " days, ", _num(ratio[sel], 1), "x the usual ", usual, " days between orders")
        pl = _join(
            "Brak zamówienia od ",
            days,
            " dni, ",
            _num(ratio[sel], 1, polish=True),
            "x dłużej niż zwykły odstęp ",
            usual,
            " dni",
        )
        return en, pl

    fired = enough & (ratio >= config.order_gap_ratio - _EPS)
    return _evaluation(fired, ratio, config.order_gap_ratio, messages)


def order_gap(features: pd.DataFrame, config: SignalsConfig) -> pd.DataFrame:
    """Order gap beyond the client's own rhythm: no order for 2x (default) the client's usual gap.

    Fires when ``order_gap_ratio`` (days since the last order / the client's median days between orders) is at or
    above ``order_gap_ratio`` (default 2.0), for clients with at least ``min_orders`` orders (default 3; fewer
    orders give no rhythm to compare). The orders counted are ``orders_total`` (distinct invoices with positive
    net revenue); without that column a client counts when it has a ``median_gap_days`` (which the feature spec
    leaves empty below 3 orders). Evidence: on UCI Online Retail, recency against the client's own median gap
    ranks churners with AUC 0.65 (``churn-baselines.md``).
    """
    return _rule_frame(features, _order_gap(features, config))


def _margin_erosion(features: pd.DataFrame, config: SignalsConfig) -> Evaluation:
    value = 100.0 * column_values(features, "margin_erosion")
    prior = 100.0 * column_values(features, "margin_pct_prior_ttm")
    now = 100.0 * column_values(features, "margin_pct_ttm")

    def messages(sel: np.ndarray) -> tuple[pa.Array, pa.Array]:
        v, p, c = value[sel], prior[sel], now[sel]
        en = _join("Margin down ", _num(v, 1), " pp (from ", _num(p, 1), " % to ", _num(c, 1), " %)")
        pl = _join(
            "Marża niższa o ",
            _num(v, 1, polish=True),
            " p.p. (z ",
            _num(p, 1, polish=True),
            " % do ",
            _num(c, 1, polish=True),
            " %)",
        )
        return en, pl

    fired = value >= config.margin_erosion_pp - _EPS
    return _evaluation(fired, value, config.margin_erosion_pp, messages)


def margin_erosion(features: pd.DataFrame, config: SignalsConfig) -> pd.DataFrame:
    """Margin erosion: margin % down at least ``margin_erosion_pp`` percentage points (default 5).

    Compares the last 12 months with the prior 12 (``margin_erosion`` = prior margin % - current margin %).
    ``value`` and ``threshold`` are in percentage points.
    """
    return _rule_frame(features, _margin_erosion(features, config))


def _lost_categories(features: pd.DataFrame, config: SignalsConfig) -> Evaluation:
    value = column_values(features, "lost_categories")

    def messages(sel: np.ndarray) -> tuple[pa.Array, pa.Array]:
        n = value[sel].astype("int64")
        count = _num(value[sel])
        en_noun = pa.array(np.where(n == 1, " product category", " product categories"))
        # Polish plural: 1 kategorię, 2-4 (but not 12-14) kategorie, otherwise kategorii.
        few = (n % 10 >= 2) & (n % 10 <= 4) & ~((n % 100 >= 12) & (n % 100 <= 14))
        pl_noun = pa.array(np.select([n == 1, few], [" kategorię", " kategorie"], " kategorii"))
        en = _join("Stopped buying ", count, en_noun, " bought in the prior 12 months")
        pl = _join("Przestał kupować ", count, pl_noun, " produktów kupowanych w poprzednich 12 miesiącach")
        return en, pl

    fired = value >= config.lost_categories - _EPS
    return _evaluation(fired, value, config.lost_categories, messages)


def lost_categories(features: pd.DataFrame, config: SignalsConfig) -> pd.DataFrame:
    """Categories no longer bought: at least ``lost_categories`` (default 1) of them.

    ``lost_categories`` counts the categories bought in the prior 12 months and not in the last 12.
    """
    return _rule_frame(features, _lost_categories(features, config))


def _inactivity(features: pd.DataFrame, config: SignalsConfig) -> Evaluation:
    recency = column_values(features, "recency_days")
    active = (column_values(features, "revenue_ttm") > 0) | (column_values(features, "revenue_prior_ttm") > 0)

    def messages(sel: np.ndarray) -> tuple[pa.Array, pa.Array]:
        days = _num(recency[sel])
        return _join("No purchase for ", days, " days"), _join("Brak zakupu od ", days, " dni")

    fired = active & (recency >= config.inactivity_days - _EPS)
    return _evaluation(fired, recency, config.inactivity_days, messages)


def inactivity(features: pd.DataFrame, config: SignalsConfig) -> pd.DataFrame:
    """Inactivity: no purchase for at least ``inactivity_days`` (default 180).

    Only clients that bought in the last 24 months (revenue in the last or the prior 12 months) count, so
    long-lost clients do not flood the alerts.
    """
    return _rule_frame(features, _inactivity(features, config))


RULES: dict[str, Callable[[pd.DataFrame, SignalsConfig], pd.DataFrame]] = {
    "falling_revenue": falling_revenue,
    "order_gap": order_gap,
    "margin_erosion": margin_erosion,
    "lost_categories": lost_categories,
    "inactivity": inactivity,
}
"""Every rule by signal id, in evaluation order (the order of :data:`SIGNAL_LABELS`)."""

_EVALUATORS: dict[str, Callable[[pd.DataFrame, SignalsConfig], Evaluation]] = {
    "falling_revenue": _falling_revenue,
    "order_gap": _order_gap,
    "margin_erosion": _margin_erosion,
    "lost_categories": _lost_categories,
    "inactivity": _inactivity,
}

_NOT_EVALUATED: dict[str, tuple[tuple[str, ...], str]] = {
    "falling_revenue": (("growth", "trend_slope"), "no client has growth or trend data (under 12 months of history)"),
    "order_gap": (("order_gap_ratio",), "no client has an order rhythm (3 or more orders)"),
    "margin_erosion": (("margin_erosion",), "no client has margin in both years (invoice lines have no cost)"),
    "lost_categories": (("lost_categories",), "no client has product categories (products have no category)"),
    "inactivity": (("recency_days",), "no client has a last purchase date"),
}


@dataclass(frozen=True)
class SignalResult:
    """What :func:`early_warnings` returns.

    Attributes
    ----------
    long
        One row per fired signal: ``client_id, signal, value, threshold, message_en, message_pl``; signals in
        :data:`RULES` order, and within a signal the clients in feature-frame order.
    wide
        One row per client: ``client_id, n_signals``, a boolean ``signal_<id>`` per signal, and ``summary_en`` /
        ``summary_pl`` (the fired messages joined with "; ", empty when none fired).
    warnings
        One sentence per signal that could not be evaluated because no client has its input.
    """

    long: pd.DataFrame
    wide: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def n_signals(self) -> pd.Series:
        """Number of fired signals per client, indexed by client_id (the scorer's ``extra["n_signals"]``)."""
        return pd.Series(self.wide["n_signals"].to_numpy(), index=pd.Index(self.wide[CLIENT_ID]), name="n_signals")


def early_warnings(features: pd.DataFrame, config: AnalysisConfig | SignalsConfig) -> SignalResult:
    """Evaluate every early-warning rule (:data:`RULES`) for every client.

    Parameters
    ----------
    features
        The per-client feature frame; a rule whose inputs are absent does not fire and is named in ``warnings``.
    config
        The analysis configuration (its ``signals`` section) or a :class:`SignalsConfig`.
    """
    check_features(features)
    cfg = config.signals if isinstance(config, AnalysisConfig) else config
    n = len(features)
    ids = features[CLIENT_ID].array
    wide = pd.DataFrame({CLIENT_ID: ids, "n_signals": np.zeros(n, dtype="int64")})
    fired: list[np.ndarray] = []
    values: list[np.ndarray] = []
    thresholds: list[np.ndarray] = []
    texts: dict[str, list[pa.Array]] = {"en": [], "pl": []}
    warnings: list[str] = []
    for signal, evaluate in _EVALUATORS.items():
        inputs, reason = _NOT_EVALUATED[signal]
        if n and all(np.isnan(column_values(features, c)).all() for c in inputs):
            warnings.append(f"{signal} not evaluated: {reason}")
        ev = evaluate(features, cfg)
        wide[f"signal_{signal}"] = ev.fired
        wide["n_signals"] += ev.fired.astype("int64")
        texts["en"].append(ev.message_en)
        texts["pl"].append(ev.message_pl)
        fired.append(ev.fired)
        values.append(ev.value[ev.fired])
        thresholds.append(np.full(int(ev.fired.sum()), ev.threshold))
    # The summary joins each client's messages in rule order: a message after an earlier fired rule gets a "; "
    # prefix, rules that did not fire add "" (Arrow's null_handling="skip" drops all-null rows in pyarrow 26).
    earlier = np.zeros(n, dtype=bool)
    scattered: dict[str, list[pa.Array]] = {"en": [], "pl": []}
    for j, mask in enumerate(fired):
        prefix = pa.array(earlier[mask])
        for lang in ("en", "pl"):
            text = texts[lang][j]
            text = pc.if_else(prefix, pc.binary_join_element_wise("; ", text, ""), text)
            scattered[lang].append(pc.replace_with_mask(pa.nulls(n, pa.string()), pa.array(mask), text))
        earlier |= mask
    for lang, parts in scattered.items():
        summary = pc.binary_join_element_wise(*parts, "", null_handling="replace", null_replacement="")
        wide[f"summary_{lang}"] = pd.Series(summary, dtype="str").array
    position = np.concatenate([np.flatnonzero(f) for f in fired])
    signal_codes = np.repeat(np.arange(len(fired)), [int(f.sum()) for f in fired])
    long = pd.DataFrame(
        {
            CLIENT_ID: ids.take(position),
            "signal": pd.Series(pa.array(list(_EVALUATORS)).take(pa.array(signal_codes)), dtype="str").array,
            "value": np.concatenate(values),
            "threshold": np.concatenate(thresholds),
            "message_en": pd.Series(pa.concat_arrays(texts["en"]), dtype="str").array,
            "message_pl": pd.Series(pa.concat_arrays(texts["pl"]), dtype="str").array,
        }
    )
    return SignalResult(long, wide, warnings)
