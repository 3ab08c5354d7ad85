"""The app factory: state, assets, security headers, error pages, translations, no external URL anywhere."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from babel.messages.extract import extract_from_dir
from hypothesis import given, settings
from hypothesis import strategies as st

from salesfolio.web import assets
from salesfolio.web.app import create_app
from salesfolio.web.assets import VENDOR_FILES, VendorAssetsMissing, check_vendor_assets, plotly_css
from salesfolio.web.i18n import LANGUAGES, TRANSLATIONS_DIR, Lang, load_catalogues
from salesfolio.web.security import CONTENT_SECURITY_POLICY, content_security_policy
from web_fixtures import World, module_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from module_world(tmp_path_factory)


ROOT = TRANSLATIONS_DIR.parents[3]


def test_app_state_and_nothing_at_import(world: World) -> None:
    app = world.app
    assert app.state.workspace is world.workspace
    assert set(app.state.translations) == set(LANGUAGES)
    assert [item.endpoint for item in app.state.nav] == [
        "overview",
        "clients",
        "segments",
        "team",
        "models",
        "imports",
        "analyses",
        "settings",
    ]
    # a second app for the same workspace is independent (no module-level state)
    other = create_app(world.workspace)
    assert other is not app and other.state.throttle is not app.state.throttle


def test_missing_vendor_asset_names_file_and_fix(tmp_path) -> None:
    (tmp_path / "htmx.min.js").write_text("x")
    with pytest.raises(VendorAssetsMissing) as info:
        check_vendor_assets(tmp_path)
    assert str(info.value) == (
        f"front-end asset missing: {tmp_path / 'tabler.min.css'}; run from the repository root: "
        "npm ci --ignore-scripts && python scripts/vendor_assets.py"
    )


def test_create_app_fails_at_start_up_without_vendor_assets(world: World, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(assets, "VENDOR_DIR", tmp_path)
    with pytest.raises(VendorAssetsMissing, match=r"front-end asset missing: .*htmx\.min\.js; run from the repository"):
        create_app(world.workspace)


def test_vendor_files_are_served_by_the_app(world: World) -> None:
    http = world.client()
    for name in VENDOR_FILES:
        response = http.get(f"/static/vendor/{name}")
        assert response.status_code == 200, name
        assert len(response.content) > 10_000
    plotly = http.get("/static/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert plotly.status_code == 200 and b"plotly.js v" in plotly.content[:200]
    assert plotly.headers["content-encoding"] == "gzip"  # static files are compressed, pages are not
    page = world.login("board").get("/clients", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in page.headers
    css = http.get("/static/plotly.css")
    assert css.headers["content-type"].startswith("text/css")
    assert ".js-plotly-plot .plotly .modebar{" in css.text


def test_plotly_css_parses_the_rule_table() -> None:
    js = 'x={"X,X div":\'margin:0;\',"X .a":"color:#fff;",Y:\'z-index:9;\',"Y .b:hover":"c:\\"q\\";"};'
    assert plotly_css(js).splitlines()[1:] == [
        ".js-plotly-plot .plotly,.js-plotly-plot .plotly div{margin:0;}",
        ".js-plotly-plot .plotly .a{color:#fff;}",
        ".plotly-notifier{z-index:9;}",
        '.plotly-notifier .b:hover{c:"q";}',
    ]
    with pytest.raises(ValueError, match=r"plotly\.js bundle has no style rule table"):
        plotly_css("var a = 1;")


def test_security_headers_on_pages_and_errors(world: World) -> None:
    http = world.login("board")
    for path, csp in (
        ("/clients", CONTENT_SECURITY_POLICY),
        ("/", content_security_policy(webgl=True)),
        ("/no-such-page", CONTENT_SECURITY_POLICY),
        ("/api/clients", CONTENT_SECURITY_POLICY),
    ):
        response = http.get(path)
        assert response.headers["content-security-policy"] == csp, path
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert response.headers["cache-control"] == "no-store"
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY


def test_session_cookie_flags(world: World) -> None:
    http = world.client()
    response = http.get("/login")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("salesfolio_session=")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()
    secure_app = create_app(world.workspace, https_only=True)
    from fastapi.testclient import TestClient

    assert "secure" in TestClient(secure_app).get("/login").headers["set-cookie"].lower()


@pytest.mark.parametrize(
    ("path", "status", "title"),
    [
        ("/nothing-here", 404, "Not found"),
        ("/clients?page=0", 400, "Bad request"),
        ("/clients?sort=password_hash", 400, "Bad request"),
    ],
)
def test_error_pages_in_the_layout(world: World, path: str, status: int, title: str) -> None:
    http = world.login("board")
    response = http.get(path)
    assert response.status_code == status
    assert f'<p class="empty-title">{title}</p>' in response.text
    assert '<nav aria-label="Main navigation">' in response.text  # inside the layout, with the navigation
    assert "Back to the overview" in response.text


def test_error_page_in_polish(world: World) -> None:
    http = world.login("board")
    http.post("/language", data={"language": "pl", "next": "/", "csrf_token": _csrf(http)})
    response = http.get("/nothing-here")
    assert response.status_code == 404
    assert '<p class="empty-title">Nie znaleziono</p>' in response.text
    assert "Nie ma takiej strony albo nie należy ona do Twojej części portfela." in response.text
    http.post("/language", data={"language": "en", "next": "/", "csrf_token": _csrf(http)})


def test_server_error_page_has_headers_and_no_traceback(world: World, monkeypatch) -> None:
    from salesfolio.web import queries

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(queries, "top_alerts", boom)  # read on every request (not cached)
    from fastapi.testclient import TestClient

    http = TestClient(world.app, raise_server_exceptions=False)
    http.cookies.update(world.login("board").cookies)
    response = http.get("/")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "secret internals" not in response.text
    assert response.headers["x-frame-options"] == "DENY"


def test_api_errors_are_json(world: World) -> None:
    http = world.client()
    response = http.get("/api/clients")
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    board = world.login("board")
    response = board.get("/api/clients/NOPE")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such client"}


EXTERNAL = re.compile(r"""(?:src|href|action|url)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def test_no_page_references_external_urls(world: World) -> None:
    http = world.login("board")
    pages = ["/", "/clients", "/clients/C001", "/api/docs", "/login", "/nothing"]
    for path in pages:
        body = http.get(path).text
        assert not EXTERNAL.search(body), path
        for url in re.findall(r"""(?:src|href)="([^"]+)\"""", body):
            assert url.startswith(("/", "#")), (path, url)
    for name in ("app.css", "app.js", "api-docs.js"):
        text = http.get(f"/static/{name}").text
        assert "http://" not in text and "https://" not in text, name


