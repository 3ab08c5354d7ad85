"""The Settings page (admins only): criteria, weights and thresholds of the analysis, with a live preview.

The form edits the ``[analysis]`` section of ``salesfolio.toml``: for each criterion of the catalogue whether it
counts, its weight, direction and normalisation; the missing-data policy; the ABC limits; the value x potential
split; the score bands. While the admin edits, HTMX posts the form to ``/settings/preview`` (debounced: half a
second after the last change) and swaps in what the edit would do on the latest data
(:func:`salesfolio.services.settings.preview`); problems appear next to their fields (out-of-band swaps of the
fields' message slots, so the field being typed in keeps its focus). The data the preview needs is read once per
reference date and warehouse state and kept on ``app.state.settings_preview``.

**Save** validates again and rewrites the section (:func:`salesfolio.services.settings.save_analysis_config`);
it takes effect at the next analysis run, which the page offers to start.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from salesfolio.analytics.config import AnalysisConfig
from salesfolio.analytics.criteria import CRITERIA
from salesfolio.config import CONFIG_FILE
from salesfolio.services import settings as service
from salesfolio.store.models import SnapshotClient, User
from salesfolio.warehouse import WarehouseError
from salesfolio.web import queries
from salesfolio.web.deps import DbSession, LangDep, get_workspace, require_role
from salesfolio.web.i18n import N_, Lang
from salesfolio.web.templating import NavItem, render
from salesfolio.workspace import Workspace

router = APIRouter(include_in_schema=False)
NAV = [NavItem("settings", N_("Settings"), ("admin",), "settings")]
Admin = Annotated[User, Depends(require_role("admin"))]
FLASH_KEY = "settings_flash"
MAX_FIELDS = 200

MSG_SAVED = N_("Settings saved. They take effect at the next analysis run.")
MSG_UNCHANGED = N_("Nothing changed: the settings are as saved.")
MSG_NO_DATA = N_("There is no data to preview yet: import clients or invoice lines first.")
MSG_BUSY = N_("The warehouse is busy (an import or an analysis is writing to it); the preview follows shortly.")
SERVICE_MESSAGES = (
    N_("Enter a number."),
    N_("The weight cannot be negative."),
    N_("The weight can be at most %(max)s."),
    N_("Choose one of the options in the list."),
    N_("Enter a number from %(low)s to %(high)s."),
    N_("The A limit (%(a)s) must not be above the B limit (%(b)s)."),
    N_("The poor limit (%(poor)s) must not be above the good limit (%(good)s)."),
    N_("Enable at least one criterion with a weight above 0."),
    N_("The settings are not valid: %(reason)s"),
    N_("salesfolio.toml was changed since this page was opened; reload the page and make the change again."),
)
"""The messages of :mod:`salesfolio.services.settings`, marked for translation here."""
DIRECTION_LABELS = {"higher_is_better": N_("Higher is better"), "lower_is_better": N_("Lower is better")}
NORMALISATION_LABELS = {"percentile": N_("Percentile rank"), "minmax": N_("Min-max"), "zscore": N_("Z-score")}
SPLIT_LABELS = {"percentile": N_("Percentiles of the scores"), "absolute": N_("Scores (0-100)")}
MISSING_LABELS = {
    "renormalise": N_("Score on the criteria the client has"),
    "neutral": N_("Count a missing criterion as middling"),
}

_CACHE_LOCK = threading.Lock()


def preview_cache(app: FastAPI) -> service.PreviewCache:
    """The app's cache of preview inputs (``app.state.settings_preview``), created on first use."""
    cache: service.PreviewCache | None = getattr(app.state, "settings_preview", None)
    if cache is None:
        with _CACHE_LOCK:
            cache = getattr(app.state, "settings_preview", None)
            if cache is None:
                cache = service.PreviewCache()
                app.state.settings_preview = cache
    return cache


def field_id(name: str) -> str:
    """The HTML id of a field's message slot: ``criteria.margin.weight`` -> ``error-criteria-margin-weight``."""
    return "error-" + name.strip("_").replace(".", "-").replace("_", "-")


def all_fields() -> list[str]:
    """Every field of the form that can carry a message, plus ``__all__``."""
    names = ["__all__", "missing_policy"]
    for cid in CRITERIA:
        names += [f"criteria.{cid}.weight", f"criteria.{cid}.direction", f"criteria.{cid}.normalisation"]
    names += ["abc.a", "abc.b", "matrix.split", "matrix.value_split", "matrix.potential_split"]
    return [*names, "score_bands.good", "score_bands.poor"]


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    fields: dict[str, str] = {}
    for key, value in form.multi_items()[:MAX_FIELDS]:
        if isinstance(value, str) and len(key) <= 100:
            fields[key] = value[:100]
    return fields


