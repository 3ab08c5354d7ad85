"""The data-quality report on a small hand-built warehouse (DuckDB and SQLite) and on the demo company."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pyarrow as pa
import pytest
from rich.console import Console

from salesfolio import demo
from salesfolio.quality import CHECKS, assess, derived_owners
from salesfolio.reports.quality import QualityReport, rich_table
from salesfolio.warehouse import Warehouse

AS_OF = dt.date(2024, 12, 31)
HOSTILE = "<script>alert('x')</script> & Co"
D = dt.date


def _lines(*rows: tuple[str, int, str, dt.date, str | None, float, float, float | None, str]) -> pa.Table:
    keys = ("invoice_id", "line_no", "client_id", "date", "product_id", "quantity", "revenue", "cost", "rep_id")
    return pa.table({k: [r[i] for r in rows] for i, k in enumerate(keys)})


def build(wh: Warehouse) -> None:
    """A company small enough to count every finding by hand (see the expectations below)."""
    wh.replace("reps", pa.table({"rep_id": ["R1", "R2", "R3"], "name": ["Anna", "Piotr", "Idle"],
                                 "team": ["Północ", "Północ", "Eksport"]}))  # fmt: skip
    wh.replace(
        "clients",
        pa.table(
            {
                "client_id": ["C1", "C2", "C3", "C4", "C5", "C6"],
                "name": ["Alfa", "Beta", "Gamma", "Delta", "Epsilon", HOSTILE],
                "owner_id": ["R1", None, "  ", "R9", "R1", "R2"],
                "status": ["active", "active", "active", "active", "prospect", "active"],
            }
        ),
    )
    wh.replace("products", pa.table({"product_id": ["P1", "P2", "P3"], "name": ["Bolt", "Nut", "Gear"],
                                     "category": ["Fasteners", None, "  "]}))  # fmt: skip
    wh.replace(
        "invoice_lines",
        _lines(
            ("I1", 1, "C1", D(2024, 11, 5), "P1", 2, 100.0, 60.0, "R1"),
            ("I1", 2, "C1", D(2024, 11, 5), "P1", 2, 100.0, 60.0, "R1"),  # a duplicate of line 1
            ("I1", 3, "C1", D(2024, 11, 5), "P2", 1, 50.0, None, "R1"),  # no cost
            ("I2", 1, "C2", D(2024, 10, 10), "P1", 6, 300.0, 200.0, "R2"),
            ("I2", 2, "C2", D(2024, 10, 10), None, 1, 20.0, None, "R2"),  # freight: no product, no cost
            ("I3", 1, "C2", D(2024, 9, 1), "P9", 1, 40.0, 10.0, "R1"),  # unknown product
            ("I4", 1, "X1", D(2024, 6, 1), "P1", 1, 70.0, 30.0, "R1"),  # a client missing from clients
            ("I5", 1, "C6", D(2023, 6, 15), "P1", 1, 80.0, 50.0, "R2"),  # inactive for over a year
            ("I6", 1, "C1", D(2025, 2, 1), "P1", 1, 10.0, 5.0, "R1"),  # after as_of
            ("K1", 1, "C1", D(2024, 11, 20), "P1", -1, -50.0, -30.0, "R1"),  # a return
        ),
    )
    wh.replace("cost_to_serve", pa.table({"client_id": ["C1", "C2"], "period": [D(2024, 10, 1), D(2023, 1, 1)],
                                          "kind": ["logistics", "logistics"], "amount": [15.0, 5.0]}))  # fmt: skip
    wh.replace(
        "opportunities",
        pa.table(
            {
                "opportunity_id": ["O1", "O2", "O3", "O4"],
                "client_id": ["C1", None, "ZZ", "C2"],
                "stage": ["Proposal", "Proposal", "Won", "Lost"],
                "value": [1000.0, 500.0, None, None],
            }
        ),
    )
    wh.replace(
        "assessments",
        pa.table(
            {
                "client_id": ["C1", "C2", "C2", "C6"],
                "period": [D(2024, 1, 1), D(2023, 1, 1), D(2024, 1, 1), D(2025, 1, 1)],
                "potential": [5000.0, 1000.0, None, 9000.0],
            }
        ),
    )


@pytest.fixture(params=["duckdb", "sqlite"])
def wh(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    warehouse = Warehouse.connect(f"{request.param}://")
    build(warehouse)
    yield warehouse
    warehouse.close()


@pytest.fixture
def report(wh: Warehouse) -> QualityReport:
    return assess(wh, as_of=AS_OF)


EXPECTED = {
    # id: (count, total, severity)
    "date_coverage": (14, 19, "warning"),  # 2023-06 .. 2024-12, lines in 5 of those months
    "future_lines": (1, 10, "warning"),
    "client_stubs": (1, 4, "warning"),  # X1 among C1, C2, C6, X1
    "clients_without_owner": (2, 6, "warning"),  # C2 (derivable: R2), C3 (blank, no lines: unassigned)
    "owners_not_in_reps": (1, 4, "warning"),  # C4 -> R9
    "reps_without_clients": (1, 3, "info"),  # R3; R2 owns C6 and, derived, C2
    "clients_without_lines": (3, 6, "info"),  # C3, C4, C5
    "inactive_clients": (1, 4, "info"),  # C6, last bought 2023-06-15
    "duplicate_lines": (1, 10, "warning"),
    "lines_without_cost": (2, 10, "warning"),  # 70 of 720 revenue: above 5 %
    "lines_without_product": (1, 10, "info"),  # 20 of 720: below 20 %
    "unknown_products": (1, 9, "warning"),
    "products_without_category": (2, 3, "warning"),  # P2 null, P3 blank
    "returns": (1, 10, "info"),  # 50 of 770 gross: below 10 %
    "clients_without_assessment": (4, 6, "warning"),  # C3, C4, C5, C6 (C6's is after as_of)
    "clients_without_potential": (5, 6, "warning"),  # ... and C2, whose latest has none
    "cost_to_serve_coverage": (2, 3, "info"),  # C2 (cost outside TTM), X1; C1 covered
    "opportunities_incomplete": (3, 4, "warning"),
}


def test_every_check_counts_exactly(report: QualityReport) -> None:
    assert [c.id for c in report.checks] == list(EXPECTED)
    assert len(report.checks) == len(CHECKS)
    for check in report.checks:
        count, total, severity = EXPECTED[check.id]
        assert (check.count, check.total, check.severity) == (count, total, severity), check.id
        assert check.share == pytest.approx(count / total)
        assert len(check.examples) <= 10


def test_details_and_examples(report: QualityReport, wh: Warehouse) -> None:
    assert report.backend == wh.backend
    assert report.tables["invoice_lines"] == 10 and report.tables["activities"] == 0
    coverage = report.check("date_coverage")
    assert coverage.details == {"first_date": D(2023, 6, 15), "last_date": D(2025, 2, 1), "months_with_lines": 6,
                                "days_since_last_line": 0}  # fmt: skip
    assert coverage.examples[:3] == [{"month": "2023-07"}, {"month": "2023-08"}, {"month": "2023-09"}]
    owners = report.check("clients_without_owner")
    assert owners.details == {"derived_from_invoice_lines": 1, "unassigned": 1}
    assert owners.examples == [
        {"client_id": "C2", "name": "Beta", "derived_owner": "R2", "revenue_ttm": 360.0},
        {"client_id": "C3", "name": "Gamma", "derived_owner": None, "revenue_ttm": 0.0},
    ]
    assert owners.advice.endswith("(1 of 2 clients); left unassigned, with no such line: 1.")
    assert report.check("lines_without_cost").details["revenue_share"] == pytest.approx(70 / 720)
    assert report.check("lines_without_cost").examples == [
        {"product_id": "P2", "lines": 1, "revenue": 50.0},
        {"product_id": None, "lines": 1, "revenue": 20.0},
    ]
    assert report.check("lines_without_product").details["revenue_share"] == pytest.approx(20 / 720)
    assert report.check("returns").details == {"revenue_share": pytest.approx(50 / 770), "returned_revenue": 50.0}
    assert report.check("duplicate_lines").examples == [
        {"invoice_id": "I1", "product_id": "P1", "quantity": 2.0, "revenue": 100.0, "copies": 2}
    ]
    assert report.check("duplicate_lines").details == {"groups": 1, "surplus_revenue": 100.0}
    assert report.check("unknown_products").examples == [{"product_id": "P9", "lines": 1, "revenue": 40.0}]
    assert report.check("client_stubs").examples == [
        {"client_id": "X1", "lines": 1, "revenue": 70.0, "first_date": D(2024, 6, 1), "last_date": D(2024, 6, 1)}
    ]
    assert report.check("inactive_clients").examples == [
        {"client_id": "C6", "name": HOSTILE, "last_purchase": D(2023, 6, 15), "revenue_total": 80.0}
    ]
    assert report.check("future_lines").details == {"revenue": 10.0, "last_date": D(2025, 2, 1)}
    assert report.check("opportunities_incomplete").details == {"no_client": 1, "unknown_client": 1, "no_value": 2}
    assert [e["issue"] for e in report.check("opportunities_incomplete").examples] == [
        "no client", "client not in list, no value", "no value",
    ]  # fmt: skip
    assert report.check("cost_to_serve_coverage").details["revenue_share_covered"] == pytest.approx(
        200 / (200 + 360 + 70)
    )
    # most revenue in the last 12 months first (C2: 360), then by ID
    assert [e["client_id"] for e in report.check("clients_without_potential").examples] == [
        "C2", "C3", "C4", "C5", "C6",
    ]  # fmt: skip
    assert report.worst == "warning"


def test_derived_owner_is_the_rep_with_most_recent_revenue(wh: Warehouse) -> None:
    owners = derived_owners(wh, as_of=AS_OF).order_by("client_id").to_pyarrow().to_pylist()
    # C2: R2 sold 320 in the last 12 months, R1 40; C6 bought only in 2023 (outside the window)
    assert owners == [{"client_id": "C1", "owner_id": "R1"}, {"client_id": "C2", "owner_id": "R2"},
                      {"client_id": "X1", "owner_id": "R1"}]  # fmt: skip


def test_an_empty_warehouse_is_an_error_with_nothing_to_count() -> None:
    with Warehouse.connect("duckdb://") as wh:
        report = assess(wh, as_of=AS_OF)
    assert report.worst == "error"
    coverage = report.check("date_coverage")
    assert (coverage.severity, coverage.count, coverage.total, coverage.share) == ("error", 0, 0, None)
    assert coverage.advice.startswith("No invoice lines are loaded")
    assert all(c.count == 0 for c in report.checks)
    assert report.check("client_stubs").details == {"lines": 0, "revenue": 0.0}
    assert report.check("duplicate_lines").details == {"groups": 0, "surplus_revenue": 0.0}
    assert all(c.severity == "info" for c in report.checks if c.id != "date_coverage")


def test_cost_to_serve_missing_entirely_is_a_warning() -> None:
    with Warehouse.connect("duckdb://") as wh:
        wh.replace("invoice_lines", _lines(("I1", 1, "C1", D(2024, 5, 1), "P1", 1, 10.0, 5.0, "R1")))
        check = assess(wh, as_of=AS_OF).check("cost_to_serve_coverage")
    assert (check.count, check.total, check.severity) == (1, 1, "warning")
    assert check.advice.startswith("No cost to serve in the last 12 months: net contribution equals gross margin")


def test_unknown_check_names_the_known_ones(report: QualityReport) -> None:
    with pytest.raises(KeyError, match="no quality check 'nope'; the report has: date_coverage, future_lines"):
        report.check("nope")


def test_html_is_self_contained_and_escapes_hostile_names(report: QualityReport) -> None:
    page = report.to_html()
    assert page.startswith("<!DOCTYPE html>")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co" in page
    assert "<script" not in page and "alert('x')" not in page
    assert "http://" not in page and "https://" not in page and "<link" not in page
    assert "<style>" in page
    for check in report.checks:
        assert f'id="{check.id}"' in page


def test_text_dict_and_rich_renderings(report: QualityReport) -> None:
    text = report.render_text()
    assert text.startswith(f"Data quality as of 2024-12-31 ({report.backend})\n")
    assert (
        "\nwarning   Duplicate invoice lines (same invoice, product, quantity and revenue)      1  10  10.0 %\n" in text
    )
    assert "- Reps without clients: Reps who own no client" in text
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["as_of"] == "2024-12-31" and data["worst"] == "warning"
    assert data["checks"][0]["details"]["first_date"] == "2023-06-15"
    table = rich_table(report)
    assert [c.header for c in table.columns] == ["severity", "check", "count", "of", "share", "advice"]
    assert table.row_count == len(EXPECTED)
    console = Console(width=200, record=True)
    console.print(table)
    assert "Clients without owner" in console.export_text()


def test_the_demo_company_shows_its_known_imperfections() -> None:
    with Warehouse.connect("duckdb://") as wh:
        demo.load(wh, demo.generate())
        report = assess(wh, as_of=demo.default_as_of())
    world = demo.world()
    counts = {c.id: (c.count, c.total) for c in report.checks}
    assert counts["clients_without_owner"] == (len(world.planted["owner_missing"]), 400)
    assert report.check("clients_without_owner").details["unassigned"] == 0
    assert report.check("clients_without_owner").severity == "info"
    assert counts["clients_without_lines"] == (len(world.planted["prospects"]), 400)
    assert counts["products_without_category"] == (2, 120)
    assert counts["date_coverage"] == (0, 36)
    for clean in ("future_lines", "client_stubs", "owners_not_in_reps", "reps_without_clients", "duplicate_lines",
                  "unknown_products"):  # fmt: skip
        assert counts[clean][0] == 0, clean
    assert 0.015 <= report.check("returns").share <= 0.025
    assert 0.01 <= report.check("lines_without_cost").share <= 0.06
    inactive = report.check("inactive_clients").count  # the lapsed clients that stopped over a year ago
    assert 15 <= inactive <= len(world.planted["lapsed"]) + len(world.planted["churned"])
    assert 0.05 <= report.check("clients_without_assessment").share <= 0.2
