"""Analysis settings: read the settings form, preview its effect on the portfolio, and save it to salesfolio.toml.

* :func:`config_from_form` turns the form (criteria with weight, enabled, direction and normalisation, the
  missing-data policy, ABC limits in percent, the value x potential split, score bands) into an
  :class:`~salesfolio.analytics.config.AnalysisConfig`, or a list of :class:`FieldProblem` naming each field.
* :func:`preview_inputs` reads what the preview needs once per reference date and warehouse state: the client
  features (:func:`salesfolio.analytics.features.client_features`), the early-warning signals and the whitespace
  of the saved configuration, and the churn probabilities of the newest snapshot. :class:`PreviewCache` keeps one
  such set per app. :func:`preview` then reruns only the scoring and the segmentations, exactly as
  :func:`salesfolio.analytics.portfolio.analyse_portfolio` does (``score_clients`` -> ``portfolio_axes`` ->
  ``value_potential_matrix``, ``abc_classes``), for the saved and the edited configuration, and compares them:
  the weights as entered and as used (in percent), the criteria that would be dropped for lack of data, the
  movement between value x potential segments, and the largest clients that would change segment.
* :func:`save_analysis_config` rewrites only the ``[analysis]`` part of ``salesfolio.toml``: the other sections
  keep their text (comments included) and values, the result is parsed and validated before it replaces the file
  atomically (a temporary file, then ``os.replace``), the previous file is kept as ``salesfolio.toml.bak``, the
  workspace's configuration is reloaded and the change is audited with the old and new weights.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re
import tempfile
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from salesfolio.analytics import segments as seg
from salesfolio.analytics.config import AnalysisConfig, render_toml_section
from salesfolio.analytics.criteria import CRITERIA
from salesfolio.analytics.features import category_revenue_expr, client_features
from salesfolio.analytics.scoring import ScoreResult, portfolio_axes, score_clients
from salesfolio.analytics.signals import early_warnings
from salesfolio.analytics.whitespace import whitespace
from salesfolio.config import (
    CONFIG_FILE,
    ConfigError,
    load_workspace_config,
    parse_workspace_config,
    render_workspace_toml,
)
from salesfolio.contract import TABLES
from salesfolio.services import audit
from salesfolio.workspace import Workspace

CLIENT_ID = "client_id"
WEIGHT_MAX = 1000.0
DIRECTIONS = ("higher_is_better", "lower_is_better")
NORMALISATIONS = ("percentile", "minmax", "zscore")
SPLITS = ("percentile", "absolute")
MISSING_POLICIES = ("renormalise", "neutral")
SEGMENTS = ("strategic", "development", "maintain", "operational", "unknown")
BACKUP_SUFFIX = ".bak"

MSG_NUMBER = "Enter a number."
MSG_WEIGHT_NEGATIVE = "The weight cannot be negative."
MSG_WEIGHT_LARGE = "The weight can be at most %(max)s."
MSG_CHOICE = "Choose one of the options in the list."
MSG_RANGE = "Enter a number from %(low)s to %(high)s."
MSG_ABC_ORDER = "The A limit (%(a)s) must not be above the B limit (%(b)s)."
MSG_BANDS_ORDER = "The poor limit (%(poor)s) must not be above the good limit (%(good)s)."
MSG_NO_CRITERION = "Enable at least one criterion with a weight above 0."
MSG_INVALID = "The settings are not valid: %(reason)s"
MSG_CHANGED = "salesfolio.toml was changed since this page was opened; reload the page and make the change again."


class SettingsError(RuntimeError):
    """Saving is not possible; ``message`` is English source text with ``params``, the file is unchanged."""

    def __init__(self, message: str, **params: str) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


@dataclass(frozen=True)
class FieldProblem:
    """A problem with one form field (``__all__`` for the form as a whole): message and its parameters."""

    field: str
    message: str
    params: tuple[tuple[str, str], ...] = ()

    def text(self, translate: Any = None) -> str:
        """The message, through ``translate`` (a gettext function) when given, with its parameters filled in."""
        template = translate(self.message) if translate is not None else self.message
        return str(template % dict(self.params)) if self.params else str(template)


# -- the form ------------------------------------------------------------------------------------------------------
def _fmt(value: float) -> str:
    return f"{value:g}"


def config_to_form(config: AnalysisConfig) -> dict[str, str]:
    """The form's field values for ``config`` (ABC limits in percent; a disabled criterion has no ``enabled``)."""
    form: dict[str, str] = {"missing_policy": config.missing_policy}
    for cid, crit in config.criteria.items():
        if crit.enabled:
            form[f"criteria.{cid}.enabled"] = "on"
        form[f"criteria.{cid}.weight"] = _fmt(crit.weight)
        form[f"criteria.{cid}.direction"] = crit.direction
        form[f"criteria.{cid}.normalisation"] = crit.normalisation
    form["abc.a"] = _fmt(round(config.abc.a * 100, 6))
    form["abc.b"] = _fmt(round(config.abc.b * 100, 6))
    form["matrix.split"] = config.matrix.split
    form["matrix.value_split"] = _fmt(config.matrix.value_split)
    form["matrix.potential_split"] = _fmt(config.matrix.potential_split)
    form["score_bands.good"] = _fmt(config.score_bands.good)
    form["score_bands.poor"] = _fmt(config.score_bands.poor)
    return form


