"""Web security in one place: response headers, CSRF tokens, login throttling, safe redirects.

* :class:`SecurityHeadersMiddleware` adds a Content-Security-Policy (:data:`CONTENT_SECURITY_POLICY`: scripts,
  styles, fonts and connections only from the app itself, nothing inline; the overview alone allows
  ``'unsafe-eval'`` for its WebGL map, see :func:`content_security_policy`), ``X-Frame-Options: DENY``,
  ``nosniff``, a strict referrer policy and ``Cache-Control: no-store`` on pages (they carry client data).
* CSRF: a random token per session (synchroniser-token pattern, OWASP CSRF cheat sheet). Forms send it as the
  ``csrf_token`` field, HTMX and the JSON API as the ``X-CSRF-Token`` header. :func:`verify_csrf` is an
  app-wide dependency, so no state-changing route can forget it; a missing or wrong token answers 403.
* :class:`LoginThrottle` counts failed logins per (username, client address) in a sliding window (default: 5
  failures in 15 minutes lock that pair for the rest of the window).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import HTTPException, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
CSRF_SESSION_KEY = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def content_security_policy(*, webgl: bool = False) -> str:
    """The Content-Security-Policy: everything from the app itself, no inline script or style.

    plotly.js's stylesheet is served as a file (:func:`salesfolio.web.assets.plotly_css`), so styles need no
    ``'unsafe-inline'``. ``webgl=True`` adds ``'unsafe-eval'`` to ``script-src``: plotly.js compiles the WebGL
    shaders of ``scattergl`` through regl, which calls ``new Function`` (measured with Chromium: without it the
    portfolio map shows "WebGL is not supported"). Only the overview, which draws that map, sends it.
    """
    scripts = "script-src 'self' 'unsafe-eval'" if webgl else "script-src 'self'"
    return "; ".join(
        [
            "default-src 'self'",
            scripts,
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()
"""The policy of every response that does not set its own (see :func:`content_security_policy`)."""

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)


class SecurityHeadersMiddleware:
    """Pure ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response.

    Responses other than ``/static/`` files also get ``Cache-Control: no-store`` unless they set their own, so a
    shared computer's back button or a proxy does not keep client data.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response start message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
                if not static:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- CSRF -------------------------------------------------------------------------------------------------------
def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_SESSION_KEY] = token
    return token


def rotate_csrf_token(request: Request) -> str:
    """Replace the session's CSRF token (at login and logout)."""
    token = secrets.token_urlsafe(32)
    request.session[CSRF_SESSION_KEY] = token
    return token


async def verify_csrf(request: Request) -> None:
    """App-wide dependency: a request with an unsafe method must carry the session's CSRF token.

    The token is read from the ``X-CSRF-Token`` header, else from the ``csrf_token`` form field (URL-encoded and
    multipart bodies). Raises ``HTTPException(403)`` when it is missing or differs.
    """
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get(CSRF_SESSION_KEY)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not expected or not sent or not hmac.compare_digest(sent, expected):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")


# -- login throttling -------------------------------------------------------------------------------------------
class LoginThrottle:
    """Failed-login counter per (username, client address) over a sliding window.

    Parameters
    ----------
    max_failures
        Failures allowed within ``window_seconds`` (default 5); the next attempt is refused.
    window_seconds
        Length of the window (default 900 s = 15 minutes).
    clock
        Monotonic seconds (``time.monotonic``); tests pass a fake.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window_seconds: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.clock = clock
        self.max_tracked = 10_000
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(username: str, address: str) -> tuple[str, str]:
        return (username.strip().casefold(), address)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and now - times[0] >= self.window_seconds:
            times.popleft()
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until this pair may try again; 0 when it may try now."""
        with self._lock:
            now = self.clock()
            times = self._recent(self._key(username, address), now)
            if len(times) < self.max_failures:
                return 0
            return max(1, int(self.window_seconds - (now - times[0]) + 0.999))

    def failed(self, username: str, address: str) -> None:
        """Record a failed attempt (and forget expired ones when many pairs are tracked)."""
        with self._lock:
            now = self.clock()
            if len(self._failures) >= self.max_tracked:
                for stale in [k for k, t in self._failures.items() if now - t[-1] >= self.window_seconds]:
                    del self._failures[stale]
            key = self._key(username, address)
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times

    def succeeded(self, username: str, address: str) -> None:
        """Forget the pair's failures after a successful login."""
        with self._lock:
            self._failures.pop(self._key(username, address), None)


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site, else ``default`` (no open redirect through ``?next=``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\r" in target:
        return default
    if "\n" in target:
        return default
    return target