def _errors(problems: list[service.FieldProblem], lang: Lang) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in problems:
        errors.setdefault(problem.field, problem.text(lang.gettext))
    return errors


def _config_text(workspace: Workspace) -> str:
    return (workspace.path / CONFIG_FILE).read_text(encoding="utf-8")


def _page(
    request: Request,
    lang: Lang,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    version: str | None = None,
    status_code: int = 200,
) -> Response:
    workspace = get_workspace(request)
    context = {
        "form": form if form is not None else service.config_to_form(workspace.config.analysis),
        "errors": errors or {},
        "error": error,
        "flash": request.session.pop(FLASH_KEY, None),
        "version": version or service.file_version(_config_text(workspace)),
        "criteria": list(CRITERIA),
        "field_id": field_id,
        "directions": DIRECTION_LABELS,
        "normalisations": NORMALISATION_LABELS,
        "splits": SPLIT_LABELS,
        "missing_policies": MISSING_LABELS,
        "as_of": workspace.as_of().isoformat(),
    }
    return render(request, "settings.html", context, status_code=status_code)


@router.get("/settings", name="settings")
def settings_page(request: Request, user: Admin, lang: LangDep) -> Response:
    """The settings form with the saved values."""
    return _page(request, lang)


def _churn(db: DbSession, snapshot_id: int) -> pd.Series:
    rows = db.execute(
        select(SnapshotClient.client_id, SnapshotClient.churn_probability).where(
            SnapshotClient.snapshot_id == snapshot_id, SnapshotClient.churn_probability.is_not(None)
        )
    ).all()
    return pd.Series([r[1] for r in rows], index=pd.Index([r[0] for r in rows], name="client_id"), dtype="float64")


def load_inputs(request: Request, db: DbSession) -> service.PreviewInputs:
    """The preview inputs of the latest data: cached, or read now (raises ValueError or WarehouseError)."""
    workspace = get_workspace(request)
    snapshot = queries.latest_snapshot(db)
    as_of = snapshot.as_of if snapshot is not None else workspace.as_of()
    snapshot_id = snapshot.id if snapshot is not None else None
    config = workspace.config.analysis
    key = service.preview_key(workspace, as_of, snapshot_id, config)
    cache = preview_cache(request.app)
    found = cache.get(key)
    if found is None:
        churn = _churn(db, snapshot_id) if snapshot_id is not None else None
        found = service.preview_inputs(workspace, as_of, config, churn)
        found.snapshot_id = snapshot_id
        cache.put(key, found)
    return found


def _preview_context(request: Request, db: DbSession, lang: Lang, edited: AnalysisConfig) -> dict[str, Any]:
    try:
        inputs = load_inputs(request, db)
    except ValueError:
        return {"preview": None, "preview_error": lang.gettext(MSG_NO_DATA)}
    except WarehouseError:
        return {"preview": None, "preview_error": lang.gettext(MSG_BUSY)}
    result = service.preview(inputs, get_workspace(request).config.analysis, edited)
    return {"preview": result, "preview_error": None}


@router.post("/settings/preview", name="settings_preview")
async def settings_preview(request: Request, db: DbSession, user: Admin, lang: LangDep) -> Response:
    """What the edited settings would change on the latest data (an HTMX fragment)."""
    fields = await _form(request)
    config, problems = service.config_from_form(fields, get_workspace(request).config.analysis)
    context: dict[str, Any] = {
        "errors": _errors(problems, lang),
        "fields": all_fields(),
        "field_id": field_id,
        "preview": None,
        "preview_error": None,
    }
    if config is not None:
        context.update(await run_in_threadpool(_preview_context, request, db, lang, config))
    return render(request, "_settings_preview.html", context)


@router.post("/settings", name="settings_save")
async def settings_save(request: Request, user: Admin, lang: LangDep) -> Response:
    """Validate and save the settings to salesfolio.toml; show the form again with the problems otherwise."""
    fields = await _form(request)
    workspace = get_workspace(request)
    version = fields.get("version", "")
    config, problems = service.config_from_form(fields, workspace.config.analysis)
    if config is None:
        return _page(request, lang, form=fields, errors=_errors(problems, lang), version=version, status_code=400)
    try:
        saved = await run_in_threadpool(
            service.save_analysis_config, workspace, config, username=user.username, expected_version=version
        )
    except service.SettingsError as exc:
        text = lang.gettext(exc.message) % exc.params if exc.params else lang.gettext(exc.message)
        return _page(request, lang, form=fields, error=text, version=version, status_code=409)
    request.session[FLASH_KEY] = lang.gettext(MSG_SAVED if saved.changed else MSG_UNCHANGED)
    return RedirectResponse(request.app.url_path_for("settings"), status_code=303)