def _number(form: Mapping[str, str], name: str, problems: list[FieldProblem]) -> float | None:
    raw = form.get(name, "").strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    try:
        value = float(raw)
    except ValueError:
        problems.append(FieldProblem(name, MSG_NUMBER))
        return None
    if not math.isfinite(value):
        problems.append(FieldProblem(name, MSG_NUMBER))
        return None
    return value


def _in_range(
    form: Mapping[str, str], name: str, low: float, high: float, problems: list[FieldProblem], *, low_open: bool = False
) -> float | None:
    value = _number(form, name, problems)
    if value is None:
        return None
    if value > high or value < low or (low_open and value == low):
        problems.append(FieldProblem(name, MSG_RANGE, (("low", _fmt(low)), ("high", _fmt(high)))))
        return None
    return value


def _choice(form: Mapping[str, str], name: str, options: tuple[str, ...], problems: list[FieldProblem]) -> str | None:
    value = form.get(name, "")
    if value not in options:
        problems.append(FieldProblem(name, MSG_CHOICE))
        return None
    return value


def config_from_form(form: Mapping[str, str], base: AnalysisConfig) -> tuple[AnalysisConfig | None, list[FieldProblem]]:
    """Validate the settings form into a configuration based on ``base`` (its other sections are kept).

    A criterion is enabled when ``criteria.<id>.enabled`` is present (a checked box). ABC limits are percentages
    (80 -> 0.80), the splits and score bands scores 0-100. Returns the configuration, or None and every problem.
    """
    problems: list[FieldProblem] = []
    data = base.model_dump(mode="python")
    missing_policy = _choice(form, "missing_policy", MISSING_POLICIES, problems)
    criteria: dict[str, dict[str, Any]] = {}
    for cid in CRITERIA:
        weight = _number(form, f"criteria.{cid}.weight", problems)
        if weight is not None and weight < 0:
            problems.append(FieldProblem(f"criteria.{cid}.weight", MSG_WEIGHT_NEGATIVE))
        elif weight is not None and weight > WEIGHT_MAX:
            problems.append(FieldProblem(f"criteria.{cid}.weight", MSG_WEIGHT_LARGE, (("max", _fmt(WEIGHT_MAX)),)))
        criteria[cid] = {
            "weight": weight,
            "enabled": f"criteria.{cid}.enabled" in form,
            "direction": _choice(form, f"criteria.{cid}.direction", DIRECTIONS, problems),
            "normalisation": _choice(form, f"criteria.{cid}.normalisation", NORMALISATIONS, problems),
        }
    abc_a = _in_range(form, "abc.a", 0.0, 100.0, problems, low_open=True)
    abc_b = _in_range(form, "abc.b", 0.0, 100.0, problems, low_open=True)
    if abc_a is not None and abc_b is not None and abc_a > abc_b:
        problems.append(FieldProblem("abc.a", MSG_ABC_ORDER, (("a", _fmt(abc_a)), ("b", _fmt(abc_b)))))
    split = _choice(form, "matrix.split", SPLITS, problems)
    value_split = _in_range(form, "matrix.value_split", 0.0, 100.0, problems)
    potential_split = _in_range(form, "matrix.potential_split", 0.0, 100.0, problems)
    good = _in_range(form, "score_bands.good", 0.0, 100.0, problems)
    poor = _in_range(form, "score_bands.poor", 0.0, 100.0, problems)
    if good is not None and poor is not None and poor > good:
        problems.append(FieldProblem("score_bands.poor", MSG_BANDS_ORDER, (("poor", _fmt(poor)), ("good", _fmt(good)))))
    usable = [c for c in criteria.values() if c["enabled"] and c["weight"] is not None and c["weight"] > 0]
    weights_ok = not any(p.field.startswith("criteria.") and p.field.endswith(".weight") for p in problems)
    if weights_ok and not usable:
        problems.append(FieldProblem("__all__", MSG_NO_CRITERION))
    if problems:
        return None, problems
    assert abc_a is not None and abc_b is not None  # noqa: S101  (no problems: every value was read)
    data.update(missing_policy=missing_policy, criteria=criteria)
    data["abc"] = {"a": abc_a / 100.0, "b": abc_b / 100.0}
    data["matrix"].update(split=split, value_split=value_split, potential_split=potential_split)
    data["score_bands"] = {"good": good, "poor": poor}
    try:
        return AnalysisConfig.model_validate(data), []
    except ValidationError as exc:
        reason = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return None, [FieldProblem("__all__", MSG_INVALID, (("reason", reason),))]


