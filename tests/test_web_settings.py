"""The Settings page through HTTP: admins only, the live preview against the analytics, validation, saving."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import select

from salesfolio.analytics import segments as seg
from salesfolio.analytics.config import AnalysisConfig
from salesfolio.analytics.features import category_revenue_expr, client_features
from salesfolio.analytics.scoring import portfolio_axes, score_clients
from salesfolio.analytics.signals import early_warnings
from salesfolio.analytics.whitespace import whitespace
from salesfolio.config import CONFIG_FILE
from salesfolio.contract import TABLES
from salesfolio.services.settings import (
    SettingsError,
    config_from_form,
    config_to_form,
    file_version,
    save_analysis_config,
)
from salesfolio.store.models import AuditEntry
from salesfolio.web.routes.settings import preview_cache
from salesfolio.workspace import Workspace
from web_fixtures import AS_OF, World, build_world, cheap_passwords, csrf_of, module_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from module_world(tmp_path_factory)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[World]:
    with cheap_passwords():
        built = build_world(tmp_path)
        yield built
        built.workspace.close()


def edited_form(world: World) -> dict[str, str]:
    """Only current value (3), margin (1), relationship (4) and cost to serve (2) count; ABC at 50 / 90 %."""
    form = config_to_form(world.workspace.config.analysis)
    for key in [k for k in form if k.endswith(".enabled")]:
        del form[key]
    for cid, weight in {"current_value": "3", "margin": "1", "relationship": "4", "cost_to_serve": "2"}.items():
        form[f"criteria.{cid}.enabled"] = "on"
        form[f"criteria.{cid}.weight"] = weight
    form["abc.a"], form["abc.b"] = "50", "90"
    form["matrix.split"], form["matrix.value_split"] = "absolute", "40"
    return form


def post_preview(http, form: dict[str, str]):
    return http.post("/settings/preview", data=form, headers={"X-CSRF-Token": csrf_of(http), "HX-Request": "true"})


def cell(html: str, **attrs: str) -> str:
    selector = "".join(f'[^>]*data-{k}="{v}"' for k, v in attrs.items())
    match = re.search(rf"<(?:td|tr){selector}[^>]*>(.*?)</(?:td|tr)>", html, re.S)
    assert match is not None, attrs
    return match.group(1)


@pytest.mark.parametrize("username", ["board", "maria", "anna"])
def test_non_admins_get_403(world: World, username: str) -> None:
    http = world.login(username)
    token = csrf_of(http)
    assert http.get("/settings").status_code == 403
    assert http.post("/settings/preview", data={}, headers={"X-CSRF-Token": token}).status_code == 403
    assert http.post("/settings", data={"csrf_token": token}).status_code == 403
    assert 'href="/settings"' not in http.get("/").text


def test_page_shows_every_criterion_with_its_saved_values(world: World) -> None:
    http = world.login("admin")
    page = http.get("/settings").text
    for label in ("Current value", "Margin", "Growth potential", "Churn risk", "Strategic fit"):
        assert f">{label}</label>" in page
    assert "Net revenue of the last 12 months: what the client brings in today." in page
    assert 'name="criteria.current_value.weight" id="f-error-criteria-current-value-weight" value="25"' in page
    assert 'name="criteria.current_value.enabled"' in page and 'name="abc.a" value="80"' in page
    assert f'name="version" value="{file_version((world.workspace.path / CONFIG_FILE).read_text())}"' in page
    assert 'hx-trigger="load, input delay:500ms from:#settings-form, change delay:500ms from:#settings-form"' in page
    http.post("/language", data={"language": "pl", "csrf_token": csrf_of(http), "next": "/"})
    polish = http.get("/settings").text
    http.post("/language", data={"language": "en", "csrf_token": csrf_of(http), "next": "/"})
    assert ">Obecna wartość</label>" in polish and ">Ustawienia</h1>" in polish


def direct_outcome(world: World, config: AnalysisConfig) -> tuple[pd.Series, dict[str, float], list[str]]:
    """Segments, weights used and warnings from the analytics functions called directly (as analyse_portfolio)."""
    saved = world.workspace.config.analysis
    with world.workspace.warehouse(read_only=True) as wh:
        tables = {name: wh.table(name) for name in TABLES}
        features = client_features(tables, AS_OF).frame
        category = category_revenue_expr(
            tables["invoice_lines"], tables["products"], AS_OF - pd.Timedelta(days=365), AS_OF
        ).execute()
    extra = {
        "n_signals": early_warnings(features, saved).n_signals,
        "whitespace_value": whitespace(category, features, saved).whitespace_value,
        "churn_probability": pd.Series(0.1, index=pd.Index(features["client_id"])),  # the snapshot's values
    }
    scores = score_clients(features, config, extra)
    axes = portfolio_axes(scores, config).set_index("client_id")
    matrix = seg.value_potential_matrix(axes["value_score"], axes["potential_score"], config.matrix)
    return matrix.frame.set_index("client_id")["segment"].astype(str), scores.weights_used, scores.warnings


def test_preview_equals_the_analytics_functions(world: World) -> None:
    http = world.login("admin")
    form = edited_form(world)
    response = post_preview(http, form)
    assert response.status_code == 200
    html = response.text
    edited, problems = config_from_form(form, world.workspace.config.analysis)
    assert edited is not None and problems == []
    after, weights_used, warnings = direct_outcome(world, edited)
    before, _, _ = direct_outcome(world, world.workspace.config.analysis)
    # weights by hand: 3 + 1 + 4 + 2 = 10 entered; cost to serve has no data (no cost_to_serve table) -> 3 + 1 + 4
    assert weights_used == {"current_value": 37.5, "margin": 12.5, "relationship": 50.0}
    row = cell(html, criterion="cost_to_serve")
    assert "dropped" in row
    assert re.findall(r'<td class="text-end[^"]*">([^<]*)</td>', cell_row(html, "current_value")) == [
        "3.0",
        "30.0%",
        "37.5%",
        "100%",  # every client has a revenue (0 without invoices)
    ]
    assert re.findall(r'<td class="text-end[^"]*">([^<]*)</td>', cell_row(html, "relationship"))[1:] == [
        "40.0%",
        "50.0%",
        "14%",  # one assessment (C001's) of 7 clients
    ]
    assert warnings[0] in html  # the dropped criterion's warning, as the scoring words it
    assert "cost_to_serve dropped: no client has cost-to-serve data" in warnings[0]
    # the migration table counts what the direct calls give
    expected = pd.crosstab(before.to_numpy(), after.reindex(before.index).to_numpy())
    for b in expected.index:
        for a in expected.columns:
            assert cell(html, **{"from": b, "to": a}) == str(int(expected.at[b, a])), (b, a)
    changed = int((before != after.reindex(before.index)).sum())
    assert f"{changed} client" in cell_text(html, "preview-changed")
    # ABC at 50 / 90 %: C001 (3,500 of 4,277 revenue) alone makes the first 50 % -> A; C101 (777) -> B
    abc = seg.abc_classes(pd.Series({"C001": 3500.0, "C101": 777.0}), 0.5, 0.9).set_index("client_id")["abc_class"]
    assert abc.to_dict() == {"C001": "A", "C101": "B"}
    rows = {
        c: after
        for c, _before, after in re.findall(
            r'<tr data-class="(\w+)"><td>\w+</td><td[^>]*>(\d+)</td><td[^>]*>(\d+)</td></tr>', html
        )
    }
    assert rows["A"] == "1" and rows["B"] == "1"


def cell_row(html: str, criterion: str) -> str:
    match = re.search(rf'<tr[^>]*data-criterion="{criterion}">(.*?)</tr>', html, re.S)
    assert match is not None
    return match.group(1)


def cell_text(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}">(.*?)<', html, re.S)
    assert match is not None
    return match.group(1)


def test_preview_inputs_are_cached_until_the_warehouse_changes(fresh: World) -> None:
    http = fresh.login("admin")
    form = config_to_form(fresh.workspace.config.analysis)
    assert post_preview(http, form).status_code == 200
    cache = preview_cache(fresh.app)
    first = cache._inputs
    assert first is not None and first.as_of == AS_OF and len(first.features) == 7
    post_preview(http, edited_form(fresh))
    assert cache._inputs is first  # only scoring and segments ran again
    with fresh.workspace.warehouse() as wh:
        wh.upsert("clients", pa.table({"client_id": ["C900"], "name": ["Late Arrival"]}))
    post_preview(http, form)
    assert cache._inputs is not first and len(cache._inputs.features) == 8


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"criteria.margin.weight": "-5"}, "criteria-margin-weight", "The weight cannot be negative."),
        ({"criteria.margin.weight": "lots"}, "criteria-margin-weight", "Enter a number."),
        ({"criteria.margin.weight": "1001"}, "criteria-margin-weight", "The weight can be at most 1000."),
        ({"abc.a": "96", "abc.b": "95"}, "abc-a", "The A limit (96) must not be above the B limit (95)."),
        ({"abc.b": "0"}, "abc-b", "Enter a number from 0 to 100."),
        ({"matrix.value_split": "101"}, "matrix-value-split", "Enter a number from 0 to 100."),
        ({"score_bands.poor": "70"}, "score-bands-poor", "The poor limit (70) must not be above the good limit (67)."),
        (
            {"criteria.growth.direction": "sideways"},
            "criteria-growth-direction",
            "Choose one of the options in the list.",
        ),
    ],
)
def test_preview_shows_problems_next_to_the_fields(world: World, changes, field: str, message: str) -> None:
    http = world.login("admin")
    form = {**config_to_form(world.workspace.config.analysis), **changes}
    html = post_preview(http, form).text
    assert f'id="error-{field}" hx-swap-oob="true">{message}</div>' in html
    assert 'id="error-criteria-current-value-weight" hx-swap-oob="true"></div>' in html  # others cleared
    assert "Correct the marked fields to see the preview." in html


def test_all_criteria_disabled_is_refused_in_polish(world: World) -> None:
    http = world.login("admin")
    form = {k: v for k, v in config_to_form(world.workspace.config.analysis).items() if not k.endswith(".enabled")}
    assert "Enable at least one criterion with a weight above 0." in post_preview(http, form).text
    form["criteria.margin.enabled"], form["criteria.margin.weight"] = "on", "0"
    assert "Enable at least one criterion with a weight above 0." in post_preview(http, form).text
    http.post("/language", data={"language": "pl", "csrf_token": csrf_of(http), "next": "/"})
    polish = post_preview(http, form).text
    http.post("/language", data={"language": "en", "csrf_token": csrf_of(http), "next": "/"})
    assert 'id="error-all" hx-swap-oob="true">Włącz co najmniej jedno kryterium z wagą większą od 0.</div>' in polish


def test_saving_round_trips_through_tomllib_and_keeps_the_rest(fresh: World) -> None:
    ws = fresh.workspace
    path = ws.path / CONFIG_FILE
    old_text = path.read_text(encoding="utf-8")
    http = fresh.login("admin")
    form = edited_form(fresh)
    response = http.post("/settings", data={**form, "version": file_version(old_text), "csrf_token": csrf_of(http)})
    assert response.status_code == 303 and response.headers["location"] == "/settings"
    expected, _ = config_from_form(form, AnalysisConfig())
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert AnalysisConfig.model_validate(data["analysis"]) == expected
    assert {k: v for k, v in data.items() if k != "analysis"} == {
        k: v for k, v in tomllib.loads(old_text).items() if k != "analysis"
    }
    new_text = path.read_text(encoding="utf-8")
    assert new_text.split("[analysis]")[0] == old_text.split("[analysis]")[0]  # other sections byte for byte
    assert (ws.path / "salesfolio.toml.bak").read_text(encoding="utf-8") == old_text
    assert ws.config.analysis == expected  # reloaded
    assert (
        ws.config.analysis.criteria["relationship"].weight == 4.0 and not ws.config.analysis.criteria["growth"].enabled
    )
    page = http.get("/settings").text
    assert "Settings saved. They take effect at the next analysis run." in page
    assert 'id="settings-run-analysis"' in page
    assert 'name="criteria.relationship.weight" id="f-error-criteria-relationship-weight" value="4"' in page
    with ws.sessions() as db:
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "settings.analysis")).one()
    assert entry.username == "admin"
    assert entry.detail["old_weights"]["relationship"] == 10.0 and entry.detail["new_weights"]["relationship"] == 4.0
    assert entry.detail["new_weights"]["growth"] == 0.0
    assert entry.detail["changes"]["abc"] == {"old": {"a": 0.8, "b": 0.95}, "new": {"a": 0.5, "b": 0.9}}
    # saving the same values again changes nothing
    again = http.post("/settings", data={**form, "version": file_version(new_text), "csrf_token": csrf_of(http)})
    assert again.status_code == 303
    assert "Nothing changed: the settings are as saved." in http.get("/settings").text
    assert path.read_text(encoding="utf-8") == new_text


def test_invalid_or_stale_edit_leaves_the_file_untouched(fresh: World) -> None:
    path = fresh.workspace.path / CONFIG_FILE
    before = path.read_bytes()
    http = fresh.login("admin")
    form = {**config_to_form(fresh.workspace.config.analysis), "criteria.margin.weight": "-1"}
    bad = http.post("/settings", data={**form, "version": file_version(before.decode()), "csrf_token": csrf_of(http)})
    assert bad.status_code == 400
    assert 'id="error-criteria-margin-weight">The weight cannot be negative.</div>' in bad.text
    assert 'name="criteria.margin.weight" id="f-error-criteria-margin-weight" value="-1"' in bad.text  # kept
    stale = http.post("/settings", data={**edited_form(fresh), "version": "0" * 16, "csrf_token": csrf_of(http)})
    assert stale.status_code == 409
    assert (
        "salesfolio.toml was changed since this page was opened; reload the page and make the change again."
        in stale.text
    )
    assert path.read_bytes() == before
    assert not (fresh.workspace.path / "salesfolio.toml.bak").exists()


def test_save_keeps_hand_edited_sections_and_comments(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    path = ws.path / CONFIG_FILE
    text = (
        '# our notes\n[workspace]\nname = "ACME"\ncurrency = "EUR"\nfiscal_year_start = 4\n\n'
        "[analysis.criteria.margin]  # tuned in the 2024 workshop\nweight = 30.0\n\n"
        '[warehouse]\n# moved to the server\nurl = "duckdb:///data/wh.duckdb"\n\n'
        "[store]\nurl = 'sqlite:///salesfolio.sqlite'\n\n[analysis]\nmissing_policy = \"neutral\"\n"
    )
    path.write_text(text, encoding="utf-8")
    ws = Workspace.open(ws.path)
    assert ws.config.analysis.criteria["margin"].weight == 30.0
    config = ws.config.analysis.model_copy(deep=True)
    config.criteria["margin"].weight = 12.0
    saved = save_analysis_config(ws, config, username="ada", expected_version=file_version(text))
    assert saved.changed and saved.old_weights["margin"] == 30.0 and saved.new_weights["margin"] == 12.0
    new = path.read_text(encoding="utf-8")
    assert new.startswith('# our notes\n[workspace]\nname = "ACME"')
    assert '# moved to the server\nurl = "duckdb:///data/wh.duckdb"' in new
    assert "[store]\nurl = 'sqlite:///salesfolio.sqlite'" in new
    assert "tuned in the 2024 workshop" not in new  # the old analysis tables were replaced
    data = tomllib.loads(new)
    assert data["workspace"]["fiscal_year_start"] == 4 and data["store"]["url"] == "sqlite:///salesfolio.sqlite"
    assert AnalysisConfig.model_validate(data["analysis"]) == config
    assert ws.config.analysis.missing_policy == "neutral" and ws.config.analysis.criteria["margin"].weight == 12.0
    with pytest.raises(SettingsError, match=r"^salesfolio\.toml was changed since this page was opened"):
        save_analysis_config(ws, AnalysisConfig(), expected_version=file_version(text))
    assert path.read_text(encoding="utf-8") == new
    ws.close()


def test_preview_without_data_says_so(tmp_path: Path) -> None:
    from salesfolio.services.users import create_user
    from salesfolio.web.app import create_app
    from web_fixtures import PASSWORD

    ws = Workspace.init(tmp_path / "empty")
    with cheap_passwords():
        with ws.sessions.begin() as db:
            create_user(db, username="ada", password=PASSWORD, role="admin")
        world = World(ws, create_app(ws), 0, 0)
        http = world.login("ada")
        html = post_preview(http, config_to_form(ws.config.analysis)).text
        assert "There is no data to preview yet: import clients or invoice lines first." in html
    ws.close()
