"""Display names of the analysis's codes (segments, risk levels, signals, criteria, features) in a language.

Segment, signal and criterion names are defined once, in English and Polish, next to the analysis that produces
them (:data:`salesfolio.analytics.segments.SEGMENT_LABELS`, :data:`salesfolio.analytics.signals.SIGNAL_LABELS`,
:data:`salesfolio.analytics.criteria.CRITERIA`); this module picks the language. Codes the web app itself names
(risk levels, bands, feature columns) are gettext messages. An unknown code is shown as it is.
"""

from __future__ import annotations

import datetime as dt

from salesfolio.analytics.criteria import CRITERIA
from salesfolio.analytics.segments import SEGMENT_LABELS
from salesfolio.analytics.signals import SIGNAL_LABELS
from salesfolio.web.i18n import N_, Lang

ROLE_LABELS: dict[str, str] = {
    "admin": N_("Administrator"),
    "board": N_("Board"),
    "manager": N_("Manager"),
    "rep": N_("Sales rep"),
}

RISK_LABELS: dict[str, str] = {
    "high": N_("High risk"),
    "medium": N_("Medium risk"),
    "low": N_("Low risk"),
}
RISK_UNKNOWN = N_("Risk not assessed")
RISK_COLOURS: dict[str, str] = {"high": "#d63939", "medium": "#f59f00", "low": "#2fb344"}
RISK_BADGES: dict[str, str] = {"high": "bg-red-lt", "medium": "bg-yellow-lt", "low": "bg-green-lt"}
UNKNOWN_COLOUR = "#9ba9be"

BAND_LABELS: dict[str, str] = {"good": N_("Good"), "average": N_("Average"), "poor": N_("Poor")}

FEATURE_LABELS: dict[str, str] = {
    "revenue_ttm": N_("Revenue, last 12 months"),
    "revenue_prior_ttm": N_("Revenue, 12 months before"),
    "growth": N_("Revenue growth"),
    "margin_ttm": N_("Margin, last 12 months"),
    "margin_pct_ttm": N_("Margin %"),
    "margin_pct_prior_ttm": N_("Margin %, 12 months before"),
    "orders_ttm": N_("Orders, last 12 months"),
    "avg_order_value": N_("Average order value"),
    "last_purchase": N_("Last purchase"),
    "recency_days": N_("Days since the last purchase"),
    "median_gap_days": N_("Usual days between orders"),
    "frequency": N_("Orders per year"),
    "categories_ttm": N_("Categories bought"),
    "lost_categories": N_("Categories no longer bought"),
    "share_of_wallet": N_("Share of wallet"),
    "cost_to_serve_ttm": N_("Cost to serve, last 12 months"),
    "net_contribution": N_("Net contribution"),
    "pipeline_weighted": N_("Weighted pipeline"),
    "win_rate": N_("Win rate"),
    "hours_ttm": N_("Hours spent, last 12 months"),
    "order_gap_ratio": N_("Days since the last order / usual gap"),
    "trend_slope": N_("Monthly revenue trend"),
    "tenure_days": N_("Days as a client"),
    "returns_share": N_("Returns, share of sales"),
    "margin_erosion": N_("Margin erosion"),
    "orders_prior_ttm": N_("Orders, 12 months before"),
    "pipeline_open": N_("Open opportunities"),
    "days_since_last_opportunity": N_("Days since the last opportunity"),
    "relationship": N_("Relationship (1-5)"),
    "strategic_fit": N_("Strategic fit (1-5)"),
}
"""Features shown on the client page, in this order, with how they are formatted in :data:`FEATURE_KINDS`."""

FEATURE_KINDS: dict[str, str] = {
    "revenue_ttm": "money",
    "revenue_prior_ttm": "money",
    "growth": "signed_percent",
    "margin_ttm": "money",
    "margin_pct_ttm": "percent",
    "margin_pct_prior_ttm": "percent",
    "orders_ttm": "number",
    "avg_order_value": "money",
    "last_purchase": "date",
    "recency_days": "number",
    "median_gap_days": "number",
    "frequency": "decimal",
    "categories_ttm": "number",
    "lost_categories": "number",
    "share_of_wallet": "percent",
    "cost_to_serve_ttm": "money",
    "net_contribution": "money",
    "pipeline_weighted": "money",
    "win_rate": "percent",
    "hours_ttm": "decimal",
    "order_gap_ratio": "decimal",
    "trend_slope": "signed_percent",
    "tenure_days": "number",
    "returns_share": "percent",
    "margin_erosion": "percent",
    "orders_prior_ttm": "number",
    "pipeline_open": "number",
    "days_since_last_opportunity": "number",
    "relationship": "number",
    "strategic_fit": "number",
}


