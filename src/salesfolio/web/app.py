"""The web app factory: :func:`create_app` builds a FastAPI app for one workspace.

Nothing happens at import time. :func:`create_app` checks that the front-end assets are in place
(:func:`salesfolio.web.assets.check_vendor_assets`), compiles the translations, and puts everything the
requests need on ``app.state``: ``workspace``, ``templates``, ``translations``, ``throttle`` (failed logins),
``filter_options`` (cached drop-down values per snapshot and scope), ``snapshot_cache`` (results and figures
computed from a snapshot's rows, :class:`salesfolio.web.rollups.SnapshotCache`), ``client_cache`` (the same for
one client's page: its warehouse data and figures) and ``nav`` (the main navigation,
collected from the route modules' ``NAV`` lists, so a new page module adds its own entry: append the module to
:data:`ROUTE_MODULES`).

Middleware, outermost first: security headers (CSP, frame denial, nosniff, referrer policy), gzip for static
files only, then the signed session cookie (Starlette ``SessionMiddleware``: itsdangerous-signed, key from
``workspace.secret_key``, ``SameSite=Lax``, ``Secure`` when ``https_only``). CSRF is an app-wide dependency
(:func:`salesfolio.web.security.verify_csrf`).

Errors: pages answer with the error page in the layout (404, 403, 500, ... translated); ``/api/`` answers JSON
``{"detail": ...}``; a request without a session is sent to the login form (pages) or gets 401 (API).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from salesfolio import __version__
from salesfolio.web.assets import STATIC_DIR, check_vendor_assets, plotly_css, plotly_js_path
from salesfolio.web.deps import LoginRequired
from salesfolio.web.i18n import N_, load_catalogues
from salesfolio.web.queries import FilterOptionsCache
from salesfolio.web.rollups import SnapshotCache
from salesfolio.web.routes import analyses, api, auth, clients, imports, models, overview, segments, settings, team
from salesfolio.web.security import SECURITY_HEADERS, LoginThrottle, SecurityHeadersMiddleware, verify_csrf
from salesfolio.web.templating import NavItem, make_templates, render
from salesfolio.workspace import Workspace

logger = logging.getLogger(__name__)

SESSION_COOKIE = "salesfolio_session"
SESSION_MAX_AGE = 12 * 3600
"""Seconds a login lasts (a working day); the cookie is signed, not stored on the server."""

ERROR_TEXTS: dict[int, tuple[str, str]] = {
    400: (N_("Bad request"), N_("The address or the form has values the app cannot use.")),
    403: (
        N_("Not allowed"),
        N_("Your role does not allow this, or the form expired. Reload the page and try again."),
    ),
    404: (N_("Not found"), N_("There is no such page, or it is not in your part of the portfolio.")),
    405: (N_("Not allowed"), N_("This address does not accept this kind of request.")),
    429: (N_("Too many attempts"), N_("Wait a moment and try again.")),
    500: (
        N_("Something went wrong"),
        N_("The error has been logged. Try again, or tell your administrator."),
    ),
}

ROUTE_MODULES = (overview, clients, segments, team, models, imports, analyses, settings, auth, api)
"""Route modules in navigation order; each has ``router`` and ``NAV``."""


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


def _error_response(
    request: Request, status: int, detail: Any = None, headers: dict[str, str] | None = None
) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": detail or "Error"}, status_code=status, headers=headers)
    title, text = ERROR_TEXTS.get(status, ERROR_TEXTS[500] if status >= 500 else ERROR_TEXTS[400])
    context = {"status": status, "title": title, "text": text}
    return render(request, "errors/error.html", context, status_code=status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101  (registered for this type only)
    headers = dict(exc.headers) if exc.headers else None
    return _error_response(request, exc.status_code, exc.detail, headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    if _wants_json(request):
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)
    return _error_response(request, 400)


async def _login_required(request: Request, exc: Exception) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": "Not authenticated"}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    login = f"/login?next={quote(target, safe='')}"
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": login})
    return RedirectResponse(login, status_code=303)


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    # This handler runs outside the middleware stack: add the security headers here.
    response = _error_response(request, 500, "Internal server error")
    for name, value in SECURITY_HEADERS:
        response.headers.setdefault(name, value)
    return response


def create_app(
    workspace: Workspace, *, https_only: bool | None = None, throttle: LoginThrottle | None = None
) -> FastAPI:
    """Build the web app for ``workspace``.

    Parameters
    ----------
    workspace
        The opened workspace (its config, store, warehouse and secret key).
    https_only
        Mark the session cookie ``Secure`` (sent over HTTPS only). Default: on when the process runs with
        ``SALESFOLIO_ENV=production``, off otherwise (plain HTTP on localhost).
    throttle
        Failed-login throttle; default :class:`~salesfolio.web.security.LoginThrottle` (5 failures per username
        and address in 15 minutes).

    Raises
    ------
    salesfolio.web.assets.VendorAssetsMissing
        When a front-end file is missing; the message names it and the command that restores it.
    """
    check_vendor_assets()
    app = FastAPI(
        title="salesfolio",
        version=__version__,
        summary="Sales portfolio management: clients, scores, segments, risk.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(verify_csrf)],
    )
    app.state.workspace = workspace
    app.state.templates = make_templates()
    app.state.translations = load_catalogues()
    app.state.throttle = throttle or LoginThrottle()
    app.state.filter_options = FilterOptionsCache()
    app.state.snapshot_cache = SnapshotCache()
    app.state.client_cache = SnapshotCache(size=2048)
    nav: list[NavItem] = []
    for module in ROUTE_MODULES:
        nav.extend(module.NAV)
        app.include_router(module.router)
    app.state.nav = nav

    plotly_js = plotly_js_path()
    plotly_stylesheet = plotly_css(plotly_js.read_text(encoding="utf-8"))
    cache = {"Cache-Control": "public, max-age=86400"}

    @app.get("/static/plotly.min.js", include_in_schema=False, name="plotly_js")
    def _plotly() -> FileResponse:
        return FileResponse(plotly_js, media_type="text/javascript", headers=cache)

    @app.get("/static/plotly.css", include_in_schema=False, name="plotly_css")
    def _plotly_css() -> Response:
        return Response(plotly_stylesheet, media_type="text/css", headers=cache)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    handlers: dict[Any, Any] = {
        StarletteHTTPException: _http_error,
        RequestValidationError: _validation_error,
        LoginRequired: _login_required,
        Exception: _server_error,
    }
    for exc_class, handler in handlers.items():
        app.add_exception_handler(exc_class, handler)

    secure = workspace.settings.env == "production" if https_only is None else https_only
    app.add_middleware(
        SessionMiddleware,
        secret_key=workspace.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=secure,
    )
    app.add_middleware(StaticCompressionMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


class StaticCompressionMiddleware:
    """Gzip for ``/static/`` only (plotly.min.js is 4.8 MB, about 1.4 MB compressed).

    Pages are not compressed: they carry the CSRF token next to text the user typed (the search box), the
    combination a BREACH attack needs.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=1024)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Compress static files, pass everything else through."""
        if scope["type"] == "http" and str(scope.get("path", "")).startswith("/static/"):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