def _csrf(http) -> str:
    return http.get("/api/me").json()["csrf_token"]


SAME_IN_POLISH = {"ABC", "ABC %(cls)s", "API", "ID", "Region", "Segment", "Administrator"}


def test_every_message_is_translated_to_polish() -> None:
    catalogues = load_catalogues()
    found = set()
    method_map = [("src/salesfolio/web/**.py", "python"), ("src/salesfolio/web/templates/**.html", "jinja2")]
    options = {"src/salesfolio/web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map=method_map, options_map=options, keywords=keywords
    ):
        found.add(message)
    assert len(found) > 150
    untranslated = []
    for message in found:
        singular = message[0] if isinstance(message, tuple) else message
        if isinstance(message, tuple):
            forms = [catalogues["pl"].ngettext(message[0], message[1], n) for n in (1, 2, 5)]
            if forms[0] == message[0] or forms[2] == message[1]:
                untranslated.append(singular)
        elif catalogues["pl"].gettext(singular) == singular and singular not in SAME_IN_POLISH:
            untranslated.append(singular)
    assert untranslated == []


def test_polish_catalogue_keeps_placeholders_and_diacritics() -> None:
    from babel.messages.pofile import read_po

    path = TRANSLATIONS_DIR / "pl" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="pl")
    text = ""
    for message in catalog:
        if not message.id:
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        targets = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = sorted(set(re.findall(r"%\(\w+\)s", sources[-1])))
        for target in targets:
            assert target, message.id
            assert sorted(set(re.findall(r"%\(\w+\)s", target))) == wanted, message.id
            text += target
    assert set("ąćęłńóśźż") <= set(text.lower())


@given(
    value=st.floats(min_value=-1e13, max_value=1e13, allow_nan=False),
    decimals=st.integers(min_value=0, max_value=2),
    code=st.sampled_from(sorted(LANGUAGES)),
    currency=st.sampled_from(["PLN", "EUR", "USD"]),
)
@settings(max_examples=300, deadline=None)
def test_fast_number_formatting_equals_babel(value: float, decimals: int, code: str, currency: str) -> None:
    """Lang.money / Lang.number take a fast path; it must give exactly what Babel's CLDR patterns give."""
    lang = Lang(code, load_catalogues()[code], currency)
    exact = Decimal(str(value))
    if exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN).is_zero():
        exact = abs(exact)  # Babel writes "-0"; the app writes "0"
    money = copy.copy(lang.locale.currency_formats["standard"])
    money.frac_prec = (decimals, decimals)
    number = copy.copy(lang.locale.decimal_formats[None])
    number.frac_prec = (decimals, decimals)
    assert lang.money(value, decimals) == money.apply(exact, lang.locale, currency=currency, currency_digits=False)
    assert lang.number(value, decimals) == number.apply(exact, lang.locale)


def test_user_guide_documents_every_page_with_its_screenshot(world: World) -> None:
    guide = (ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## (.+)$", guide, re.M)
    for item in world.app.state.nav:
        assert item.label in sections, f"docs/user-guide.md has no section for the {item.label!r} page"
    for image in re.findall(r"\]\((screenshots/[^)]+\.png)\)", guide):
        assert (ROOT / "docs" / image).is_file(), image