# -- preview -------------------------------------------------------------------------------------------------------
@dataclass
class PreviewInputs:
    """What the preview reuses between edits: client features and the inputs scoring takes from other analyses."""

    as_of: dt.date
    features: pd.DataFrame
    extra: dict[str, pd.Series]
    warnings: list[str]
    seconds: float
    snapshot_id: int | None = None


def preview_inputs(
    ws: Workspace, as_of: dt.date, config: AnalysisConfig, churn_probability: pd.Series | None = None
) -> PreviewInputs:
    """Read the features, signals and whitespace once (as ``analyse_portfolio`` does, without the models).

    ``churn_probability`` (indexed by client_id) is what the analysis' churn model gave, taken from the newest
    snapshot; without it the churn-risk criterion uses the signals, the order gap and the trend only.
    Raises ``ValueError`` when there are no clients.
    """
    started = time.perf_counter()
    with ws.warehouse(read_only=True) as wh:
        tables = {name: wh.table(name) for name in TABLES}
        feats = client_features(tables, as_of)
        features = feats.frame
        if features.empty:
            raise ValueError("no clients: import clients or invoice lines before analysing")
        start = as_of - dt.timedelta(days=365)
        category_revenue = category_revenue_expr(tables["invoice_lines"], tables["products"], start, as_of).execute()
    signals = early_warnings(features, config)
    space = whitespace(category_revenue, features, config)
    extra: dict[str, pd.Series] = {"n_signals": signals.n_signals, "whitespace_value": space.whitespace_value}
    if churn_probability is not None and churn_probability.notna().any():
        extra["churn_probability"] = churn_probability
    warnings = [*feats.warnings, *signals.warnings, *space.warnings]
    return PreviewInputs(as_of, features, extra, list(dict.fromkeys(warnings)), time.perf_counter() - started)


