"""Mapping files and table detection: what a user tells the importer, and what it works out alone."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import xlsxwriter

from salesfolio.ingest import MappingError, load_mapping, run_import
from salesfolio.ingest.mapping import date_order
from salesfolio.warehouse import Warehouse


@pytest.fixture
def wh() -> Warehouse:
    warehouse = Warehouse.connect("duckdb://")
    yield warehouse
    warehouse.close()


def rows(wh: Warehouse, table: str, *columns: str) -> list[tuple[object, ...]]:
    data = wh.to_arrow(table).to_pylist()
    return sorted(tuple(r[c] for c in columns) for r in data)


def test_the_documented_mapping_example(wh: Warehouse, tmp_path: Path) -> None:
    run_import(wh, write(tmp_path, "klienci.csv", "client_id,name\nK1,Zakład Łódź Żółć\nK2,Beta\n"))
    book = xlsxwriter.Workbook(tmp_path / "deals.xlsx")
    book.add_worksheet("Notatki").write(0, 0, "nie importować")
    sheet = book.add_worksheet("Deals")
    sheet.write(0, 0, "Szanse sprzedaży")
    header = ["Nr", "Klient", "Opiekun", "Etap", "Kwota netto", "Data", "Notatki"]
    data = [
        ["S1", "K1", "Anna Nowak", "Negocjacje", "12 500,50", "03.02.2025", '=HYPERLINK("x")'],
        ["S2", "K2", "Jan Kowalski", "Oferta", "1 000,00", "04.02.2025", ""],
        ["S3", "K1", "Anna Nowak", "Wygrana", "700,00", "05.02.2025", ""],
    ]
    for c, value in enumerate(header):
        sheet.write(2, c, value)
    for r, row in enumerate(data, start=3):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    book.close()
    mapping = write(
        tmp_path,
        "mapping.toml",
        """
[files."deals.xlsx"]
table = "opportunities"
sheet = "Deals"
header_row = 3
date_format = "%d.%m.%Y"
decimal = ","
stage_probabilities = { "Negocjacje" = 0.6 }

