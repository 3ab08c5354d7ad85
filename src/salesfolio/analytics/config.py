"""The ``[analysis]`` section of ``salesfolio.toml``: criteria, weights, thresholds of every analysis.

Every model is strict and forbids unknown keys, so a typo in ``salesfolio.toml`` is reported with its dotted key
instead of being silently ignored. Every option has a default; an empty ``[analysis]`` section is valid.
:func:`render_toml_section` writes the section with every option documented inline (the descriptions below are
the single source of that text).

Criteria not named in ``[analysis.criteria]`` keep their catalogue defaults
(:data:`salesfolio.analytics.criteria.CRITERIA`); a named criterion only needs the keys it changes:

>>> cfg = AnalysisConfig.model_validate({"criteria": {"margin": {"weight": 30.0}}})
>>> cfg.criteria["margin"].weight, cfg.criteria["current_value"].weight
(30.0, 25.0)
>>> import tomllib
>>> AnalysisConfig.model_validate(tomllib.loads(render_toml_section(cfg))["analysis"]) == cfg
True
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from salesfolio.analytics.criteria import CRITERIA, Direction, Normalisation


class _Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", validate_assignment=True)


class CriterionConfig(_Section):
    """One criterion's settings in a workspace (``[analysis.criteria.<id>]``).

    Keys omitted in ``salesfolio.toml`` take the catalogue defaults of that criterion
    (:data:`salesfolio.analytics.criteria.CRITERIA`); see :func:`default_criteria`.
    """

    weight: float = Field(ge=0, description="Relative weight; weights are rescaled to add up to 100 %.")
    enabled: bool = Field(description="false removes the criterion from the score.")
    direction: Direction = Field(
        description='"higher_is_better" or "lower_is_better": which end of the measure is good for the portfolio.'
    )
    normalisation: Normalisation = Field(
        description=(
            '"percentile" (rank among all clients, ties share their average rank), "minmax" (position between the '
            'lowest and highest value) or "zscore" (normal curve of the standardised value).'
        )
    )


def default_criteria() -> dict[str, CriterionConfig]:
    """The catalogue defaults of every criterion, as a workspace would configure them."""
    return {
        cid: CriterionConfig(weight=c.weight, enabled=True, direction=c.direction, normalisation=c.normalisation)
        for cid, c in CRITERIA.items()
    }


class ScoreBandsConfig(_Section):
    """``[analysis.score_bands]``: where a score counts as good, average or poor."""

    good: float = Field(67.0, ge=0, le=100, description="Scores at or above this are good.")
    poor: float = Field(33.0, ge=0, le=100, description="Scores below this are poor; the rest are average.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.poor > self.good:
            raise ValueError(f"poor ({self.poor:g}) must not be greater than good ({self.good:g})")
        return self


class AbcConfig(_Section):
    """``[analysis.abc]``: cumulative-share cut points of the ABC (Pareto) classes."""

    a: float = Field(
        0.80, gt=0, le=1, description="Clients that together make the first 80 % of the total (0.80) are class A."
    )
    b: float = Field(
        0.95, gt=0, le=1, description="The next clients, up to 95 % of the total (0.95), are class B; the rest C."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.a > self.b:
            raise ValueError(f"a ({self.a:g}) must not be greater than b ({self.b:g})")
        return self


def _check_criteria_ids(value: list[str], info_name: str) -> list[str]:
    for cid in value:
        if cid not in CRITERIA:
            raise ValueError(_unknown_criterion_message(cid))
    if not value:
        raise ValueError(f"{info_name} must name at least one criterion")
    return value


class MatrixConfig(_Section):
    """``[analysis.matrix]``: the current value x future potential portfolio matrix."""

    split: Literal["percentile", "absolute"] = Field(
        "percentile",
        description=(
            '"percentile": the splits below are percentiles of the clients\' scores (50 = median); '
            '"absolute": they are scores on the 0-100 scale.'
        ),
    )
    value_split: float = Field(50.0, ge=0, le=100, description="Clients at or above this value score are high-value.")
    potential_split: float = Field(
        50.0, ge=0, le=100, description="Clients at or above this potential score are high-potential."
    )
    value_criteria: list[str] = Field(
        default_factory=lambda: ["current_value", "margin"],
        description="Criteria averaged (with their weights) into the current value score.",
    )
    potential_criteria: list[str] = Field(
        default_factory=lambda: ["growth_potential", "growth", "cross_sell"],
        description="Criteria averaged (with their weights) into the future potential score.",
    )

    @field_validator("value_criteria", "potential_criteria")
    @classmethod
    def _known(cls, value: list[str], info: Any) -> list[str]:
        return _check_criteria_ids(value, str(info.field_name))


class CtsConfig(_Section):
    """``[analysis.cost_to_serve]``: split points of the cost-to-serve x net price matrix (Shapiro et al. 1987)."""

    price_split: float | None = Field(
        None,
        description="Net price index (margin %, as a fraction) at or above which a client pays a high price; "
        "unset = the median.",
        json_schema_extra={"example": 0.25},
    )
    cost_split: float | None = Field(
        None,
        description="Cost to serve per unit of revenue at or above which a client is costly to serve; "
        "unset = the median.",
        json_schema_extra={"example": 0.05},
    )


class OpportunityZonesConfig(_Section):
    """``[analysis.opportunity_zones]``: deal value x win probability zones of open opportunities."""

    value_split: float | None = Field(
        None,
        ge=0,
        description="Deal value at or above which an open opportunity is large; unset = the median open deal.",
        json_schema_extra={"example": 50000.0},
    )
    probability_split: float = Field(
        0.5, ge=0, le=1, description="Win probability at or above which an open opportunity is likely."
    )


class RfmConfig(_Section):
    """``[analysis.rfm]``: recency, frequency, monetary scoring."""

    bins: int = Field(5, ge=2, le=10, description="Number of equal-size groups per measure (5 = quintiles).")


class SignalsConfig(_Section):
    """``[analysis.signals]``: thresholds of the early-warning signals."""

    revenue_drop: float = Field(
        0.20,
        gt=0,
        le=1,
        description="Falling revenue: revenue down at least this share on the prior 12 months, or a monthly trend "
        "falling at least this share of an average month per year.",
    )
    order_gap_ratio: float = Field(
        2.0, gt=0, description="Order gap: days since the last order at least this multiple of the usual gap."
    )
    min_orders: int = Field(
        3, ge=2, description="Order gap: only for clients with at least this many orders (a rhythm to compare)."
    )
    margin_erosion_pp: float = Field(
        5.0, ge=0, description="Margin erosion: margin % down at least this many percentage points."
    )
    lost_categories: int = Field(
        1, ge=1, description="Lost categories: at least this many categories bought before and not any more."
    )
    inactivity_days: int = Field(
        180, ge=1, description="Inactivity: no purchase for at least this many days (clients active in 24 months)."
    )


class WhitespaceConfig(_Section):
    """``[analysis.whitespace]``: peers and thresholds of the whitespace (cross-sell) analysis."""

    neighbours: int = Field(
        10,
        ge=1,
        description="Peers: same industry and size class when there are at least this many, else this many "
        "clients with the most similar purchase mix.",
    )
    min_peer_share: float = Field(
        0.3, gt=0, le=1, description="A category is whitespace when at least this share of peers buys it."
    )


class ChurnConfig(_Section):
    """``[analysis.churn]``: what the churn model predicts."""

    horizon_months: int = Field(6, ge=1, le=36, description="Months ahead the churn model looks.")
    revenue_drop_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A client counts as declining when its revenue over the horizon falls by more than this share.",
    )
    max_training_rows_per_cutoff: int = Field(
        20_000,
        ge=0,
        description="The churn model is fitted on a random sample of at most this many clients per training "
        "cut-off, each outcome keeping its share: fitting time grows with the rows (at 100,000 clients a sample of "
        "20,000 fits five times faster, for a backtest AUC lower by up to 0.006). 0 fits on every client.",
    )


class SignalFactorsConfig(_Section):
    """``[analysis.risk.signal_factors]``: share of revenue each fired signal puts at risk."""

    falling_revenue: float = Field(0.20, ge=0, lt=1, description="Falling revenue.")
    order_gap: float = Field(0.20, ge=0, lt=1, description="Order gap beyond the client's rhythm.")
    margin_erosion: float = Field(0.05, ge=0, lt=1, description="Margin erosion.")
    lost_categories: float = Field(0.10, ge=0, lt=1, description="Categories no longer bought.")
    inactivity: float = Field(0.30, ge=0, lt=1, description="Inactivity.")


class RiskConfig(_Section):
    """``[analysis.risk]``: rule-based revenue at risk when no churn model is available."""

    base_factor: float = Field(
        0.10, ge=0, lt=1, description="Share of revenue at risk for a client with no warning signal."
    )
    medium_level: float = Field(0.25, ge=0, le=1, description="Risk factors at or above this are medium risk.")
    high_level: float = Field(0.45, ge=0, le=1, description="Risk factors at or above this are high risk.")
    signal_factors: SignalFactorsConfig = Field(default_factory=SignalFactorsConfig)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.medium_level > self.high_level:
            raise ValueError(
                f"medium_level ({self.medium_level:g}) must not be greater than high_level ({self.high_level:g})"
            )
        return self


def _unknown_criterion_message(cid: str) -> str:
    close = difflib.get_close_matches(cid, list(CRITERIA), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown criterion {cid!r}{hint}; known criteria: {', '.join(CRITERIA)}"


class AnalysisConfig(_Section):
    """The ``[analysis]`` section: every analysis option of a workspace, with defaults."""

    missing_policy: Literal["renormalise", "neutral"] = Field(
        "renormalise",
        description='A client without data for a criterion: "renormalise" scores it on the criteria it has; '
        '"neutral" counts the missing criterion as middling (0.5).',
    )
    forecast_horizon_months: int = Field(
        24, ge=1, le=60, description="Months ahead the purchase and revenue forecasts look."
    )
    criteria: dict[str, CriterionConfig] = Field(default_factory=default_criteria)
    score_bands: ScoreBandsConfig = Field(default_factory=ScoreBandsConfig)
    abc: AbcConfig = Field(default_factory=AbcConfig)
    matrix: MatrixConfig = Field(default_factory=MatrixConfig)
    cost_to_serve: CtsConfig = Field(default_factory=CtsConfig)
    opportunity_zones: OpportunityZonesConfig = Field(default_factory=OpportunityZonesConfig)
    rfm: RfmConfig = Field(default_factory=RfmConfig)
    signals: SignalsConfig = Field(default_factory=SignalsConfig)
    whitespace: WhitespaceConfig = Field(default_factory=WhitespaceConfig)
    churn: ChurnConfig = Field(default_factory=ChurnConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)

    @field_validator("criteria", mode="before")
    @classmethod
    def _complete_criteria(cls, value: Any) -> Any:
        # Keys a workspace leaves out take the catalogue defaults, so a section only names what it changes.
        if not isinstance(value, Mapping):
            return value
        for cid in value:
            if cid not in CRITERIA:
                raise ValueError(_unknown_criterion_message(str(cid)))
        complete: dict[str, Any] = {}
        for cid, spec in CRITERIA.items():
            given = value.get(cid)
            defaults = {
                "weight": spec.weight,
                "enabled": True,
                "direction": spec.direction,
                "normalisation": spec.normalisation,
            }
            if given is None:
                complete[cid] = defaults
            elif isinstance(given, Mapping):
                complete[cid] = {**defaults, **given}
            else:
                complete[cid] = given
        return complete

    @model_validator(mode="after")
    def _something_to_score(self) -> Self:
        if not any(c.enabled and c.weight > 0 for c in self.criteria.values()):
            raise ValueError("at least one criterion must be enabled with a weight above 0")
        return self


# ---------------------------------------------------------------------------------------------------------------
# TOML rendering


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _comment(text: str, width: int = 110) -> list[str]:
    words = text.split()
    lines: list[str] = []
    line = "#"
    for word in words:
        if len(line) + 1 + len(word) > width and line != "#":
            lines.append(line)
            line = "#"
        line += " " + word
    lines.append(line)
    return lines


def _render_scalars(model: BaseModel) -> list[str]:
    out: list[str] = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel | dict):
            continue
        out.extend(_comment(field.description or name))
        if value is None:
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            out.append(f"# {name} = {_toml_value(extra.get('example'))}")
        else:
            out.append(f"{name} = {_toml_value(value)}")
    return out


def _section_doc(model: type[BaseModel]) -> str:
    # The model docstrings read "``[analysis.abc]``: what it is"; the table header already names the key.
    first = (model.__doc__ or "").strip().splitlines()[0]
    text = first.split("``: ", 1)[-1]
    return text[:1].upper() + text[1:]


def _render_table(model: BaseModel, path: str) -> list[str]:
    out = ["", f"[{path}]", *_comment(_section_doc(type(model))), *_render_scalars(model)]
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out.extend(_render_table(value, f"{path}.{name}"))
    return out


def render_toml_section(config: AnalysisConfig) -> str:
    """Write ``config`` as the ``[analysis]`` part of ``salesfolio.toml``, every option documented inline.

    Parsing the text with :mod:`tomllib` and validating its ``analysis`` table gives ``config`` back. Options
    without a value (``None``, "use the median") are written as commented-out examples.
    """
    lines = [
        "[analysis]",
        "# Analysis options: criteria and weights of the client score, and the thresholds of every analysis.",
        "# Every key is optional; the values shown are the defaults unless this workspace changed them.",
        *_render_scalars(config),
    ]
    lines += [
        "",
        "# Criteria of the client score. Each [analysis.criteria.<id>] table may set:",
    ]
    for name, field in CriterionConfig.model_fields.items():
        lines.extend(_comment(f"  {name}: {field.description}"))
    lines.append("# Criteria left out keep the defaults shown here.")
    for cid, crit in config.criteria.items():
        spec = CRITERIA[cid]
        lines += ["", f"[analysis.criteria.{cid}]", *_comment(f"{spec.label}: {spec.description}")]
        lines += [f"{name} = {_toml_value(getattr(crit, name))}" for name in CriterionConfig.model_fields]
    for name in AnalysisConfig.model_fields:
        value = getattr(config, name)
        if isinstance(value, BaseModel):
            lines.extend(_render_table(value, f"analysis.{name}"))
    return "\n".join(lines) + "\n"