class PreviewCache:
    """One :class:`PreviewInputs` per app, kept while its key (reference date, warehouse state, ...) holds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._inputs: PreviewInputs | None = None

    def get(self, key: tuple[Any, ...]) -> PreviewInputs | None:
        """The inputs cached under ``key``, else None."""
        with self._lock:
            return self._inputs if self._key == key else None

    def put(self, key: tuple[Any, ...], inputs: PreviewInputs) -> None:
        """Keep ``inputs`` under ``key`` (replacing what was there)."""
        with self._lock:
            self._key, self._inputs = key, inputs

    def clear(self) -> None:
        """Forget the cached inputs."""
        with self._lock:
            self._key, self._inputs = None, None


def warehouse_state(ws: Workspace) -> tuple[str, int | None]:
    """The warehouse URL and, for a DuckDB file, its modification time: changes when data is loaded."""
    url = ws.warehouse_url
    if url.startswith("duckdb:///"):
        path = Path(url.removeprefix("duckdb:///"))
        path = path if path.is_absolute() else ws.path / path
        wal = path.with_name(path.name + ".wal")
        stamps = [p.stat().st_mtime_ns for p in (path, wal) if p.exists()]
        return url, max(stamps) if stamps else None
    return url, None


def preview_key(ws: Workspace, as_of: dt.date, snapshot_id: int | None, config: AnalysisConfig) -> tuple[Any, ...]:
    """The cache key of the preview inputs: what they depend on."""
    upstream = json.dumps(
        {"signals": config.signals.model_dump(), "whitespace": config.whitespace.model_dump()}, sort_keys=True
    )
    return (as_of, snapshot_id, *warehouse_state(ws), upstream)


@dataclass
class Outcome:
    """Scores and segments of one configuration."""

    scores: ScoreResult
    segments: pd.Series
    scores_by_client: pd.Series
    abc: pd.Series
    splits: tuple[float, float]


def outcome(inputs: PreviewInputs, config: AnalysisConfig) -> Outcome:
    """Score and segment the clients with ``config``: the steps of ``analyse_portfolio`` after the features."""
    scores = score_clients(inputs.features, config, inputs.extra)
    axes = portfolio_axes(scores, config).set_index(CLIENT_ID)
    matrix = seg.value_potential_matrix(axes["value_score"], axes["potential_score"], config.matrix)
    revenue = inputs.features.set_index(CLIENT_ID)["revenue_ttm"]
    abc = seg.abc_classes(revenue, config.abc.a, config.abc.b).set_index(CLIENT_ID)["abc_class"]
    segments = matrix.frame.set_index(CLIENT_ID)["segment"].astype(str)
    return Outcome(
        scores,
        segments,
        scores.frame.set_index(CLIENT_ID)["score"],
        abc.astype(str),
        (float(matrix.x_split), float(matrix.y_split)),
    )


@dataclass(frozen=True)
class WeightRow:
    """One criterion in the preview: entered weight, its share as configured and as used, data coverage."""

    criterion: str
    enabled: bool
    weight: float
    configured_share: float | None
    used_share: float | None
    coverage: float | None
    dropped: bool


@dataclass(frozen=True)
class ClientChange:
    """A client whose value x potential segment would change."""

    client_id: str
    name: str
    revenue: float | None
    segment_before: str
    segment_after: str
    score_before: float | None
    score_after: float | None


@dataclass
class SettingsPreview:
    """The effect of an edited configuration against the saved one, on the same data."""

    as_of: dt.date
    n_clients: int
    weights: list[WeightRow]
    dropped_warnings: list[str]
    migration: dict[str, dict[str, int]]
    segments: list[str]
    n_changed: int
    changes: list[ClientChange]
    abc_counts: dict[str, tuple[int, int]]
    splits: tuple[float, float]
    warnings: list[str] = field(default_factory=list)


def _float(value: Any) -> float | None:
    return float(value) if value is not None and not pd.isna(value) else None


def preview(
    inputs: PreviewInputs, current: AnalysisConfig, edited: AnalysisConfig, *, limit: int = 20
) -> SettingsPreview:
    """Compare ``edited`` with ``current`` on ``inputs`` (see the module docstring).

    ``migration[before][after]`` counts clients per pair of segments; ``changes`` lists the ``limit`` (20)
    clients with the most revenue (TTM) whose segment would change.
    """
    before = outcome(inputs, current)
    after = outcome(inputs, edited)
    scores = after.scores
    enabled_total = sum(c.weight for c in edited.criteria.values() if c.enabled and c.weight > 0)
    weights = [
        WeightRow(
            criterion=cid,
            enabled=crit.enabled,
            weight=crit.weight,
            configured_share=100.0 * crit.weight / enabled_total if crit.enabled and enabled_total > 0 else None,
            used_share=scores.weights_used.get(cid),
            coverage=scores.coverage.get(cid),
            dropped=cid in scores.dropped,
        )
        for cid, crit in edited.criteria.items()
    ]
    ids = pd.Index(inputs.features[CLIENT_ID].astype(str))
    seg_before = before.segments.reindex(ids).fillna("unknown")
    seg_after = after.segments.reindex(ids).fillna("unknown")
    present = [s for s in SEGMENTS if (seg_before == s).any() or (seg_after == s).any()]
    extra_segments = sorted((set(seg_before) | set(seg_after)) - set(SEGMENTS))
    order = [*present, *extra_segments]
    counts = pd.crosstab(seg_before.to_numpy(), seg_after.to_numpy())
    migration = {
        b: {a: int(counts.at[b, a]) if b in counts.index and a in counts.columns else 0 for a in order} for b in order
    }
    changed = seg_before.to_numpy() != seg_after.to_numpy()
    frame = inputs.features.assign(
        _before=seg_before.to_numpy(),
        _after=seg_after.to_numpy(),
        _score_before=before.scores_by_client.reindex(ids).to_numpy(),
        _score_after=after.scores_by_client.reindex(ids).to_numpy(),
    )[changed]
    frame = frame.sort_values(["revenue_ttm", CLIENT_ID], ascending=[False, True], na_position="last").head(limit)
    names = frame["name"] if "name" in frame.columns else frame[CLIENT_ID]
    changes = [
        ClientChange(
            client_id=str(row[CLIENT_ID]),
            name=str(name) if isinstance(name, str) and name else str(row[CLIENT_ID]),
            revenue=_float(row["revenue_ttm"]),
            segment_before=str(row["_before"]),
            segment_after=str(row["_after"]),
            score_before=_float(row["_score_before"]),
            score_after=_float(row["_score_after"]),
        )
        for (_, row), name in zip(frame.iterrows(), names, strict=True)
    ]
    abc_before = before.abc.value_counts()
    abc_after = after.abc.value_counts()
    classes = [c for c in ("A", "B", "C", "unknown") if c in abc_before.index or c in abc_after.index]
    abc_counts = {c: (int(abc_before.get(c, 0)), int(abc_after.get(c, 0))) for c in classes}
    return SettingsPreview(
        as_of=inputs.as_of,
        n_clients=len(ids),
        weights=weights,
        dropped_warnings=list(scores.warnings),
        migration=migration,
        segments=order,
        n_changed=int(changed.sum()),
        changes=changes,
        abc_counts=abc_counts,
        splits=after.splits,
        warnings=inputs.warnings,
    )


# -- saving --------------------------------------------------------------------------------------------------------
_HEADER = re.compile(r"^\s*\[\[?\s*(?P<key>[^\]#]+?)\s*\]\]?\s*(?:#.*)?$")


def _root_key(header: str) -> str:
    first = re.split(r"\s*\.\s*", header.strip(), maxsplit=1)[0]
    return first.strip().strip("\"'")


def file_version(text: str) -> str:
    """A short fingerprint of the file's text (the form carries it, so a file changed meanwhile is noticed)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def splice_analysis(text: str, config: AnalysisConfig) -> str:
    """``text`` with every ``[analysis...]`` table removed and the rendered section of ``config`` appended."""
    kept: list[str] = []
    in_analysis = False
    for line in text.splitlines():
        match = _HEADER.match(line)
        if match:
            in_analysis = _root_key(match.group("key")) == "analysis"
        if not in_analysis:
            kept.append(line)
    head = "\n".join(kept).rstrip()
    return (head + "\n\n" if head else "") + render_toml_section(config)