def _pick(lang: Lang, pair: tuple[str, str]) -> str:
    return pair[1] if lang.code == "pl" else pair[0]


def segment_label(lang: Lang, code: str | None) -> str:
    """The name of a segment code (any of the analysis's segmentations); "Not segmented" for none."""
    if not code:
        return lang.gettext("Not segmented")
    pair = SEGMENT_LABELS.get(code)
    return _pick(lang, pair) if pair else code


def risk_label(lang: Lang, level: str | None) -> str:
    """The name of a risk level (``high``, ``medium``, ``low``)."""
    if not level:
        return lang.gettext(RISK_UNKNOWN)
    return lang.gettext(RISK_LABELS[level]) if level in RISK_LABELS else level


def band_label(lang: Lang, band: str | None) -> str:
    """The name of a score band (``good``, ``average``, ``poor``)."""
    if not band:
        return ""
    return lang.gettext(BAND_LABELS[band]) if band in BAND_LABELS else band


def signal_label(lang: Lang, code: str) -> str:
    """The name of an early-warning signal."""
    pair = SIGNAL_LABELS.get(code)
    return _pick(lang, pair) if pair else code.replace("_", " ")


def criterion_label(lang: Lang, code: str) -> str:
    """The name of a scoring criterion."""
    criterion = CRITERIA.get(code)
    if criterion is None:
        return code.replace("_", " ")
    return criterion.label_pl if lang.code == "pl" else criterion.label


def criterion_description(lang: Lang, code: str) -> str:
    """What a scoring criterion measures (empty for an unknown one)."""
    criterion = CRITERIA.get(code)
    if criterion is None:
        return ""
    return criterion.description_pl if lang.code == "pl" else criterion.description


def feature_label(lang: Lang, code: str) -> str:
    """The name of a feature column."""
    return lang.gettext(FEATURE_LABELS[code]) if code in FEATURE_LABELS else code.replace("_", " ")


def format_feature(lang: Lang, code: str, value: float | int | str | bool | None) -> str:
    """A feature value formatted by its kind (money, percent, date, number)."""
    kind = FEATURE_KINDS.get(code, "decimal")
    if value is None or isinstance(value, bool):
        return lang.number(None)
    if kind == "date":
        if isinstance(value, str):
            try:
                return lang.date(dt.date.fromisoformat(value[:10]))
            except ValueError:
                return value
        return lang.number(None)
    if isinstance(value, str):
        return value
    if kind == "money":
        return lang.money(value)
    if kind == "percent":
        return lang.percent(value)
    if kind == "signed_percent":
        return lang.percent(value, signed=True)
    if kind == "number":
        return lang.number(value)
    return lang.decimal(value, 1)


def signal_text(lang: Lang, signal: str, message: str | None, message_pl: str | None) -> str:
    """The sentence describing a fired signal in the language (the analysis writes both); else its name."""
    text = message_pl if lang.code == "pl" else message
    return text or signal_label(lang, signal)


REASON_RAISES = N_("raises the risk by %(points)s percentage points")
REASON_LOWERS = N_("lowers the risk by %(points)s percentage points")


def churn_reason_text(
    lang: Lang, feature: str | None, direction: str | None, contribution: float | None, sentence: str | None
) -> str:
    """A churn-model reason in the language: the model's English sentence, or the feature and its effect."""
    if lang.code == "en" and sentence:
        return sentence
    if feature and contribution is not None:
        template = (
            REASON_RAISES if (direction or ("raises" if contribution > 0 else "lowers")) == "raises" else REASON_LOWERS
        )
        effect = lang.gettext(template) % {"points": lang.decimal(abs(contribution) * 100, 1)}
        return f"{feature_label(lang, feature)}: {effect}"
    return sentence or (feature_label(lang, feature) if feature else "")
