"""Derivations, stubs, matching, warnings and re-imports: the rules of docs/data-contract.md, on small data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from salesfolio.ingest import run_import
from salesfolio.warehouse import Warehouse


@pytest.fixture
def wh() -> Warehouse:
    warehouse = Warehouse.connect("duckdb://")
    yield warehouse
    warehouse.close()


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def rows(wh: Warehouse, table: str, *columns: str) -> list[tuple[object, ...]]:
    return sorted(tuple(r[c] for c in columns) for r in wh.to_arrow(table).to_pylist())


def test_revenue_cost_and_line_numbers(wh: Warehouse, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "orders.csv",
        "Order ID,Order Date,Customer ID,Customer Name,Segment,Product ID,Product Name,Category,Sub-Category,"
        "Quantity,Unit Price,Profit\n"
        "O1,1/13/2024,C1,Acme,Corporate,P1,Chair,Furniture,Chairs,2,50,30\n"
        "O2,1/14/2024,C2,Beta,Consumer,P2,Paper,Office,Paper,10,1.5,-2\n"
        "O1,1/13/2024,C1,Acme Ltd,Corporate,P2,Paper,Office,Paper,4,1.5,1\n"
        "O1,1/13/2024,C1,Acme,Corporate,P1,Chair,Furniture,Chairs,2,50,30\n",
    )
    report = run_import(wh, path)
    assert report.ok, report.render_text()
    assert report.files[0].derived == [
        "revenue = quantity x unit price",
        "cost = revenue - profit",
        "line_no numbered per invoice in file order",
        'product category = "category / sub-category"',
    ]
    # line numbers follow the file order within each invoice, also when the invoice's lines are not together;
    # revenue = 2 x 50, 10 x 1.5, 4 x 1.5; cost = revenue - profit
    assert rows(wh, "invoice_lines", "invoice_id", "line_no", "product_id", "revenue", "cost") == [
        ("O1", 1, "P1", 100.0, 70.0),
        ("O1", 2, "P2", 6.0, 5.0),
        ("O1", 3, "P1", 100.0, 70.0),
        ("O2", 1, "P2", 15.0, 17.0),
    ]
    # C1 is "Acme" on 2 lines and "Acme Ltd" on 1
    assert rows(wh, "clients", "client_id", "name", "industry") == [
        ("C1", "Acme", "Corporate"),
        ("C2", "Beta", "Consumer"),
    ]
    assert rows(wh, "products", "product_id", "name", "category") == [
        ("P1", "Chair", "Furniture / Chairs"),
        ("P2", "Paper", "Office / Paper"),
    ]
    assert "1 lines repeat another line of the same invoice exactly; kept, each with its own line number" in (
        report.files[0].warnings
    )


def test_cost_from_unit_cost_and_ids_from_names(wh: Warehouse, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "faktury.csv",
        "Nr faktury;Data;Nazwa kontrahenta;Nazwa towaru;Ilość;Cena netto;Cena zakupu\n"
        "F1;2024-03-01;Hurtownia Żabka;Śruba M8;100;0,50;0,30\n",
    )
    report = run_import(wh, path)
    assert report.ok, report.render_text()
    assert report.files[0].derived[:4] == [
        "client_id = client name (the file has no client ID)",
        "product_id = product name (the file has no product ID)",
        "revenue = quantity x unit price",
        "cost = quantity x unit cost",
    ]
    line = wh.to_arrow("invoice_lines").to_pylist()[0]
    assert (line["client_id"], line["product_id"], line["revenue"], line["cost"]) == (
        "Hurtownia Żabka",
        "Śruba M8",
        50.0,
        30.0,
    )


def test_stubs_never_overwrite_richer_master_data(wh: Warehouse, tmp_path: Path) -> None:
    clients = write(tmp_path, "clients.csv", "client_id,name,industry,country,owner_id\nC1,Acme S.A.,Steel,Polska,R1\n")
    reps = write(tmp_path, "reps.csv", "rep_id,name,capacity_hours\nR1,Anna Nowak,400\n")
    assert run_import(wh, [clients, reps]).ok
    lines = write(
        tmp_path,
        "sales.csv",
        "invoice_id,date,client_id,client name,country,salesperson,revenue\n"
        "F1,2024-01-02,C1,ACME,Germany,R1,10\nF2,2024-01-03,C9,Nowy Klient,Polska,R7,20\n",
    )
    report = run_import(wh, lines)
    assert report.ok, report.render_text()
    assert report.created == {"clients": 1, "reps": 1}
    assert rows(wh, "clients", "client_id", "name", "industry", "country", "owner_id") == [
        ("C1", "Acme S.A.", "Steel", "Polska", "R1"),
        ("C9", "Nowy Klient", None, "Polska", None),
    ]
    assert rows(wh, "reps", "rep_id", "name", "capacity_hours") == [("R1", "Anna Nowak", 400.0), ("R7", "R7", None)]
    assert report.files[0].warnings == [
        "1 clients created from this import's invoice lines (IDs not in the warehouse nor in the import)",
        "1 reps created from this import's invoice_lines.rep_id (IDs not in the warehouse nor in the import)",
    ]


def test_products_matched_ignoring_spaces_and_case(wh: Warehouse, tmp_path: Path) -> None:
    wh.replace("products", pa.table({"product_id": ["GTX Pro", "MG Special"], "name": ["GTX Pro", "MG Special"]}))
    wh.replace("clients", pa.table({"client_id": ["Acme"], "name": ["Acme"]}))
    path = write(
        tmp_path,
        "pipeline.csv",
        "opportunity_id,account,product,deal_stage,close_value\n"
        "O1,Acme,GTXPro,Won,100\nO2,Acme,gtx pro,Lost,\nO3,,mg special,Engaging,\nO4,,GTK 500,Prospecting,\n",
    )
    report = run_import(wh, path)
    assert report.ok, report.render_text()
    assert rows(wh, "opportunities", "opportunity_id", "product_id") == [
        ("O1", "GTX Pro"),
        ("O2", "GTX Pro"),
        ("O3", "MG Special"),
        ("O4", "GTK 500"),
    ]
    assert report.files[0].warnings == [
        'product "GTXPro" read as "GTX Pro" (1 rows): the IDs differ only by spaces or case',
        'product "gtx pro" read as "GTX Pro" (1 rows): the IDs differ only by spaces or case',
        'product "mg special" read as "MG Special" (1 rows): the IDs differ only by spaces or case',
        "1 products created from this import's opportunities (IDs not in the warehouse nor in the import)",
    ]


def test_opportunity_stages_probabilities_and_close_dates(wh: Warehouse, tmp_path: Path) -> None:
    wh.replace("clients", pa.table({"client_id": ["A1"], "name": ["Acme"]}))
    path = write(
        tmp_path,
        "opportunities.csv",
        "Opportunity ID,Account ID,Stage,Amount,Probability (%),Close Date,Won,Closed\n"
        "O1,A1,Closed Won,100,100,2024-03-01,true,true\n"
        "O2,A1,Closed Lost,50,0,2024-03-02,false,true\n"
        "O3,A1,Negotiation/Review,80,,2024-09-30,false,false\n"
        "O4,,Prospecting,10,10,2024-12-31,false,false\n"
        "O5,,Zielone światło,10,,2025-01-31,false,false\n",
    )
    report = run_import(wh, path, mapping={"defaults": {"stage_probabilities": {"Negotiation/Review": 0.85}}})
    assert report.ok, report.render_text()
    assert report.files[0].derived == [
        "won only on closed deals (the Closed column)",
        "missing probability from the stage",
        "closed = close date of closed deals",
        "expected_close = close date of open deals",
        "probability given in percent: divided by 100",
    ]
    assert rows(wh, "opportunities", "opportunity_id", "won", "probability", "closed", "expected_close") == [
        ("O1", True, 1.0, dt.date(2024, 3, 1), None),
        ("O2", False, 0.0, dt.date(2024, 3, 2), None),
        ("O3", None, 0.85, None, dt.date(2024, 9, 30)),
        ("O4", None, 0.1, None, dt.date(2024, 12, 31)),
        ("O5", None, None, None, dt.date(2025, 1, 31)),
    ]
    assert report.files[0].warnings == [
        '1 open deals are in stages without a default probability ("Zielone światło"); set stage_probabilities '
        "in a mapping file"
    ]


def test_closed_deal_without_client_is_a_warning(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "deals.csv", "deal id,deal stage,amount\nD1,closedwon,5\nD2,appointmentscheduled,7\n")
    report = run_import(wh, path)
    assert report.ok, report.render_text()
    assert rows(wh, "opportunities", "opportunity_id", "won", "probability") == [("D1", True, 1.0), ("D2", None, 0.2)]
    assert report.files[0].warnings == ["1 closed deals have no client; kept"]


def test_size_class_parent_and_manager_stubs(wh: Warehouse, tmp_path: Path) -> None:
    folder = tmp_path / "crm"
    folder.mkdir()
    write(folder, "accounts.csv", "account,employees,subsidiary_of\nA,9,\nB,49,A\nC,250,Holding X\nD,,\n")
    write(folder, "sales_teams.csv", "sales_agent,manager,regional_office\nR1,M1,East\nR2,M1,East\nR3,M1,West\n")
    report = run_import(wh, folder)
    assert report.ok, report.render_text()
    assert rows(wh, "clients", "client_id", "size_class", "parent_id") == [
        ("A", "micro", None),
        ("B", "small", "A"),
        ("C", "large", "Holding X"),
        ("D", None, None),
    ]
    assert report.file("accounts.csv").warnings == [
        '1 clients name a parent that is not a known client ("Holding X"); kept'
    ]
    assert rows(wh, "reps", "rep_id", "team", "manager_id") == [
        ("M1", "East", None),
        ("R1", "East", "M1"),
        ("R2", "East", "M1"),
        ("R3", "West", "M1"),
    ]


def test_missing_clients_returns_and_hostile_text(wh: Warehouse, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sales.csv",
        "invoice_id,date,client_id,product_id,description,quantity,revenue\n"
        "F1,2024-01-02,C1,P1,=cmd|' /C calc'!A0,1,10\n"
        "F2,2024-01-02,,P1,cash,1,10\n"
        "F3,2024-01-03,C1,P2,<script>alert(1)</script>,-1,-5\n"
        ",,,,,,\n",
    )
    report = run_import(wh, path)
    assert report.ok, report.render_text()
    file = report.files[0]
    assert (file.rows_read, file.rows_loaded) == (4, 2)
    assert file.rows_skipped == {"empty row": 1, "no client (retail or cash sale)": 1}
    assert file.warnings[:4] == [
        "1 empty rows skipped",
        "1 lines (33.3 %) have no client and were skipped (retail or cash sales); set on_missing_client = "
        '"error" in a mapping file to stop instead',
        "1 lines (50.0 %) have a negative quantity or revenue: returns and credit notes, kept",
        "1 text cells start like a spreadsheet formula (e.g. \"=cmd|' /C calc'!A0\"); stored as plain text, never "
        "evaluated",
    ]
    assert rows(wh, "products", "product_id", "name") == [
        ("P1", "=cmd|' /C calc'!A0"),
        ("P2", "<script>alert(1)</script>"),
    ]


def test_reimport_is_idempotent_and_replaces_whole_invoices(wh: Warehouse, tmp_path: Path) -> None:
    folder = tmp_path / "erp"
    folder.mkdir()
    write(folder, "clients.csv", "client_id,name\nC1,Acme\nC2,Beta\n")
    write(
        folder,
        "sales.csv",
        "invoice_id,date,client_id,revenue\nF1,2024-01-02,C1,10\nF1,2024-01-02,C1,5\n"
        "F2,2024-01-03,C2,7\nF3,2024-01-04,C3,1\n",
    )

    def state() -> dict[str, object]:
        lines = wh.to_arrow("invoice_lines")
        return {name: wh.row_count(name) for name in wh.loaded_tables()} | {
            "revenue": sum(lines.column("revenue").to_pylist())
        }

    first = run_import(wh, folder)
    assert first.ok and first.created == {"clients": 1}
    after_first = state()
    assert after_first == {"clients": 3, "invoice_lines": 4, "revenue": 23.0}
    second = run_import(wh, folder)
    assert second.ok and second.created == {}
    assert state() == after_first
    # a corrected export of F1 with one line: the invoice's old lines go, the new one stays
    fix = write(tmp_path, "fix.csv", "invoice_id,date,client_id,revenue\nF1,2024-01-02,C1,12\n")
    assert run_import(wh, fix).ok
    assert rows(wh, "invoice_lines", "invoice_id", "line_no", "revenue") == [
        ("F1", 1, 12.0),
        ("F2", 1, 7.0),
        ("F3", 1, 1.0),
    ]


def test_ambiguous_dates_follow_the_decimal_comma(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "faktury.csv", "Numer faktury;Data faktury;NIP;Wartość netto\nF1;02/03/2024;1;2,50\n")
    report = run_import(wh, path)
    assert report.ok, report.render_text()
    assert report.files[0].date_formats == {
        "Data faktury": "day/month/year (no day above 12 seen; the file uses a decimal comma)"
    }
    assert rows(wh, "invoice_lines", "date") == [(dt.date(2024, 3, 2),)]


def test_account_owners_become_reps(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "accounts.csv", "Account ID,Account Name,Account Owner\nA1,Acme,Anna Nowak\nA2,Beta,\n")
    report = run_import(wh, path)
    assert report.ok, report.render_text()
    assert report.created == {"reps": 1}
    assert rows(wh, "reps", "rep_id", "name") == [("Anna Nowak", "Anna Nowak")]
    assert rows(wh, "clients", "client_id", "name", "owner_id") == [("A1", "Acme", "Anna Nowak"), ("A2", "Beta", None)]