def _rendered(ws: Workspace, config: AnalysisConfig) -> str:
    """The whole file rendered fresh with the workspace's current values (the fallback when splicing fails)."""
    current = ws.config
    text = render_workspace_toml(
        name=current.workspace.name,
        currency=current.workspace.currency,
        language=current.workspace.language,
        reference_date=current.workspace.reference_date,
        analysis=config,
    )
    text = text.replace("fiscal_year_start = 1\n", f"fiscal_year_start = {current.workspace.fiscal_year_start}\n")
    text = text.replace('url = "duckdb:///warehouse.duckdb"', f"url = {json.dumps(current.warehouse.url)}", 1)
    return text.replace('url = "sqlite:///salesfolio.sqlite"', f"url = {json.dumps(current.store.url)}", 1)


def _checked(candidate: str, original: dict[str, Any], config: AnalysisConfig, path: Path) -> bool:
    try:
        data = tomllib.loads(candidate)
        parsed = parse_workspace_config(data, path)
    except (tomllib.TOMLDecodeError, ConfigError):
        return False
    others_kept = {k: v for k, v in data.items() if k != "analysis"} == {
        k: v for k, v in original.items() if k != "analysis"
    }
    return others_kept and parsed.analysis == config


def _write_atomically(path: Path, text: str) -> None:
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def weights_of(config: AnalysisConfig) -> dict[str, float]:
    """Weight of every enabled criterion (0 for a disabled one)."""
    return {cid: c.weight if c.enabled else 0.0 for cid, c in config.criteria.items()}


