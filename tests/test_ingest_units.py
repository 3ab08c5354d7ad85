"""The sniffing and typing functions on their own: encodings, delimiters, headers, numbers, dates, yes/no."""

from __future__ import annotations

import codecs
import datetime as dt
import io

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesfolio.ingest import convert, sniff
from salesfolio.ingest.aliases import is_known_header, normalise_header, recognise


def encoding_of(data: bytes) -> str:
    return sniff.detect_encoding(io.BytesIO(data).read).encoding


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("a;b\nZakład Łódź Żółć;1\n".encode(), "utf-8"),
        (codecs.BOM_UTF8 + b"a;b\n", "utf-8-sig"),
        ("a;b\nŁódź\n".encode("utf-16"), "utf-16"),
        ("a;b\nLodz\n".encode("utf-16-le"), "utf-16-le"),
        ("a;b\nZakład Łódź Żółć;1\n".encode("cp1250"), "cp1250"),
        ("a;b\nOśrodek Ćma\n".encode("cp1250"), "cp1250"),  # "ś"/"ć" are "œ"/"æ" in cp1252: the tie goes to cp1250
        ("a;b\nMüller Straße Café\n".encode("latin-1"), "cp1252"),
        ("a;b\nPeña Ñandú\n".encode("cp1252"), "cp1252"),
        (b"a;b\nplain ascii\n", "utf-8"),
    ],
)
def test_detect_encoding(data: bytes, expected: str) -> None:
    assert encoding_of(data) == expected


def test_binary_detection() -> None:
    assert sniff.looks_binary(bytes(range(256)))
    assert not sniff.looks_binary("a,b\n1,2\n".encode("utf-16"))
    assert not sniff.looks_binary(b"a,b\nx\x00y,2\n")  # one stray NUL: a cell error later, not a binary file
    assert sniff.magic_kind(b"%PDF-1.7") == "a PDF document"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["a,b,c", "1,2,3", "4,5,6"], ","),
        (["a;b;c", "1,5;2,5;3", "4;5;6"], ";"),
        (["a\tb", "1 2\t3"], "\t"),
        (["a|b", "1|2"], "|"),
        (["  id  date   value", " 001  19970101  1.5"], " "),
        (["Report 2024", "", "a;b;c", "1;2;3", "4;5;6", "7;8;9"], ";"),
    ],
)
def test_detect_delimiter(lines: list[str], expected: str) -> None:
    assert sniff.detect_delimiter(lines)[0] == expected


def test_find_header() -> None:
    rows = [["Raport sprzedaży", "", ""], ["", "", ""], ["Numer faktury", "Data", "Kwota"], ["F1", "2024-01-01", "5"]]
    assert sniff.find_header(rows, is_known_header) == 2
    unknown = [["Title"], ["Foo", "Bar", "Baz"], ["1", "2", "3"]]
    assert sniff.find_header(unknown, is_known_header) == 1
    assert sniff.find_header([["1", "2"], ["3", "4"]], is_known_header) is None
    assert sniff.unique_names(["a", "", "a", "\ufeffb"]) == ["a", "column 2", "a (2)", "b"]


def test_aliases() -> None:
    assert normalise_header("Wartość netto") == "wartoscnetto"
    assert normalise_header("Probability (%)") == "probability"
    # NIP beats Kontrahent for the client ID; Kontrahent then names the client
    assert recognise("invoice_lines", ["Kontrahent", "NIP"]) == {0: "client_name", 1: "client_id"}
    assert recognise("invoice_lines", ["Kontrahent"]) == {0: "client_id"}
    assert recognise("opportunities", ["Closed", "Closed Date"]) == {0: "is_closed", 1: "closed"}
    sap = recognise("invoice_lines", ["VBELN", "POSNR", "KUNNR", "FKDAT", "MATNR", "FKIMG", "NETWR", "WAVWR"])
    assert list(sap.values()) == [
        "invoice_id",
        "line_no",
        "client_id",
        "date",
        "product_id",
        "quantity",
        "revenue",
        "cost",
    ]


def numbers(values: list[str | None], decimal: str) -> tuple[list[float | None], list[bool]]:
    parsed, bad = convert.parse_numbers(convert.as_text(pa.array(values, pa.string())), decimal)
    return parsed.to_pylist(), bad.to_pylist()


