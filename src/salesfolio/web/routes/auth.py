"""Login, logout and the language switch.

Login checks the throttle first (:class:`~salesfolio.web.security.LoginThrottle`, per username and client
address), then the password (:func:`salesfolio.services.users.authenticate`, same answer and timing for an
unknown user and a wrong password). A successful login starts a fresh session (new CSRF token) and is audited,
as is a failed one. Logout is a POST (with the CSRF token), so a link on another site cannot log a user out.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from salesfolio.services import audit
from salesfolio.services.users import authenticate
from salesfolio.store.models import User
from salesfolio.web.deps import SESSION_LANG_KEY, SESSION_USER_KEY, DbSession, LangDep
from salesfolio.web.i18n import LANGUAGES
from salesfolio.web.security import LoginThrottle, rotate_csrf_token, safe_next
from salesfolio.web.templating import NavItem, render

router = APIRouter(include_in_schema=False)
NAV: list[NavItem] = []


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login", name="login")
def login_form(request: Request, db: DbSession, next: str = "/") -> Response:
    """The login form (a logged-in user goes straight on)."""
    uid = request.session.get(SESSION_USER_KEY)
    user = db.get(User, uid) if isinstance(uid, int) else None
    if user is not None and user.active:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "error": None, "username": ""})


@router.post("/login", name="login_submit")
def login_submit(
    request: Request,
    db: DbSession,
    lang: LangDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the credentials; on success start the session and go to ``next`` (a path on this site)."""
    throttle: LoginThrottle = request.app.state.throttle
    address = _address(request)
    target = safe_next(next)
    wait = throttle.retry_after(username, address)
    if wait:
        minutes = max(1, -(-wait // 60))
        error = lang.ngettext(
            "Too many failed logins. Try again in %(minutes)s minute.",
            "Too many failed logins. Try again in %(minutes)s minutes.",
            minutes,
        ) % {"minutes": minutes}
        context = {"next": target, "error": error, "username": username}
        return render(request, "login.html", context, status_code=429, headers={"Retry-After": str(wait)})
    user = authenticate(db, username, password) if username and password else None
    if user is None:
        throttle.failed(username, address)
        audit.record(db, "login.failed", username=username[:80] or None, address=address)
        db.commit()
        context = {"next": target, "error": lang.gettext("Wrong username or password."), "username": username}
        return render(request, "login.html", context, status_code=401)
    throttle.succeeded(username, address)
    chosen_language = request.session.get(SESSION_LANG_KEY)
    request.session.clear()
    request.session[SESSION_USER_KEY] = user.id
    if isinstance(chosen_language, str):
        request.session[SESSION_LANG_KEY] = chosen_language
    rotate_csrf_token(request)
    audit.record(db, "login", username=user.username, address=address)
    db.commit()
    return RedirectResponse(target, status_code=303)


@router.post("/logout", name="logout")
def logout(request: Request) -> Response:
    """End the session and go to the login form."""
    request.session.clear()
    rotate_csrf_token(request)
    return RedirectResponse(request.app.url_path_for("login"), status_code=303)


@router.post("/language", name="language")
def set_language(
    request: Request,
    db: DbSession,
    language: Annotated[str, Form(max_length=8)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Switch the language: stored on the user (``users.language``) when logged in, else in the session."""
    target = safe_next(next)
    if language not in LANGUAGES:
        return RedirectResponse(target, status_code=303)
    request.session[SESSION_LANG_KEY] = language
    uid = request.session.get(SESSION_USER_KEY)
    if isinstance(uid, int):
        user = db.get(User, uid)
        if user is not None and user.active and user.language != language:
            user.language = language
            audit.record(db, "user.language", username=user.username, object_type="user", object_id=user.username)
            db.commit()
    return RedirectResponse(target, status_code=303)