@dataclass(frozen=True)
class SavedSettings:
    """The outcome of :func:`save_analysis_config`."""

    changed: bool
    backup: Path | None
    old_weights: dict[str, float]
    new_weights: dict[str, float]


def save_analysis_config(
    ws: Workspace, config: AnalysisConfig, *, username: str | None = None, expected_version: str | None = None
) -> SavedSettings:
    """Write ``config`` as the ``[analysis]`` section of the workspace's salesfolio.toml (see the module docstring).

    ``expected_version`` (:func:`file_version` of the file when the form was shown) refuses to overwrite a file
    edited meanwhile. Raises :class:`SettingsError` (the file unchanged) when the file changed or cannot be
    rewritten so that it parses to the same other sections and to ``config``.
    """
    path = ws.path / CONFIG_FILE
    text = path.read_text(encoding="utf-8")
    if expected_version is not None and file_version(text) != expected_version:
        raise SettingsError(MSG_CHANGED)
    original = tomllib.loads(text)
    old = ws.config.analysis
    if old == config:
        return SavedSettings(False, None, weights_of(old), weights_of(config))
    candidate = splice_analysis(text, config)
    if not _checked(candidate, original, config, path):
        candidate = _rendered(ws, config)
        if not _checked(candidate, original, config, path):
            raise SettingsError(MSG_INVALID, reason=f"{CONFIG_FILE} could not be rewritten safely")
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    _write_atomically(backup, text)
    _write_atomically(path, candidate)
    ws.config = load_workspace_config(ws.path)
    changes = {
        key: {"old": value, "new": config.model_dump(mode="json")[key]}
        for key, value in old.model_dump(mode="json").items()
        if value != config.model_dump(mode="json")[key]
    }
    with ws.sessions.begin() as db:
        audit.record(
            db,
            "settings.analysis",
            username=username,
            object_type="workspace",
            object_id=CONFIG_FILE,
            old_weights=weights_of(old),
            new_weights=weights_of(config),
            changes=changes,
        )
    return SavedSettings(True, backup, weights_of(old), weights_of(config))