def test_numbers() -> None:
    assert numbers(["1 234,56", "1.234.567,8", "12,50-", "(3,5)", "45%", "zł 10", "PLN 1,5", " ", None], ",") == (
        [1234.56, 1234567.8, -12.5, -3.5, 0.45, 10.0, 1.5, None, None],
        [False, False, False, False, False, False, False, False, False],
    )
    assert numbers(["1,234.56", "$5", "1e3", ".5", "1.5.5", "12,34", "abc"], ".") == (
        [1234.56, 5.0, 1000.0, 0.5, None, None, None],
        [False, False, False, False, True, True, True],
    )
    assert convert.detect_decimal([pa.array(["1.234", "2"])]) == (None, "no number tells")


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_decimal_comma_with_thousands_round_trips(value: object) -> None:
    text = f"{value:,.2f}".replace(",", " ").replace(".", ",")
    parsed, bad = numbers([text], ",")
    assert bad == [False]
    assert parsed[0] == pytest.approx(float(value))  # type: ignore[arg-type]


def dates(values: list[str | None], hint: str = "mdy") -> tuple[str, list[dt.date | None]]:
    array = pa.array(values, pa.string())
    fmt = convert.detect_date_format(array, hint, "a hint")  # type: ignore[arg-type]
    assert fmt is not None
    parsed, _, _ = convert.parse_dates(array, fmt)
    return fmt.expected, parsed.to_pylist()


def test_dates() -> None:
    assert dates(["2024-01-31", "2024-02-29 10:00:00", "2023-02-29"]) == (
        "year-month-day",
        [dt.date(2024, 1, 31), dt.date(2024, 2, 29), None],
    )
    assert dates(["13.01.2024", "01.02.2024"]) == ("day.month.year", [dt.date(2024, 1, 13), dt.date(2024, 2, 1)])
    assert dates(["3/1/2017", "10/20/2016"]) == ("month/day/year", [dt.date(2017, 3, 1), dt.date(2016, 10, 20)])
    assert dates(["1-2-24", "1-2-75"], hint="dmy") == ("day-month-year", [dt.date(2024, 2, 1), dt.date(1975, 2, 1)])
    assert dates(["19970101", "19971231"]) == ("yyyymmdd", [dt.date(1997, 1, 1), dt.date(1997, 12, 31)])
    assert dates(["5 Jan 2024", "12 października 2023", "1-Mar-24"]) == (
        "day month-name year",
        [dt.date(2024, 1, 5), dt.date(2023, 10, 12), dt.date(2024, 3, 1)],
    )
    assert dates(["Jan 5, 2024", "December 31, 2023"]) == (
        "month-name day, year",
        [dt.date(2024, 1, 5), dt.date(2023, 12, 31)],
    )
    assert dates(["45000", "45292.75"]) == ("an Excel date serial number", [dt.date(2023, 3, 15), dt.date(2024, 1, 1)])


def test_date_order_chosen_by_hint_is_reported() -> None:
    fmt = convert.detect_date_format(pa.array(["01/02/2024"]), "dmy", "the file uses a decimal comma")
    assert fmt is not None and not fmt.decided
    assert fmt.describe() == "day/month/year (no day above 12 seen; the file uses a decimal comma)"
    _, bad, flipped = convert.parse_dates(pa.array(["01/13/2024", "x"]), fmt)
    # 01/13/2024 is no day/month date but would be a month/day one: flipped, not plain bad
    assert (bad.to_pylist(), flipped.to_pylist()) == ([False, True], [True, False])


def test_bools_and_ids() -> None:
    flags, bad = convert.to_bool(pa.array(["TAK", "nie", "Won", "x", "?", None]))
    assert flags.to_pylist() == [True, False, True, True, None, None]
    assert bad.to_pylist() == [False, False, False, False, True, False]
    assert convert.normalise_ids(convert.as_text(pa.array([17850.0, None, 1.5]))).to_pylist() == ["17850", None, "1.5"]
    assert convert.normalise_ids(pa.array(["00017", "17850.0", " A1 "])).to_pylist() == ["00017", "17850", " A1 "]
