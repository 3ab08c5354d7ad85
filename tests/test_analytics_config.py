"""The [analysis] configuration: defaults, validation messages that name the key, TOML rendering."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from salesfolio.analytics.config import (
    AnalysisConfig,
    CriterionConfig,
    default_criteria,
    render_toml_section,
)
from salesfolio.analytics.criteria import CRITERIA, criterion

DOCS = Path(__file__).resolve().parents[1] / "docs" / "analytics.md"


def _errors(data: dict[str, object]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as info:
        AnalysisConfig.model_validate(data)
    return [(err["loc"], err["msg"]) for err in info.value.errors()]


def test_defaults_are_the_documented_ones() -> None:
    cfg = AnalysisConfig()
    assert cfg.missing_policy == "renormalise"
    assert (cfg.score_bands.good, cfg.score_bands.poor) == (67.0, 33.0)
    assert (cfg.abc.a, cfg.abc.b) == (0.80, 0.95)
    assert cfg.rfm.bins == 5
    assert cfg.matrix.split == "percentile"
    assert (cfg.matrix.value_split, cfg.matrix.potential_split) == (50.0, 50.0)
    assert (cfg.cost_to_serve.price_split, cfg.cost_to_serve.cost_split) == (None, None)
    assert (cfg.opportunity_zones.value_split, cfg.opportunity_zones.probability_split) == (None, 0.5)
    s = cfg.signals
    assert (s.revenue_drop, s.order_gap_ratio, s.min_orders, s.margin_erosion_pp) == (0.20, 2.0, 3, 5.0)
    assert (s.lost_categories, s.inactivity_days) == (1, 180)
    assert (cfg.whitespace.neighbours, cfg.whitespace.min_peer_share) == (10, 0.3)
    assert cfg.forecast_horizon_months == 24
    assert (cfg.churn.horizon_months, cfg.churn.revenue_drop_share) == (6, 0.5)
    assert list(cfg.criteria) == list(CRITERIA)
    assert sum(c.weight for c in cfg.criteria.values()) == 100.0
    assert cfg.criteria["cost_to_serve"] == CriterionConfig(
        weight=5.0, enabled=True, direction="lower_is_better", normalisation="percentile"
    )


def test_a_criterion_section_only_names_what_it_changes() -> None:
    cfg = AnalysisConfig.model_validate({"criteria": {"margin": {"weight": 30, "normalisation": "zscore"}}})
    assert cfg.criteria["margin"] == CriterionConfig(
        weight=30.0, enabled=True, direction="higher_is_better", normalisation="zscore"
    )
    assert cfg.criteria["current_value"] == default_criteria()["current_value"]
    assert list(cfg.criteria) == list(CRITERIA)


def test_unknown_criterion_is_named_with_a_suggestion() -> None:
    known = ", ".join(CRITERIA)
    assert _errors({"criteria": {"margn": {"weight": 1.0}}}) == [
        (("criteria",), f"Value error, unknown criterion 'margn' (did you mean 'margin'?); known criteria: {known}")
    ]
    assert _errors({"criteria": {"happiness": {}}}) == [
        (("criteria",), f"Value error, unknown criterion 'happiness'; known criteria: {known}")
    ]


def test_negative_weight_names_the_key() -> None:
    assert _errors({"criteria": {"margin": {"weight": -1.0}}}) == [
        (("criteria", "margin", "weight"), "Input should be greater than or equal to 0")
    ]


def test_abc_a_greater_than_b_names_both() -> None:
    assert _errors({"abc": {"a": 0.97, "b": 0.95}}) == [
        (("abc",), "Value error, a (0.97) must not be greater than b (0.95)")
    ]


def test_typos_and_wrong_types_are_reported_not_ignored() -> None:
    assert _errors({"scorebands": {"good": 70.0}}) == [(("scorebands",), "Extra inputs are not permitted")]
    assert _errors({"signals": {"revenue_dorp": 0.3}}) == [
        (("signals", "revenue_dorp"), "Extra inputs are not permitted")
    ]
    # Strict: a string is not silently read as a number, a float is not silently truncated to an int.
    assert _errors({"abc": {"a": "0.8"}}) == [(("abc", "a"), "Input should be a valid number")]
    assert _errors({"rfm": {"bins": 4.5}}) == [(("rfm", "bins"), "Input should be a valid integer")]
    assert _errors({"missing_policy": "ignore"}) == [
        (("missing_policy",), "Input should be 'renormalise' or 'neutral'")
    ]


def test_other_cross_field_checks() -> None:
    assert _errors({"score_bands": {"good": 30.0, "poor": 60.0}}) == [
        (("score_bands",), "Value error, poor (60) must not be greater than good (30)")
    ]
    assert _errors({"risk": {"medium_level": 0.5, "high_level": 0.4}}) == [
        (("risk",), "Value error, medium_level (0.5) must not be greater than high_level (0.4)")
    ]
    known = ", ".join(CRITERIA)
    assert _errors({"matrix": {"value_criteria": ["revenue"]}}) == [
        (("matrix", "value_criteria"), f"Value error, unknown criterion 'revenue'; known criteria: {known}")
    ]
    everything_off = {cid: {"enabled": False} for cid in CRITERIA}
    assert _errors({"criteria": everything_off}) == [
        ((), "Value error, at least one criterion must be enabled with a weight above 0")
    ]


def test_rendered_toml_parses_back_to_the_defaults() -> None:
    text = render_toml_section(AnalysisConfig())
    assert text.startswith("[analysis]\n")
    parsed = tomllib.loads(text)
    assert set(parsed) == {"analysis"}
    assert AnalysisConfig.model_validate(parsed["analysis"]) == AnalysisConfig()


def test_rendered_toml_round_trips_a_changed_config() -> None:
    cfg = AnalysisConfig.model_validate(
        {
            "missing_policy": "neutral",
            "criteria": {"margin": {"weight": 40.0, "direction": "lower_is_better"}, "growth": {"enabled": False}},
            "cost_to_serve": {"price_split": 0.22},
            "opportunity_zones": {"value_split": 12500.0},
            "matrix": {"split": "absolute", "potential_criteria": ["growth_potential"]},
            "risk": {"signal_factors": {"inactivity": 0.5}},
        }
    )
    back = AnalysisConfig.model_validate(tomllib.loads(render_toml_section(cfg))["analysis"])
    assert back == cfg
    assert back.criteria["growth"].enabled is False
    assert back.cost_to_serve.price_split == 0.22
    assert back.cost_to_serve.cost_split is None


def test_every_rendered_option_has_a_comment_and_unset_options_are_commented_examples() -> None:
    lines = render_toml_section(AnalysisConfig()).splitlines()
    settings = [i for i, line in enumerate(lines) if re.match(r"^[a-z_]+ = ", line)]
    assert settings
    criteria_keys = set(CriterionConfig.model_fields)
    for i in settings:
        key = lines[i].split(" = ")[0]
        # Criterion keys are documented once, in the comment block before the first [analysis.criteria.*].
        if key not in criteria_keys:
            assert lines[i - 1].startswith("# "), f"{lines[i]!r} has no comment above it"
    text = "\n".join(lines)
    assert "# price_split = 0.25" in text
    assert "# value_split = 50000.0" in text
    for name in CriterionConfig.model_fields:
        assert f"# {name}: " in text


def test_every_option_and_criterion_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    text = render_toml_section(AnalysisConfig())
    tables = re.findall(r"^\[(analysis(?:\.[a-z_]+)*)\]$", text, flags=re.MULTILINE)
    keys = set(re.findall(r"^#? ?([a-z_]+) = ", text, flags=re.MULTILINE))
    missing = [t for t in tables if not t.startswith("analysis.criteria.") and f"[{t}]" not in docs]
    missing += [k for k in sorted(keys) if f"`{k}`" not in docs]
    missing += [cid for cid in CRITERIA if f"`{cid}`" not in docs]
    assert missing == []


def test_catalogue_lookup_names_the_unknown_id() -> None:
    with pytest.raises(KeyError, match=r"unknown criterion 'margn'; known criteria: current_value, margin, "):
        criterion("margn")
    assert criterion("margin").label_pl == "Marża"
    assert CRITERIA["churn_risk"].columns == ("churn_probability", "n_signals", "order_gap_ratio", "trend_slope")
    assert CRITERIA["cost_to_serve"].columns == ("cost_to_serve_ttm", "revenue_ttm")
