"""Login, logout, CSRF, throttling, redirects for anonymous users, the language switch."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlalchemy import select

from salesfolio.store.models import AuditEntry, User
from salesfolio.web.security import LoginThrottle, safe_next
from web_fixtures import PASSWORD, World, build_world, cheap_passwords, csrf_of, module_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from module_world(tmp_path_factory)


def _login(http, username: str, password: str, next_: str = "/"):
    return http.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf_of(http), "next": next_}
    )


def test_anonymous_pages_redirect_to_login_with_next(world: World) -> None:
    http = world.client()
    response = http.get("/clients?q=alfa&page=2")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=" + quote("/clients?q=alfa&page=2", safe="")
    htmx = http.get("/clients", headers={"HX-Request": "true"})
    assert htmx.status_code == 204
    assert htmx.headers["hx-redirect"] == "/login?next=%2Fclients"


def test_login_success_goes_to_next_and_is_audited(world: World) -> None:
    http = world.client()
    http.get("/login")
    response = _login(http, "anna", PASSWORD, "/clients?q=alfa")
    assert response.status_code == 303
    assert response.headers["location"] == "/clients?q=alfa"
    page = http.get("/clients?q=alfa")
    assert page.status_code == 200 and "Alfa Sp. z o.o." in page.text
    with world.workspace.sessions() as db:
        actions = [a.action for a in db.scalars(select(AuditEntry).where(AuditEntry.username == "anna"))]
    assert "login" in actions


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_login_never_redirects_off_site(world: World, target: str) -> None:
    http = world.client()
    response = _login(http, "anna", PASSWORD, target)
    assert response.headers["location"] == "/"
    assert safe_next(target) == "/"


def test_wrong_password_same_message_as_unknown_user(world: World) -> None:
    http = world.client()
    wrong = _login(http, "maria", "not-the-password")
    unknown = _login(http, "nobody-at-all", "whatever-password")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Wrong username or password." in response.text
    assert 'value="maria"' in wrong.text  # the username is kept in the form, the password is not
    assert "not-the-password" not in wrong.text
    assert http.get("/").status_code == 303  # still logged out
    with world.workspace.sessions() as db:
        failed = db.scalars(select(AuditEntry).where(AuditEntry.action == "login.failed")).all()
    assert {"maria", "nobody-at-all"} <= {a.username for a in failed}


def test_logout_needs_post_with_csrf_and_ends_the_session(world: World) -> None:
    http = world.login("anna")
    assert http.get("/clients").status_code == 200
    assert http.get("/logout").status_code == 405
    assert http.post("/logout").status_code == 403  # no token
    response = http.post("/logout", data={"csrf_token": csrf_of(http)})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert http.get("/clients").status_code == 303


def test_csrf_missing_or_wrong_is_rejected_everywhere(world: World) -> None:
    http = world.login("anna")
    token = csrf_of(http)
    form = {"period": "2025-03", "relationship": "4"}
    assert http.post("/clients/C001/assessments", data=form).status_code == 403
    assert http.post("/clients/C001/assessments", data={**form, "csrf_token": "x" * 43}).status_code == 403
    assert http.post("/clients/C001/assessments", data=form, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    api = http.post("/api/clients/C001/assessments", json={"period": "2025-03-01", "relationship": 4})
    assert api.status_code == 403
    assert api.json() == {"detail": "CSRF token missing or wrong"}
    language = http.post("/language", data={"language": "pl", "next": "/"})
    assert language.status_code == 403
    # the login form itself is protected (login CSRF)
    anonymous = world.client()
    response = anonymous.post("/login", data={"username": "anna", "password": PASSWORD, "next": "/"})
    assert response.status_code == 403
    # and with the token (form field or header) the requests go through
    ok = http.post("/clients/C001/assessments", data={**form, "csrf_token": token})
    assert ok.status_code == 303
    ok = http.post(
        "/api/clients/C001/assessments",
        json={"period": "2025-02-01", "relationship": 3},
        headers={"X-CSRF-Token": token},
    )
    assert ok.status_code == 201


def test_csrf_token_of_another_session_is_rejected(world: World) -> None:
    anna = world.login("anna")
    maria = world.login("maria")
    response = anna.post(
        "/clients/C001/assessments", data={"period": "2025-03", "relationship": "2", "csrf_token": csrf_of(maria)}
    )
    assert response.status_code == 403


def test_login_rotates_the_csrf_token(world: World) -> None:
    http = world.client()
    before = csrf_of(http)
    _login(http, "anna", PASSWORD)
    assert csrf_of(http) != before


def test_throttling_per_username_and_address(tmp_path) -> None:
    now = [1000.0]
    throttle = LoginThrottle(max_failures=3, window_seconds=600, clock=lambda: now[0])
    with cheap_passwords():
        small = build_world(tmp_path, throttle=throttle)
        http = small.client()
        for _ in range(3):
            assert _login(http, "anna", "bad-password").status_code == 401
        locked = _login(http, "anna", PASSWORD)  # even the right password is refused while locked
        assert locked.status_code == 429
        assert locked.headers["retry-after"] == "600"
        assert "Too many failed logins. Try again in 10 minutes." in locked.text
        # another username from the same address is not affected
        assert _login(small.client(), "maria", PASSWORD).status_code == 303
        # the lock ends with the window
        now[0] += 599
        assert "Try again in 1 minute." in _login(http, "ANNA ", PASSWORD).text  # same user, case and spaces
        now[0] += 1
        assert _login(http, "anna", PASSWORD).status_code == 303
        small.workspace.close()


def test_throttle_counts_only_the_window() -> None:
    now = [0.0]
    throttle = LoginThrottle(max_failures=2, window_seconds=100, clock=lambda: now[0])
    throttle.failed("u", "1.2.3.4")
    now[0] = 60
    throttle.failed("u", "1.2.3.4")
    assert throttle.retry_after("u", "1.2.3.4") == 40
    assert throttle.retry_after("u", "5.6.7.8") == 0
    now[0] = 100
    assert throttle.retry_after("u", "1.2.3.4") == 0  # the first failure left the window
    throttle.failed("u", "1.2.3.4")
    throttle.succeeded("u", "1.2.3.4")
    assert throttle.retry_after("u", "1.2.3.4") == 0


def test_throttle_forgets_expired_pairs_when_many_are_tracked() -> None:
    now = [0.0]
    throttle = LoginThrottle(max_failures=2, window_seconds=10, clock=lambda: now[0])
    throttle.max_tracked = 3
    for name in ("a", "b", "c"):
        throttle.failed(name, "1.1.1.1")
    now[0] = 11
    throttle.failed("d", "1.1.1.1")
    assert len(throttle._failures) == 1  # a, b and c expired and were dropped


def test_language_switch_is_stored_on_the_user(world: World) -> None:
    http = world.login("maria")
    response = http.post("/language", data={"language": "pl", "next": "/clients", "csrf_token": csrf_of(http)})
    assert response.status_code == 303 and response.headers["location"] == "/clients"
    with world.workspace.sessions() as db:
        assert db.scalar(select(User.language).where(User.username == "maria")) == "pl"
    # a new session of the same user gets Polish straight away
    again = world.login("maria")
    page = again.get("/clients")
    assert '<html lang="pl">' in page.text
    assert "Klienci" in page.text
    again.post("/language", data={"language": "en", "next": "/", "csrf_token": csrf_of(again)})
    assert '<html lang="en">' in again.get("/clients").text


def test_language_before_login_is_kept_in_the_session(world: World) -> None:
    http = world.client()
    http.get("/login")
    http.post("/language", data={"language": "pl", "next": "/login", "csrf_token": csrf_of(http)})
    page = http.get("/login")
    assert "Zaloguj się do salesfolio" in page.text
    assert "Nazwa użytkownika" in page.text
    unknown = http.post("/language", data={"language": "xx", "next": "/login", "csrf_token": csrf_of(http)})
    assert unknown.status_code == 303
    assert "Zaloguj się do salesfolio" in http.get("/login").text


def test_deactivated_user_loses_access(world: World) -> None:
    http = world.login("bartek")
    assert http.get("/clients").status_code == 200
    with world.workspace.sessions.begin() as db:
        db.scalars(select(User).where(User.username == "bartek")).one().active = False
    try:
        assert http.get("/clients").status_code == 303
        assert _login(world.client(), "bartek", PASSWORD).status_code == 401
    finally:
        with world.workspace.sessions.begin() as db:
            db.scalars(select(User).where(User.username == "bartek")).one().active = True


def test_forged_session_cookie_is_ignored(world: World) -> None:
    http = world.client()
    http.cookies.set("salesfolio_session", "eyJ1aWQiOiAxfQ==.forged.signature")
    assert http.get("/clients").status_code == 303
