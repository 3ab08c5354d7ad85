"""Every file format, delimiter and encoding the importer reads, on the same three invoice lines."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xlsxwriter

from salesfolio.ingest import run_import
from salesfolio.warehouse import Warehouse

HEADER = ["invoice_id", "date", "client_id", "product_id", "quantity", "revenue"]
ROWS = [
    ["INV-1", "2024-01-05", "C1", "P1", "2", "100.5"],
    ["INV-1", "2024-01-05", "C1", "P2", "1", "20"],
    ["INV-2", "2024-02-10", "C2", "P1", "-1", "-50.25"],
]
# worked out by hand: 100.5 + 20 - 50.25
EXPECTED_REVENUE = 70.25
EXPECTED_LINES = [
    ("INV-1", 1, "C1", dt.date(2024, 1, 5), "P1", 2.0, 100.5),
    ("INV-1", 2, "C1", dt.date(2024, 1, 5), "P2", 1.0, 20.0),
    ("INV-2", 1, "C2", dt.date(2024, 2, 10), "P1", -1.0, -50.25),
]


@pytest.fixture
def wh() -> Warehouse:
    warehouse = Warehouse.connect("duckdb://")
    yield warehouse
    warehouse.close()


def lines(wh: Warehouse) -> list[tuple[object, ...]]:
    table = wh.to_arrow("invoice_lines").sort_by([("invoice_id", "ascending"), ("line_no", "ascending")])
    cols = ["invoice_id", "line_no", "client_id", "date", "product_id", "quantity", "revenue"]
    return [tuple(r[c] for c in cols) for r in table.to_pylist()]


def text(delimiter: str = ",") -> str:
    return "".join(delimiter.join(row) + "\n" for row in [HEADER, *ROWS])


def assert_loaded(wh: Warehouse, report) -> None:  # type: ignore[no-untyped-def]
    assert report.ok, report.render_text()
    assert lines(wh) == EXPECTED_LINES
    assert report.loaded == {"clients": 2, "products": 2, "invoice_lines": 3}
    assert report.created == {"clients": 2, "products": 2}


@pytest.mark.parametrize(
    ("delimiter", "name"),
    [(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")],
)
def test_delimiters(wh: Warehouse, tmp_path: Path, delimiter: str, name: str) -> None:
    path = tmp_path / "sales.csv"
    path.write_text(text(delimiter), encoding="utf-8")
    report = run_import(wh, path)
    assert_loaded(wh, report)
    assert report.files[0].delimiter == delimiter
    assert f"delimiter {name} (same field count on most lines)" in report.files[0].notes


def test_whitespace_aligned_columns(wh: Warehouse, tmp_path: Path) -> None:
    body = "  invoice_id   date        client_id product_id quantity  revenue\r\n"
    body += "".join(f"  {r[0]:<10} {r[1]}  {r[2]:<4} {r[3]:<4}  {r[4]:>3}  {r[5]:>8}  \r\n" for r in ROWS)
    path = tmp_path / "sales.txt"
    path.write_text(body, encoding="ascii", newline="")
    report = run_import(wh, path)
    assert_loaded(wh, report)
    assert report.files[0].delimiter == "whitespace"


def test_quoted_fields_with_delimiters_and_line_breaks(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text(
        "invoice_id,date,client_id,product_id,description,quantity,revenue\n"
        'INV-1,2024-01-05,C1,P1,"Bolt, M8 ""steel""\nsecond line",2,100.5\n'
        "INV-1,2024-01-05,C1,P2,Nut,1,20\n"
        "INV-2,2024-02-10,C2,P1,Bolt,-1,-50.25\n",
        encoding="utf-8",
    )
    report = run_import(wh, path)
    assert_loaded(wh, report)
    names = {r["product_id"]: r["name"] for r in wh.to_arrow("products").to_pylist()}
    # P1 is named "Bolt, M8 ..." once and "Bolt" once: the tie goes to the smaller value
    assert names == {"P1": "Bolt", "P2": "Nut"}


def test_gzip(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "sales.csv.gz"
    path.write_bytes(gzip.compress(text().encode()))
    assert_loaded(wh, run_import(wh, path))


def test_zip_with_one_file(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__MACOSX/._sales.csv", b"junk")
        archive.writestr("sales.csv", text(";"))
    assert_loaded(wh, run_import(wh, path))


def test_zip_with_two_files_is_refused(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", text())
        archive.writestr("b.csv", text())
    report = run_import(wh, path)
    assert not report.ok
    assert [str(e) for e in report.errors] == [
        "export.zip: the archive holds 2 data files (a.csv, b.csv); put one data file in each"
    ]


def test_parquet(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "sales.parquet"
    table = pa.table(
        {
            "InvoiceNo": ["INV-1", "INV-1", "INV-2"],
            "InvoiceDate": pa.array(
                [dt.datetime(2024, 1, 5, 8, 26), dt.datetime(2024, 1, 5, 8, 26), dt.datetime(2024, 2, 10, 23, 59)]
            ),
            "CustomerID": [1.0, 1.0, 2.0],  # as pandas writes integer IDs with gaps
            "StockCode": ["P1", "P2", "P1"],
            "Quantity": pa.array([2, 1, -1], pa.int64()),
            "Sales": [100.5, 20.0, -50.25],
        }
    )
    pq.write_table(table, path, row_group_size=2)
    report = run_import(wh, path)
    assert report.ok, report.render_text()
    got = lines(wh)
    assert [(r[0], r[1], r[2], r[3], r[6]) for r in got] == [
        ("INV-1", 1, "1", dt.date(2024, 1, 5), 100.5),
        ("INV-1", 2, "1", dt.date(2024, 1, 5), 20.0),
        ("INV-2", 1, "2", dt.date(2024, 2, 10), -50.25),
    ]
    assert report.files[0].kind == "parquet"


def write_xlsx(
    path: Path,
    rows: list[list[object]],
    *,
    start_row: int = 0,
    sheet: str = "Sheet1",
    title: str | None = None,
    extra_sheets: tuple[str, ...] = (),
) -> None:
    book = xlsxwriter.Workbook(path)
    for name in extra_sheets:
        book.add_worksheet(name)
    sheet_ = book.add_worksheet(sheet)
    date_format = book.add_format({"num_format": "dd.mm.yyyy"})
    if title:
        sheet_.write(0, 0, title)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, dt.date):
                sheet_.write_datetime(start_row + r, c, dt.datetime.combine(value, dt.time()), date_format)
            elif value is not None:
                sheet_.write(start_row + r, c, value)
    book.close()


def test_xlsx_with_title_rows_and_typed_cells(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "faktury.xlsx"
    rows: list[list[object]] = [
        ["Numer faktury", "Data faktury", "NIP", "Kontrahent", "Towar", "Ilość", "Wartość netto"],
        ["FV/1", dt.date(2024, 1, 5), 5260001246, "Zakład Łódź Żółć", "Śruba", 2, 100.5],
        ["FV/1", dt.date(2024, 1, 5), 5260001246, "Zakład Łódź Żółć", "Nakrętka", 1, "20"],
        ["FV/2", dt.date(2024, 2, 10), 7770002233, "Hurtownia Żabka", "Śruba", -1, -50.25],
    ]
    write_xlsx(path, rows, start_row=3, sheet="Faktury", title="Raport sprzedaży 2024", extra_sheets=("Pusty",))
    report = run_import(wh, path)
    assert report.ok, report.render_text()
    file = report.files[0]
    assert (file.kind, file.sheet, file.header_row) == ("excel", "Faktury", 4)
    assert file.column_mapping == {
        "Numer faktury": "invoice_id",
        "Data faktury": "date",
        "NIP": "client_id",
        "Kontrahent": "client_name",
        "Towar": "product_id",
        "Ilość": "quantity",
        "Wartość netto": "revenue",
    }
    assert [(r[0], r[2], r[3], r[6]) for r in lines(wh)] == [
        ("FV/1", "5260001246", dt.date(2024, 1, 5), 100.5),
        ("FV/1", "5260001246", dt.date(2024, 1, 5), 20.0),
        ("FV/2", "7770002233", dt.date(2024, 2, 10), -50.25),
    ]
    clients = {r["client_id"]: r["name"] for r in wh.to_arrow("clients").to_pylist()}
    assert clients == {"5260001246": "Zakład Łódź Żółć", "7770002233": "Hurtownia Żabka"}


def test_xlsx_error_names_the_sheet_row(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "deals.xlsx"
    rows: list[list[object]] = [
        ["Opportunity ID", "Account Name", "Stage", "Amount", "Close Date"],
        ["O1", None, "Prospecting", 1000, dt.date(2024, 3, 1)],
        ["O2", None, "Prospecting", "lots", dt.date(2024, 3, 1)],
    ]
    write_xlsx(path, rows, start_row=2, title="Pipeline")
    report = run_import(wh, path)
    assert [str(e) for e in report.errors] == [
        'deals.xlsx, row 5, column "Amount" (value): "lots" is not a number '
        "(expected decimal point, e.g. 1,234.56, as in the rest of the file)"
    ]


def test_xlsx_chosen_sheet_and_serial_dates(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    book = xlsxwriter.Workbook(path)
    book.add_worksheet("Notes").write(0, 0, "nothing to import here")
    sheet = book.add_worksheet("Deals")
    for c, h in enumerate(["Opportunity ID", "Stage", "Amount", "Created Date"]):
        sheet.write(0, c, h)
    sheet.write_row(1, 0, ["O1", "Closed Won", 500, 45000])  # a date written as a bare serial number
    book.close()
    report = run_import(wh, path, mapping={"files": {"book.xlsx": {"sheet": "Deals"}}})
    assert report.ok, report.render_text()
    row = wh.to_arrow("opportunities").to_pylist()[0]
    # Excel serial 45000 is 2023-03-15 (1899-12-30 + 45000 days)
    assert (row["created"], row["won"], row["probability"]) == (dt.date(2023, 3, 15), True, 1.0)
    assert report.files[0].date_formats == {"Created Date": "an Excel date serial number (numbers in a date column)"}


def test_xls_fixture(wh: Warehouse) -> None:
    path = Path(__file__).parent / "data" / "ingest" / "clients.xls"
    report = run_import(wh, path)
    assert report.ok, report.render_text()
    rows = sorted((r["client_id"], r["name"], r["since"]) for r in wh.to_arrow("clients").to_pylist())
    assert rows == [("K1", "Zakład Łódź Żółć", dt.date(2019, 3, 1)), ("K2", "Müller GmbH", dt.date(2020, 11, 30))]


ENCODED = "client_id;name;country\nK1;Zakład Łódź Żółć;Polska\nK2;Café Müller Ñandú;España\n"


@pytest.mark.parametrize(
    ("encoding", "reported", "text_"),
    [
        ("utf-8", "utf-8", ENCODED),
        ("utf-8-sig", "utf-8-sig", ENCODED),
        ("utf-16", "utf-16", ENCODED),
        ("cp1250", "cp1250", ENCODED.replace("Café Müller Ñandú", "Café Müller").replace("España", "Niemcy")),
        ("latin-1", "cp1252", ENCODED.replace("Zakład Łódź Żółć", "Zaklad Lodz").replace("Polska", "Portugal")),
    ],
)
def test_encodings(wh: Warehouse, tmp_path: Path, encoding: str, reported: str, text_: str) -> None:
    path = tmp_path / "klienci.csv"
    path.write_bytes(text_.encode(encoding))
    report = run_import(wh, path)
    assert report.ok, report.render_text()
    assert report.files[0].encoding == reported
    expected = [tuple(line.split(";")) for line in text_.splitlines()[1:]]
    got = sorted((r["client_id"], r["name"], r["country"]) for r in wh.to_arrow("clients").to_pylist())
    assert got == expected


def test_cp1250_text_after_a_long_ascii_start(wh: Warehouse, tmp_path: Path) -> None:
    lines_ = ["client_id;name"] + [f"K{i};Firma {i}" for i in range(60_000)] + ["K-last;Zakład Łódź Żółć"]
    path = tmp_path / "klienci.csv"
    path.write_bytes(("\n".join(lines_) + "\n").encode("cp1250"))
    report = run_import(wh, path)
    assert report.ok, report.render_text()
    assert report.files[0].encoding == "cp1250"
    names = {r["client_id"]: r["name"] for r in wh.to_arrow("clients").to_pylist()}
    assert names["K-last"] == "Zakład Łódź Żółć"


def test_decimal_comma_and_thousands(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "faktury.csv"
    path.write_text(
        "Numer faktury;Data faktury;NIP;Ilość;Wartość netto;Koszt\n"
        "FV/1;05.01.2024;111;2;1 234,56;1.000,50\n"
        "FV/2;13.01.2024;111;1;(12,50);10\n"
        "FV/3;14.01.2024;222;1;12,50-;\u00a03\u00a0000,00 zł\n",
        encoding="utf-8",
    )
    report = run_import(wh, path)
    assert report.ok, report.render_text()
    got = sorted((r["invoice_id"], r["revenue"], r["cost"]) for r in wh.to_arrow("invoice_lines").to_pylist())
    assert got == [("FV/1", 1234.56, 1000.5), ("FV/2", -12.5, 10.0), ("FV/3", -12.5, 3000.0)]
    file = report.files[0]
    assert file.decimal == ","
    assert file.date_formats == {"Data faktury": "day.month.year (a first part above 12 was seen)"}


def test_english_thousands_in_quotes(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text('invoice_id,date,client_id,revenue\nA,1/13/2024,C1,"1,234.50"\nB,1/14/2024,C1,2.5\n')
    report = run_import(wh, path)
    assert report.ok, report.render_text()
    got = sorted((r["invoice_id"], r["date"], r["revenue"]) for r in wh.to_arrow("invoice_lines").to_pylist())
    assert got == [("A", dt.date(2024, 1, 13), 1234.5), ("B", dt.date(2024, 1, 14), 2.5)]


def test_excel_sep_line_and_blank_lines_keep_row_numbers(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "clients.csv"
    path.write_text("sep=;\nclient_id;name;since\nK1;A;2024-01-01\n\nK2;B;2024-13-01\n", encoding="utf-8")
    report = run_import(wh, path)
    # sep line = row 1, header = row 2, K1 = row 3, blank = row 4, K2 = row 5
    assert [str(e) for e in report.errors] == [
        'clients.csv, row 5, column "since": "2024-13-01" is not a valid date '
        "(expected year-month-day, as in the rest of the column)"
    ]


def test_progress_callback_reaches_the_end(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text(text())
    calls: list[tuple[str, int, int, int]] = []
    run_import(wh, path, progress=lambda *args: calls.append(args))
    size = path.stat().st_size
    assert calls[-1] == ("sales.csv", 3, size, size)


def test_rich_progress_draws_a_bar(tmp_path: Path) -> None:
    from rich.console import Console

    from salesfolio.ingest.progress import rich_progress

    out = io.StringIO()
    with rich_progress(Console(file=out, width=100, force_terminal=False)) as progress:
        progress("sales.csv", 500, 1024, 2048)
        progress("sales.csv", 1000, 2048, 2048)
    assert "sales.csv" in out.getvalue()
    assert "1,000 rows" in out.getvalue()