[files."deals.xlsx".columns]
"Nr" = "opportunity_id"
"Klient" = "client_id"
"Opiekun" = "owner_id"
"Kwota netto" = "value"
"Data" = "created"
"Notatki" = ""
""",
    )
    report = run_import(wh, tmp_path / "deals.xlsx", mapping=mapping)
    assert report.ok, report.render_text()
    file = report.files[0]
    assert file.mapped_by == {
        "Nr": "mapping",
        "Klient": "mapping",
        "Opiekun": "mapping",
        "Etap": "alias",
        "Kwota netto": "mapping",
        "Data": "mapping",
    }
    assert file.unmapped == []
    # "Data" is day.month.year: 03.02.2025 is 3 February (the mapping's date_format decides; no day above 12)
    assert file.date_formats == {"Data": "day.month.year (no day above 12 seen; date_format in the mapping)"}
    assert rows(
        wh, "opportunities", "opportunity_id", "client_id", "owner_id", "value", "probability", "created", "won"
    ) == [
        ("S1", "K1", "Anna Nowak", 12500.5, 0.6, dt.date(2025, 2, 3), None),
        ("S2", "K2", "Jan Kowalski", 1000.0, 0.5, dt.date(2025, 2, 4), None),  # Oferta: the built-in 0.50
        ("S3", "K1", "Anna Nowak", 700.0, 1.0, dt.date(2025, 2, 5), True),
    ]
    assert report.created == {"reps": 2}


def write(tmp_path: Path, name: str, content: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode(encoding))
    return path


def test_defaults_patterns_and_names_merge_key_by_key(wh: Warehouse, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    write(folder, "a.csv", "kod;nazwa;od\nK1;A;01.02.2024\n")
    write(folder, "b.csv", "kod;nazwa;od\nK2;B;2024-02-03\n")
    mapping = {
        "defaults": {"table": "clients"},
        "files": {
            "*.csv": {"columns": {"kod": "client_id", "nazwa": "name", "od": "since"}, "date_format": "%m.%d.%Y"},
            "a.csv": {"date_format": "%d.%m.%Y"},
        },
    }
    report = run_import(wh, folder, mapping=mapping)
    assert report.ok, report.render_text()
    assert rows(wh, "clients", "client_id", "since") == [("K1", dt.date(2024, 2, 1)), ("K2", dt.date(2024, 2, 3))]


def test_no_header_and_columns_by_position(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "CDNOW_sample.txt", " 00001 00001 19970101  1   11.77\n 00002 00002 19970112  2   12.00\n")
    mapping = {
        "files": {
            "CDNOW_sample.txt": {
                "table": "invoice_lines",
                "header": False,
                "columns": {
                    "column 1": "client_id",
                    "column 2": "",
                    "column 3": "date",
                    "column 4": "quantity",
                    "column 5": "revenue",
                },
            }
        }
    }
    report = run_import(wh, path, mapping=mapping)
    assert report.ok, report.render_text()
    assert rows(wh, "invoice_lines", "invoice_id", "client_id", "date", "revenue") == [
        ("00001-1997-01-01", "00001", dt.date(1997, 1, 1), 11.77),
        ("00002-1997-01-12", "00002", dt.date(1997, 1, 12), 12.0),
    ]


def test_encoding_and_delimiter_from_the_mapping(wh: Warehouse, tmp_path: Path) -> None:
    # the mapping's encoding and delimiter are used as given, without detection
    path = write(tmp_path, "reps.csv", "rep_id|name\nR1|Paweł\n", encoding="cp1250")
    mapping = {"files": {"reps.csv": {"encoding": "cp1250", "delimiter": "|"}}}
    report = run_import(wh, path, mapping=mapping)
    assert report.ok, report.render_text()
    assert rows(wh, "reps", "rep_id", "name") == [("R1", "Paweł")]
    assert report.files[0].notes[:2] == ["encoding cp1250 (from the mapping)", "delimiter from the mapping"]


def test_skip_and_forced_table(wh: Warehouse, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder, "people.csv", "id,name\nR1,Anna\n")
    write(folder, "ignore_me.csv", "whatever\n1\n")
    report = run_import(
        wh,
        folder,
        table="reps",
        mapping={"files": {"ignore_me.csv": {"skip": True}}, "defaults": {"columns": {"id": "rep_id"}}},
    )
    assert report.ok, report.render_text()
    assert report.file("ignore_me.csv").skipped
    assert report.file("ignore_me.csv").warnings == ["ignore_me.csv: skipped (skip = true in the mapping)"]
    assert rows(wh, "reps", "rep_id", "name") == [("R1", "Anna")]


def test_file_name_hint_breaks_a_tie(wh: Warehouse, tmp_path: Path) -> None:
    # product + sales price: products (product_id) ties with invoice lines (product_id) on columns
    path = write(tmp_path, "products.csv", "product,series,sales_price\nGTX Basic,GTX,550\n")
    report = run_import(wh, path)
    assert report.ok, report.render_text()
    assert report.files[0].table == "products"
    assert report.files[0].unmapped == ["sales_price"]


def test_mapping_file_errors() -> None:
    with pytest.raises(MappingError, match=r"^mapping: unknown section 'file'; use \[defaults\]"):
        load_mapping({"file": {}})
    with pytest.raises(MappingError, match=r'^mapping \[files."a.csv"\]: decimal must be "," or ".", not \';\'$'):
        load_mapping({"files": {"a.csv": {"decimal": ";"}}})
    with pytest.raises(MappingError, match=r"stage_probabilities.Won must be a number from 0 to 1"):
        load_mapping({"defaults": {"stage_probabilities": {"Won": 2}}})
    with pytest.raises(MappingError, match=r"date_format '%d/%Y' needs %d, %m and %Y \(or %y\)"):
        load_mapping({"defaults": {"date_format": "%d/%Y"}})
    with pytest.raises(MappingError, match=r"^nope.toml: no such mapping file$"):
        load_mapping("nope.toml")
    assert (date_order("%d.%m.%y"), date_order("%m/%d/%Y"), date_order("%Y%m%d")) == ("dmy", "mdy", "ymd")


def test_report_is_plain_data_and_text(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "clients.csv", "client_id,name,notes\nK1,A,x\n")
    report = run_import(wh, path)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is True and data["loaded"] == {"clients": 1}
    assert data["files"][0]["column_mapping"] == {"client_id": "client_id", "name": "name"}
    text = report.render_text()
    assert "clients.csv -> clients (text, utf-8, delimiter ',')" in text
    assert "  not used: notes" in text
    assert "loaded: clients 1" in text
