"""The assessment form on the client page: precise messages, Polish input, saving, replacing, audit."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from salesfolio.store.models import Assessment, AuditEntry
from salesfolio.web.assessments import AssessmentValues, check_values, last_period, parse_form
from salesfolio.web.i18n import Lang, load_catalogues
from web_fixtures import World, csrf_of, module_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from module_world(tmp_path_factory)


TODAY = dt.date(2025, 7, 10)


def lang(code: str) -> Lang:
    return Lang(code, load_catalogues()[code], "PLN")


def messages(form: dict[str, str], code: str = "en") -> dict[str, str]:
    values, problems = parse_form(form, lang(code), TODAY)
    assert values is None
    return {p.field: p.text(lang(code)) for p in problems}


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"period": "", "relationship": "3"}, {"period": "Enter the period as a month, e.g. 2025-03."}),
        ({"period": "2025-13", "relationship": "3"}, {"period": "Enter the period as a month, e.g. 2025-03."}),
        ({"period": "March", "relationship": "3"}, {"period": "Enter the period as a month, e.g. 2025-03."}),
        ({"period": "1999-12", "relationship": "3"}, {"period": "The period must be a month from 2000-01 to 2026-07."}),
        ({"period": "2026-08", "relationship": "3"}, {"period": "The period must be a month from 2000-01 to 2026-07."}),
        ({"period": "2025-03", "potential": "a lot"}, {"potential": "Potential must be an amount, e.g. 250000."}),
        ({"period": "2025-03", "potential": "-5"}, {"potential": "Potential cannot be negative."}),
        ({"period": "2025-03", "potential": "1e16"}, {"potential": "Potential is too large."}),
        (
            {"period": "2025-03", "relationship": "0"},
            {"relationship": "Relationship must be a whole number from 1 to 5."},
        ),
        (
            {"period": "2025-03", "relationship": "4.5"},
            {"relationship": "Relationship must be a whole number from 1 to 5."},
        ),
        (
            {"period": "2025-03", "strategic_fit": "six"},
            {"strategic_fit": "Strategic fit must be a whole number from 1 to 5."},
        ),
        ({"period": "2025-03"}, {"__all__": "Enter at least one of potential, relationship or strategic fit."}),
        (
            {"period": "2025-03", "relationship": "2", "note": "x" * 2001},
            {"note": "The note can have at most 2000 characters."},
        ),
        (
            {"period": "x", "potential": "-1", "relationship": "9", "strategic_fit": "0"},
            {
                "period": "Enter the period as a month, e.g. 2025-03.",
                "potential": "Potential cannot be negative.",
                "relationship": "Relationship must be a whole number from 1 to 5.",
                "strategic_fit": "Strategic fit must be a whole number from 1 to 5.",
            },
        ),
    ],
)
def test_form_messages(form: dict[str, str], expected: dict[str, str]) -> None:
    assert messages(form) == expected


def test_form_messages_in_polish() -> None:
    assert messages({"period": "2025-03", "relationship": "7"}, "pl") == {
        "relationship": "Relacja musi być liczbą całkowitą od 1 do 5."
    }
    assert messages({"period": "1999-01", "potential": "5"}, "pl") == {
        "period": "Okres musi być miesiącem od 2000-01 do 2026-07."
    }


@pytest.mark.parametrize(
    ("code", "typed", "value"),
    [
        ("pl", "1 250 000,50", 1250000.5),
        ("pl", "1\u00a0250\u00a0000", 1250000.0),
        ("pl", "250000", 250000.0),
        ("en", "1,250,000.50", 1250000.5),
        ("en", "250000", 250000.0),
    ],
)
def test_potential_as_people_type_it(code: str, typed: str, value: float) -> None:
    values, problems = parse_form({"period": "2025-03", "potential": typed}, lang(code), TODAY)
    assert problems == [] and values is not None
    assert values.potential == value and values.period == dt.date(2025, 3, 1)


def test_rules_shared_with_the_api() -> None:
    ok = AssessmentValues(dt.date(2025, 3, 1), None, 3, None, "")
    assert check_values(ok, TODAY) == []
    assert last_period(dt.date(2025, 12, 31)) == dt.date(2026, 12, 1)


def test_saving_through_the_page(world: World) -> None:
    http = world.login("anna")
    token = csrf_of(http)
    form = {
        "period": "2025-06",
        "potential": "900 000",
        "relationship": "4",
        "strategic_fit": "5",
        "note": "<b>big</b>",
    }
    http.post("/language", data={"language": "pl", "next": "/", "csrf_token": token})
    response = http.post("/clients/C002/assessments", data={**form, "csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/clients/C002#assessments"
    page = http.get("/clients/C002").text
    assert "Zapisano ocenę za cze 2025." in page
    table = page.split('id="assessments-table"')[1].split("</table>")[0]
    assert "900\u00a0000\u00a0zł" in table and "&lt;b&gt;big&lt;/b&gt;" in table and "<b>big" not in table
    assert "Zapisano ocenę" not in http.get("/clients/C002").text  # the message shows once
    # the same month again replaces the values; the audit keeps the old ones
    again = http.post("/clients/C002/assessments", data={"period": "2025-06", "relationship": "2", "csrf_token": token})
    assert again.status_code == 303
    with world.workspace.sessions() as db:
        rows = db.scalars(select(Assessment).where(Assessment.client_id == "C002")).all()
        assert [(r.period, r.potential, r.relationship, r.strategic_fit) for r in rows] == [
            (dt.date(2025, 6, 1), None, 2, None)
        ]
        audit = db.scalars(select(AuditEntry).where(AuditEntry.object_id == "C002").order_by(AuditEntry.id)).all()
        assert [a.action for a in audit] == ["assessment.add", "assessment.update"]
        assert audit[1].detail["previous"] == {
            "potential": 900000.0,
            "relationship": 4,
            "strategic_fit": 5,
            "note": "<b>big</b>",
        }
    http.post("/language", data={"language": "en", "next": "/", "csrf_token": token})


def test_errors_shown_next_to_the_fields_with_values_kept(world: World) -> None:
    http = world.login("maria")
    token = csrf_of(http)
    response = http.post(
        "/clients/C003/assessments",
        data={"period": "2025-02", "potential": "lots", "relationship": "9", "note": "keep me", "csrf_token": token},
    )
    assert response.status_code == 400
    page = response.text
    assert text_by_id(page, "error-potential") == "Potential must be an amount, e.g. 250000."
    assert text_by_id(page, "error-relationship") == "Relationship must be a whole number from 1 to 5."
    assert 'id="a-potential" name="potential" value="lots"' in page
    assert ">keep me</textarea>" in page
    assert 'value="2025-02"' in page
    with world.workspace.sessions() as db:
        assert db.scalars(select(Assessment).where(Assessment.client_id == "C003")).all() == []


def test_board_cannot_use_the_form(world: World) -> None:
    http = world.login("board")
    response = http.post(
        "/clients/C001/assessments", data={"period": "2025-02", "relationship": "3", "csrf_token": csrf_of(http)}
    )
    assert response.status_code == 403


def text_by_id(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}">([^<]*)<', page)
    assert match, element_id
    return html.unescape(match.group(1))
