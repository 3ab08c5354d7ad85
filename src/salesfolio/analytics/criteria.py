"""The criteria catalogue: every criterion a client can be scored on, defined once.

A criterion turns one or more columns of the per-client feature frame (``docs/dev/feature-spec.md``) into a
measure, for example *growth potential* from headroom (potential - revenue, higher = more potential) and share of
wallet (revenue / potential, lower = more potential). :func:`salesfolio.analytics.scoring.score_clients`
normalises each component to 0..1, averages the components a client has, and turns the measure into "goodness"
with the criterion's direction (for *churn risk*, lower is better). A workspace chooses weights, directions and
normalisations in ``[analysis.criteria.<id>]`` of ``salesfolio.toml``
(:class:`salesfolio.analytics.config.CriterionConfig`); this catalogue holds the defaults.

Some components are not features but results of other analyses, passed to the scorer in ``extra``:
``n_signals`` (:func:`salesfolio.analytics.signals.early_warnings`), ``whitespace_value``
(:func:`salesfolio.analytics.whitespace.whitespace`) and ``churn_probability`` (a churn model).

>>> CRITERIA["growth_potential"].columns
('headroom', 'share_of_wallet')
>>> round(sum(c.weight for c in CRITERIA.values()), 6)
100.0
>>> criterion("margn")
Traceback (most recent call last):
...
KeyError: "unknown criterion 'margn'; known criteria: current_value, margin, growth_potential, relationship, \
cost_to_serve, churn_risk, cross_sell, strategic_fit, growth"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["higher_is_better", "lower_is_better"]
Normalisation = Literal["percentile", "minmax", "zscore"]

EXTRA_COLUMNS: tuple[str, ...] = ("n_signals", "whitespace_value", "churn_probability")
"""Component columns that come from other analyses through ``score_clients(..., extra=...)``."""


@dataclass(frozen=True)
class Component:
    """One input of a criterion.

    Parameters
    ----------
    column
        A column of the feature frame, or one of :data:`EXTRA_COLUMNS`.
    per
        When set, the component is ``column / per`` (for example cost-to-serve per unit of revenue); clients whose
        ``per`` is zero, negative or missing have no value.
    sign
        ``+1`` when a higher value means more of the criterion's measure, ``-1`` when less (share of wallet
        lowers growth potential).
    weight
        Relative weight of the component within the criterion (renormalised over the components a client has).
    """

    column: str
    per: str | None = None
    sign: Literal[1, -1] = 1
    weight: float = 1.0


@dataclass(frozen=True)
class Criterion:
    """A scoring criterion.

    Parameters
    ----------
    id
        Stable identifier, used in ``salesfolio.toml`` and as the suffix of ``contrib_<id>`` / ``norm_<id>``.
    label, label_pl
        Short names in English and Polish.
    components
        The columns it reads and how they combine.
    direction
        Whether a higher measure is better for the portfolio (``higher_is_better``) or worse
        (``lower_is_better``: cost to serve, churn risk).
    weight
        Default weight (the defaults add up to 100).
    normalisation
        How raw values become 0..1: ``percentile`` (rank, ties averaged; the default), ``minmax`` or ``zscore``
        (standard normal CDF of the z-score).
    description, description_pl
        What it measures, in words a sales director understands.
    data_name
        The kind of data it needs, named in the warning when no client has it.
    missing_reason
        The usual reason that data is absent, added to that warning.
    """

    id: str
    label: str
    label_pl: str
    components: tuple[Component, ...]
    direction: Direction
    weight: float
    description: str
    description_pl: str
    data_name: str
    missing_reason: str
    normalisation: Normalisation = "percentile"

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the criterion reads, in order, without repeats."""
        names: list[str] = []
        for comp in self.components:
            for name in (comp.column, comp.per):
                if name is not None and name not in names:
                    names.append(name)
        return tuple(names)


