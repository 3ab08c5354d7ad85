"""Every error path: the exact message, and a warehouse left exactly as it was (all or nothing)."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pyarrow as pa
import pytest
import xlsxwriter

from salesfolio.ingest import IngestError, run_import
from salesfolio.ingest import readers as readers_module
from salesfolio.ingest import validate as validate_module
from salesfolio.warehouse import Warehouse

TODAY = dt.date(2025, 6, 30)

BASE_CLIENTS = "client_id,name,country\nC1,Alpha,Polska\nC2,Beta,Niemcy\n"
BASE_LINES = "\n".join(
    [
        "invoice_id,date,client_id,product_id,quantity,revenue,cost",
        "F1,2025-01-02,C1,P1,2,100,60",
        "F2,2025-02-03,C2,P2,1,50,",
        "",
    ]
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """A warehouse with two clients and two invoice lines; every test below must leave it as it is."""
    warehouse = Warehouse.connect("duckdb://")
    folder = tmp_path_factory.mktemp("base")
    (folder / "clients.csv").write_text(BASE_CLIENTS)
    (folder / "invoices.csv").write_text(BASE_LINES)
    report = run_import(warehouse, folder)
    assert report.ok, report.render_text()
    yield warehouse
    warehouse.close()


@pytest.fixture
def wh(base: Warehouse, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    monkeypatch.setattr(validate_module, "today", lambda: TODAY)
    return base


def snapshot(wh: Warehouse) -> dict[str, object]:
    tables = {name: wh.to_arrow(name) for name in wh.loaded_tables()}
    return {
        "tables": sorted(wh.con.list_tables()),
        "data": {name: t.sort_by([(c, "ascending") for c in t.column_names[:2]]) for name, t in tables.items()},
    }


def run_failing(wh: Warehouse, paths: object, **kwargs: object) -> list[str]:
    before = snapshot(wh)
    report = run_import(wh, paths, **kwargs)  # type: ignore[arg-type]
    after = snapshot(wh)
    assert not report.ok
    assert report.loaded == {}
    assert all(f.rows_loaded == 0 for f in report.files)
    assert after["tables"] == before["tables"]
    for name, table in before["data"].items():  # type: ignore[union-attr]
        assert after["data"][name].equals(table), name  # type: ignore[index]
    with pytest.raises(IngestError) as raised:
        report.raise_for_errors()
    assert raised.value.issues == report.errors
    return [str(e) for e in report.errors]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# -- whole files -------------------------------------------------------------------------------------------------
def test_missing_path(wh: Warehouse, tmp_path: Path) -> None:
    assert run_failing(wh, tmp_path / "nope.csv") == [f"{tmp_path / 'nope.csv'}: no such file or folder"]


def test_folder_without_data_files(wh: Warehouse, tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.md").write_text("hello")
    assert run_failing(wh, folder) == [
        f"{folder}: the folder holds no data files (CSV, TXT, TSV, XLSX, XLS, Parquet, optionally .gz or .zip)"
    ]


def test_unsupported_extension(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "clients.json", '{"client_id": "C9"}')
    assert run_failing(wh, path) == [
        "clients.json: files ending in .json are not supported; save it as CSV, XLSX or Parquet "
        "(optionally .gz or .zip)"
    ]


def test_oversized(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "clients.csv", BASE_CLIENTS)
    mapping = {"defaults": {"max_file_bytes": 10}}
    assert run_failing(wh, path, mapping=mapping) == [
        "clients.csv: the file is 54 bytes, above the limit of 10 bytes; split it or raise max_file_bytes in a "
        "mapping file"
    ]


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file(wh: Warehouse, tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, "clients.csv", content)
    assert run_failing(wh, path) == ["clients.csv: the file is empty"]


def test_header_only(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "clients.csv", "client_id,name\n")
    assert run_failing(wh, path) == ["clients.csv: the file has a header row but no data rows"]


def test_header_only_gzip_discovered_while_reading(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "clients.csv.gz", gzip.compress(b"client_id,name\n\n"))
    assert run_failing(wh, path) == ["clients.csv.gz: the file has a header row but no data rows"]


def test_binary_file_with_a_data_extension(wh: Warehouse, tmp_path: Path) -> None:
    png = write(tmp_path, "clients.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    noise = write(tmp_path, "sales.csv", bytes(range(256)) * 16)
    assert run_failing(wh, [png, noise]) == [
        "clients.csv: this is not a text file (it is a PNG image); export the data as CSV, XLSX or Parquet",
        "sales.csv: this is not a text file (it holds binary data); export the data as CSV, XLSX or Parquet",
    ]


def test_unreadable_workbook(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "clients.xlsx", "client_id,name\nC9,Gamma\n")
    errors = run_failing(wh, path)
    assert len(errors) == 1
    assert errors[0].startswith("clients.xlsx: cannot be read as an Excel workbook (")


def test_unreadable_parquet(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "clients.parquet", b"PAR1 this is not really parquet")
    errors = run_failing(wh, path)
    assert len(errors) == 1
    assert errors[0].startswith("clients.parquet: cannot be read as a Parquet file (")


def test_missing_and_empty_sheets(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "clients.xlsx"
    book = xlsxwriter.Workbook(path)
    book.add_worksheet("Empty")
    book.add_worksheet("Also empty")
    book.close()
    assert run_failing(wh, path) == ["clients.xlsx: every sheet of the workbook is empty"]
    mapping = {"files": {"clients.xlsx": {"sheet": "Klienci"}}}
    assert run_failing(wh, path, mapping=mapping) == [
        "clients.xlsx: there is no sheet 'Klienci'; the workbook has: Empty, Also empty"
    ]


def test_no_header_row(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "sample.txt", " 00001 00001 19970101  1   11.77\n 00002 00002 19970112  1   12.00\n")
    assert run_failing(wh, path) == [
        'sample.txt: no header row found in the first 2 rows (the first row holds "00001, 00001, 19970101, 1, '
        '11.77"); add a header row or set header = false in a mapping file and name the columns "column 1", '
        '"column 2", ...'
    ]


def test_invalid_bytes_for_the_encoding(wh: Warehouse, tmp_path: Path) -> None:
    # valid UTF-8 where the encoding is judged, cp1250 bytes 1.2 MB further on
    filler = "".join(f"D{i},Firma {i}\n" for i in range(100_000)).encode()
    content = "client_id,name\nC0,Łódź\n".encode() + filler + b"C-last,\xb3\xf3d\n"
    path = write(tmp_path, "clients.csv", content)
    assert run_failing(wh, path) == [
        "clients.csv: row 100003 holds bytes that are not valid utf-8; save the file as UTF-8 or set encoding in a "
        "mapping file"
    ]


def test_ragged_rows(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "clients.csv", "client_id,name\nC9,Gamma\nC10\nC11,Delta,extra\n")
    assert run_failing(wh, path) == [
        "clients.csv, row 3: the row has 1 fields but the header has 2",
        "clients.csv, row 4: the row has 3 fields but the header has 2",
    ]


def test_ambiguous_table(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "client_id,date,amount,kind,hours\nC1,2025-01-01,5,visit,2\n")
    assert run_failing(wh, path) == [
        "cannot tell which table x.csv holds: it matches cost_to_serve (4 columns) and activities (4 columns); "
        "pass --table"
    ]


def test_unknown_table(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "foo,bar\n1,2\n")
    assert run_failing(wh, path) == [
        "cannot tell which table x.csv holds: none of its columns (foo, bar) is a known column name; pass --table "
        "and map the columns in a mapping file"
    ]


def test_missing_required_column(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "invoices.csv", "Invoice,Date,Customer ID,Qty\nF9,2025-01-01,C1,3\n")
    assert run_failing(wh, path) == [
        "invoices.csv: no column for invoice_lines.revenue (required); the file has: Invoice, Date, Customer ID, "
        "Qty; map one with a mapping file or provide quantity and unit price"
    ]


def test_unknown_forced_table(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "clients.csv", BASE_CLIENTS)
    assert run_failing(wh, path, table="customers") == [
        "--table: unknown table 'customers'; the data contract has: clients, reps, products, invoice_lines, "
        "cost_to_serve, opportunities, assessments, activities"
    ]


def test_mapping_errors(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "clients.csv", BASE_CLIENTS)
    assert run_failing(wh, path, mapping={"files": {"clients.csv": {"colums": {}}}}) == [
        "mapping [files.\"clients.csv\"]: unknown key 'colums'; known keys: columns, date_format, decimal, "
        "delimiter, encoding, header, header_row, max_file_bytes, on_missing_client, sheet, skip, "
        "stage_probabilities, table"
    ]
    assert run_failing(wh, path, mapping={"files": {"clients.csv": {"columns": {"Kod": "client_id"}}}}) == [
        "clients.csv: the mapping names column 'Kod', which the file does not have; the file has: client_id, name, "
        "country"
    ]
    assert run_failing(wh, path, mapping={"files": {"clients.csv": {"columns": {"country": "kraj"}}}}) == [
        "clients.csv: the mapping maps column 'country' to 'kraj', which clients does not have; it has: client_id, "
        "name, industry, size_class, region, country, owner_id, contract_type, status, since, parent_id, employees"
    ]
    toml = write(tmp_path, "mapping.toml", "[files.'clients.csv'\ntable = 1\n")
    errors = run_failing(wh, path, mapping=toml)
    assert len(errors) == 1
    assert errors[0].startswith("mapping.toml: not a valid TOML file (")


# -- cells -------------------------------------------------------------------------------------------------------
CELL_CASES = [
    pytest.param(
        "invoices.csv",
        "Numer faktury;Data faktury;Kontrahent;Wartość netto\nF9;13.01.2025;C1;10,00\nF10;31.02.2025;C1;10,00\n",
        [
            'invoices.csv, row 3, column "Data faktury" (date): "31.02.2025" is not a valid date (expected '
            "day.month.year, as in the rest of the column)"
        ],
        id="bad_date",
    ),
    pytest.param(
        "invoices.csv",
        "invoice_id,date,client_id,revenue\nF9,2025-01-01,C1,12x\nF10,2025-01-01,C1,1.234.5\n",
        [
            'invoices.csv, row 2, column "revenue": "12x" is not a number (expected decimal point, e.g. 1,234.56, '
            "as in the rest of the file)",
            'invoices.csv, row 3, column "revenue": "1.234.5" is not a number (expected decimal point, e.g. 1,234.56, '
            "as in the rest of the file)",
        ],
        id="bad_number",
    ),
    pytest.param(
        "invoices.csv",
        "invoice_id;date;client_id;revenue\nF9;2025-01-01;C1;1,5\nF10;2025-01-01;C1;2.5\n",
        [
            'invoices.csv, row 3, column "revenue": "2.5" is not a number (expected decimal comma, e.g. 1 234,56, '
            "as in the rest of the file)"
        ],
        id="point_in_a_decimal_comma_file",
    ),
    pytest.param(
        "assessments.csv",
        "client_id,period,relationship,strategic_fit,potential\nC1,2025-01-01,3.5,2,1000\nC2,2025-01-01,6,0,-5\n",
        [
            'assessments.csv, row 2, column "relationship": "3.5" is not a whole number',
            'assessments.csv, row 3, column "potential": "-5" is below the minimum of 0 for assessments.potential',
            'assessments.csv, row 3, column "relationship": "6" is above the maximum of 5 for assessments.relationship',
            'assessments.csv, row 3, column "strategic_fit": "0" is below the minimum of 1 for '
            "assessments.strategic_fit",
        ],
        id="integers_and_bounds",
    ),
    pytest.param(
        "deals.csv",
        "opportunity_id,client_id,stage,probability,won\nO1,C1,Open,50,maybe\nO2,C1,Open,150,yes\n",
        [
            'deals.csv, row 2, column "won": "maybe" is not a yes/no value (expected one of: yes/no, true/false, 1/0, '
            "tak/nie)",
            'deals.csv, row 3, column "probability": "150" is above the maximum of 1 for opportunities.probability',
        ],
        id="bool_and_probability",
    ),
    pytest.param(
        "clients.csv",
        'client_id,name\nC9,"bad\x00name"\n,Nameless\n',
        [
            'clients.csv, row 2, column "name": "bad\\x00name" contains a NUL byte (\\x00); binary data is not '
            "accepted",
            'clients.csv, row 3, column "client_id": "" is empty; clients.client_id is required',
        ],
        id="nul_and_missing",
    ),
    pytest.param(
        "invoices.csv",
        "invoice_id,date,client_id,revenue\nF9,2025-01-01,,5\n",
        [
            'invoices.csv, row 2, column "client_id": "" is empty; invoice lines need a client (on_missing_client = '
            '"error" in the mapping)'
        ],
        id="missing_client",
    ),
    pytest.param(
        "deals.csv",
        "opportunity_id,client_id,stage\nO1,C1,Prospecting\nO2,C404,Won\nO3,,Prospecting\n",
        [
            'deals.csv, row 3, column "client_id": "C404" is not a known client (not in the warehouse nor in this '
            "import's clients); import the clients first or add them to this import"
        ],
        id="unknown_client",
    ),
]


@pytest.mark.parametrize(("name", "content", "expected"), CELL_CASES)
def test_cell_errors(wh: Warehouse, tmp_path: Path, name: str, content: str, expected: list[str]) -> None:
    path = write(tmp_path, name, content)
    mapping = {"defaults": {"on_missing_client": "error"}} if "missing_client" in str(expected) else None
    assert run_failing(wh, path, mapping=mapping) == expected


def test_date_range_boundaries(wh: Warehouse, tmp_path: Path) -> None:
    # today is 2025-06-30 (patched); the last accepted date is 366 days later, 2026-07-01
    path = write(tmp_path, "clients.csv", "client_id,name,since\nC9,G,1899-12-31\nC10,D,2026-07-02\nC11,E,2026-07-01\n")
    assert run_failing(wh, path) == [
        'clients.csv, row 2, column "since": "1899-12-31" is outside the accepted dates (1900-01-01 to 2026-07-01)',
        'clients.csv, row 3, column "since": "2026-07-02" is outside the accepted dates (1900-01-01 to 2026-07-01)',
    ]


def test_long_cells(wh: Warehouse, tmp_path: Path) -> None:
    fine, too_long = "x" * 10_000, "y" * 40_000
    path = write(tmp_path, "clients.csv", f"client_id,name\nC9,{fine}\nC10,{too_long}\n")
    shown = "y" * 59 + "…"
    assert run_failing(wh, path) == [
        f'clients.csv, row 3, column "name": "{shown}" is 40,000 characters long; the limit is 32,767'
    ]


def test_date_order_contradicted_after_the_first_batch(
    wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers_module, "BLOCK_BYTES", 1024)
    rows = "".join(f"F{i},1/2/2025,C1,1\n" for i in range(200))
    path = write(tmp_path, "invoices.csv", "invoice_id,date,client_id,revenue\n" + rows + "F999,13/2/2025,C1,1\n")
    assert run_failing(wh, path) == [
        'invoices.csv, row 202, column "date": "13/2/2025" is not a valid date: the rows before it read as '
        "month/day/year; set date_format in a mapping file"
    ]


def test_issue_cap_per_file(wh: Warehouse, tmp_path: Path) -> None:
    rows = "".join(f"C{i},G,not a date\n" for i in range(120))
    errors = run_failing(wh, write(tmp_path, "clients.csv", "client_id,name,since\n" + rows))
    assert len(errors) == 51
    assert errors[0] == (
        'clients.csv, row 2, column "since": "not a date" is not a valid date (expected year-month-day, as in the '
        "rest of the column)"
    )
    assert errors[-1] == "clients.csv: 70 more issues not listed (only the first 50 per file are)"
    assert run_import(wh, tmp_path / "clients.csv").files[0].errors == 120


# -- across rows and files ---------------------------------------------------------------------------------------
def test_duplicate_keys_within_and_across_files(wh: Warehouse, tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    write(folder, "a_clients.csv", "client_id,name\nC7,Seven\nC8,Eight\nC7,Seven again\n")
    write(folder, "b_clients.csv", "client_id,name\nC9,Nine\nC8,Eight again\n")
    assert run_failing(wh, folder) == [
        'a_clients.csv, row 4: client_id "C7" is also on row 2',
        'b_clients.csv, row 3: client_id "C8" is also in a_clients.csv, row 3',
    ]


def test_one_invoice_in_two_files(wh: Warehouse, tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    write(folder, "sales_jan.csv", "invoice_id,date,client_id,revenue\nF9,2025-01-31,C1,5\nF9,2025-01-31,C1,6\n")
    write(folder, "sales_feb.csv", "invoice_id,date,client_id,revenue\nF10,2025-02-01,C1,7\nF9,2025-01-31,C1,5\n")
    assert run_failing(wh, folder) == [
        'sales_jan.csv, row 2: invoice "F9" is also in sales_feb.csv, row 3; an invoice must come from one file'
    ]


def test_good_files_are_not_loaded_when_one_file_fails(wh: Warehouse, tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    write(folder, "clients.csv", "client_id,name\nC9,Gamma\n")
    write(folder, "invoices.csv", "invoice_id,date,client_id,revenue\nF9,2025-01-01,C9,oops\n")
    errors = run_failing(wh, folder)
    assert errors == [
        'invoices.csv, row 2, column "revenue": "oops" is not a number (expected decimal point, e.g. 1,234.56, as '
        "in the rest of the file)"
    ]
    assert wh.row_count("clients") == 2


def test_dry_run_of_good_data_loads_nothing(wh: Warehouse, tmp_path: Path) -> None:
    before = snapshot(wh)
    path = write(tmp_path, "clients.csv", "client_id,name\nC9,Gamma\n")
    report = run_import(wh, path, dry_run=True)
    assert report.ok and report.dry_run
    assert report.loaded == {}
    assert report.files[0].rows_loaded == 1
    after = snapshot(wh)
    assert after["tables"] == before["tables"]
    assert wh.row_count("clients") == 2


def test_exception_mid_run_leaves_no_staging_tables(
    wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from salesfolio.ingest import filejob

    before = sorted(wh.con.list_tables())

    def explode(self: object, typed: dict[str, pa.Array]) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(filejob.FileJob, "_tally", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        run_import(wh, write(tmp_path, "clients.csv", "client_id,name\nC9,Gamma\n"))
    assert sorted(wh.con.list_tables()) == before


def test_a_failing_merge_rolls_back_the_tables_merged_before_it(
    wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from salesfolio.warehouse import Staging

    before = snapshot(wh)
    real_merge = Staging.merge

    def merge(self: Staging) -> int:
        if self.spec.name == "invoice_lines":
            raise RuntimeError("connection lost")
        return real_merge(self)

    monkeypatch.setattr(Staging, "merge", merge)
    folder = tmp_path / "run"
    folder.mkdir()
    write(folder, "clients.csv", "client_id,name\nC9,Gamma\nC1,Alpha renamed\n")
    write(folder, "invoices.csv", "invoice_id,date,client_id,revenue\nF9,2025-01-01,C9,5\n")
    with pytest.raises(RuntimeError, match="connection lost"):
        run_import(wh, folder)
    after = snapshot(wh)
    assert after["tables"] == before["tables"]
    for name, table in before["data"].items():  # type: ignore[union-attr]
        assert after["data"][name].equals(table), name  # type: ignore[index]
