"""Jinja2 templates: the environment (autoescape, gettext through ``jinja2.ext.i18n``) and :func:`render`.

:func:`render` is the one way a page is produced. It adds what every page needs to the context: the request's
:class:`~salesfolio.web.i18n.Lang` (``lang``; ``_()`` translates through it), the user, the CSRF token, the
navigation (only pages the user's role may open), the snapshot in use and the list to choose from, and
:func:`url`-style helpers that return paths (never absolute URLs) and carry ``?snapshot=`` along.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.responses import HTMLResponse

from salesfolio import __version__
from salesfolio.store.models import Snapshot
from salesfolio.web import labels, queries
from salesfolio.web.deps import get_lang, get_workspace, session_user
from salesfolio.web.i18n import LANGUAGES
from salesfolio.web.labels import ROLE_LABELS
from salesfolio.web.security import CSRF_FIELD, CSRF_HEADER, csrf_token

TEMPLATES_DIR = Path(__file__).parent / "templates"


def plotly_version() -> str:
    """The plotly.js version bundled with the plotly package (cache-busting query of its URL)."""
    from plotly.offline import get_plotlyjs_version

    return str(get_plotlyjs_version())


@dataclass(frozen=True)
class NavItem:
    """One entry of the main navigation: the route name, its label (marked with ``N_``) and who sees it."""

    endpoint: str
    label: str
    roles: tuple[str, ...]
    icon: str = ""


@pass_context
def _gettext(context: Context, message: str) -> str:
    return str(context["lang"].gettext(message))


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return str(context["lang"].ngettext(singular, plural, n))


def make_templates(directory: Path = TEMPLATES_DIR) -> Jinja2Templates:
    """The template environment: HTML autoescaping on, strict undefined variables, gettext per request."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    return Jinja2Templates(env=env)


@functools.lru_cache(maxsize=8192)
def _route_path(app: Any, name: str, params: tuple[tuple[str, str], ...]) -> str:
    # The route table is fixed once the app is built; looking a name up walks it (about 50 routes) each time.
    return str(app.url_path_for(name, **dict(params)))


def path_for(request: Request, name: str, query: Mapping[str, Any] | None = None, **params: Any) -> str:
    """The path of route ``name`` with ``params``, plus ``query`` (empty values dropped) as a query string."""
    # Path parameters are percent-encoded whole ("/" included): client IDs such as "K/2024/7" stay one segment.
    path = _route_path(request.app, name, tuple((k, quote(str(v), safe="")) for k, v in params.items()))
    items = [(k, str(v)) for k, v in (query or {}).items() if v not in (None, "")]
    return f"{path}?{urlencode(items)}" if items else path


def _snapshot_query(request: Request) -> dict[str, str]:
    chosen = request.query_params.get("snapshot")
    return {"snapshot": chosen} if chosen and chosen.isdigit() else {}


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render ``template`` with the common page context (see the module docstring)."""
    user = session_user(request) if status_code < 500 else None
    lang = get_lang(request)
    snapshot: Snapshot | None = getattr(request.state, "snapshot", None)
    snapshots: list[Snapshot] = []
    if user is not None and status_code < 500:
        with get_workspace(request).sessions() as db:
            snapshots = queries.list_snapshots(db)
    nav_items: list[NavItem] = request.app.state.nav
    snapshot_query = _snapshot_query(request)

    def url(name: str, query: Mapping[str, Any] | None = None, **params: Any) -> str:
        return path_for(request, name, {**snapshot_query, **(query or {})}, **params)

    def plain_url(name: str, query: Mapping[str, Any] | None = None, **params: Any) -> str:
        return path_for(request, name, query, **params)

    def static(path: str) -> str:
        return f"{_route_path(request.app, 'static', (('path', path),))}?v={__version__}"

    base: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "user": user,
        "csrf_token": csrf_token(request) if "session" in request.scope else "",
        "csrf_field": CSRF_FIELD,
        "csrf_header": CSRF_HEADER,
        "nav": [item for item in nav_items if user is not None and user.role in item.roles],
        "languages": LANGUAGES,
        "snapshot": snapshot,
        "snapshots": snapshots,
        "snapshot_query": snapshot_query,
        "url": url,
        "plain_url": plain_url,
        "static": static,
        "plotly_js": f"{request.app.url_path_for('plotly_js')}?v={plotly_version()}",
        "plotly_css": f"{request.app.url_path_for('plotly_css')}?v={plotly_version()}",
        "current_path": request.url.path,
        "workspace_name": get_workspace(request).config.workspace.name,
        "role_labels": ROLE_LABELS,
        "labels": labels,
        "version": __version__,
    }
    base.update(context or {})
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, base, status_code=status_code, headers=dict(headers or {}))