_CATALOGUE: tuple[Criterion, ...] = (
    Criterion(
        id="current_value",
        label="Current value",
        label_pl="Obecna wartość",
        components=(Component("revenue_ttm"),),
        direction="higher_is_better",
        weight=25.0,
        description="Net revenue of the last 12 months: what the client brings in today.",
        description_pl="Przychód netto z ostatnich 12 miesięcy: ile klient przynosi dziś.",
        data_name="revenue",
        missing_reason="no invoice lines in the last 12 months",
    ),
    Criterion(
        id="margin",
        label="Margin",
        label_pl="Marża",
        components=(Component("margin_pct_ttm"),),
        direction="higher_is_better",
        weight=15.0,
        description="Gross margin as a share of revenue over the last 12 months: how profitable the business is.",
        description_pl="Marża brutto jako udział w przychodzie z ostatnich 12 miesięcy: jak rentowna jest sprzedaż.",
        data_name="margin",
        missing_reason="invoice lines have no cost",
    ),
    Criterion(
        id="growth_potential",
        label="Growth potential",
        label_pl="Potencjał wzrostu",
        components=(Component("headroom"), Component("share_of_wallet", sign=-1)),
        direction="higher_is_better",
        weight=20.0,
        description=(
            "Room to grow: the client's yearly purchasing potential not yet bought from us (headroom), and how "
            "small our share of its wallet is."
        ),
        description_pl=(
            "Przestrzeń do wzrostu: roczny potencjał zakupowy klienta, którego jeszcze u nas nie kupuje, "
            "oraz jak mały jest nasz udział w jego budżecie."
        ),
        data_name="potential",
        missing_reason="no assessments with a potential estimate",
    ),
    Criterion(
        id="relationship",
        label="Relationship",
        label_pl="Relacja",
        components=(Component("relationship"),),
        direction="higher_is_better",
        weight=10.0,
        description="The team's rating of the relationship, 1 (poor) to 5 (excellent), from the latest assessment.",
        description_pl="Ocena relacji przez zespół, od 1 (słaba) do 5 (doskonała), z ostatniej oceny klienta.",
        data_name="relationship",
        missing_reason="no assessments with a relationship rating",
    ),
    Criterion(
        id="cost_to_serve",
        label="Cost to serve",
        label_pl="Koszt obsługi",
        components=(Component("cost_to_serve_ttm", per="revenue_ttm"),),
        direction="lower_is_better",
        weight=5.0,
        description=(
            "Logistics, service, discounts and payment terms per unit of revenue over the last 12 months: "
            "clients that are cheap to serve score higher."
        ),
        description_pl=(
            "Logistyka, serwis, rabaty i terminy płatności na jednostkę przychodu z ostatnich 12 miesięcy: "
            "klienci tani w obsłudze mają wyższą ocenę."
        ),
        data_name="cost-to-serve",
        missing_reason="no cost_to_serve table was imported",
    ),
    Criterion(
        id="churn_risk",
        label="Churn risk",
        label_pl="Ryzyko odejścia",
        components=(
            Component("churn_probability", weight=3.0),
            Component("n_signals"),
            Component("order_gap_ratio"),
            Component("trend_slope", sign=-1),
        ),
        direction="lower_is_better",
        weight=10.0,
        description=(
            "How likely the client is to buy less or stop: early-warning signals that fired, time since the last "
            "order against the client's own rhythm, and a falling monthly trend (a churn model's probability "
            "counts three times when one is available). Lower risk scores higher."
        ),
        description_pl=(
            "Na ile prawdopodobne jest, że klient kupi mniej lub odejdzie: sygnały ostrzegawcze, czas od ostatniego "
            "zamówienia na tle jego zwykłego rytmu i spadkowy trend miesięczny (prawdopodobieństwo z modelu "
            "odejść, gdy jest dostępne, liczy się potrójnie). Niższe ryzyko daje wyższą ocenę."
        ),
        data_name="purchase history",
        missing_reason="no client has three or more orders, a trend or a warning-signal evaluation",
    ),
    Criterion(
        id="cross_sell",
        label="Cross-sell",
        label_pl="Sprzedaż krzyżowa",
        components=(Component("whitespace_value"),),
        direction="higher_is_better",
        weight=5.0,
        description=(
            "Expected yearly value of the product categories that similar clients buy and this client does not "
            "(whitespace)."
        ),
        description_pl=(
            "Oczekiwana roczna wartość kategorii produktów, które kupują podobni klienci, a ten klient nie "
            "(białe plamy)."
        ),
        data_name="whitespace",
        missing_reason="no whitespace analysis was passed to the scoring (no product categories)",
    ),
    Criterion(
        id="strategic_fit",
        label="Strategic fit",
        label_pl="Dopasowanie strategiczne",
        components=(Component("strategic_fit"),),
        direction="higher_is_better",
        weight=5.0,
        description="The team's rating of the client's fit with the company's strategy, 1 (poor) to 5 (excellent).",
        description_pl="Ocena dopasowania klienta do strategii firmy, od 1 (słabe) do 5 (doskonałe).",
        data_name="strategic fit",
        missing_reason="no assessments with a strategic-fit rating",
    ),
    Criterion(
        id="growth",
        label="Growth",
        label_pl="Wzrost",
        components=(Component("growth"), Component("trend_slope")),
        direction="higher_is_better",
        weight=5.0,
        description=(
            "Revenue growth on the prior 12 months and the slope of the monthly revenue trend over 24 months."
        ),
        description_pl=(
            "Wzrost przychodu wobec poprzednich 12 miesięcy i nachylenie miesięcznego trendu przychodu z 24 miesięcy."
        ),
        data_name="growth",
        missing_reason="no client has revenue in both the last and the prior 12 months",
    ),
)

CRITERIA: dict[str, Criterion] = {c.id: c for c in _CATALOGUE}
"""The catalogue, keyed by criterion id, in display order."""


def criterion(criterion_id: str) -> Criterion:
    """Return the criterion called ``criterion_id``.

    Raises
    ------
    KeyError
        Naming the unknown id and listing the known ones.
    """
    try:
        return CRITERIA[criterion_id]
    except KeyError:
        known = ", ".join(CRITERIA)
        raise KeyError(f"unknown criterion {criterion_id!r}; known criteria: {known}") from None
