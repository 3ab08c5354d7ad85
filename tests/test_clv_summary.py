"""The per-client summary: a hand-worked example, pandas and Ibis (DuckDB, SQLite, PostgreSQL) agree, CDNOW."""

from __future__ import annotations

import datetime as dt
import doctest
from collections.abc import Iterator

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from conftest import shared_data
from salesfolio.analytics.clv import backtest, base, beta_geo, gamma_gamma, rfm_summary, rfm_summary_expr, summary
from salesfolio.contract import INVOICE_LINES

D = dt.date
END = D(2024, 2, 19)
CAL = D(2024, 1, 31)

# (client, date, revenue); several lines of one day are one purchase at the day's net value.
HAND_LINES = [
    ("A", D(2024, 1, 1), 100.0),
    ("A", D(2024, 1, 1), 50.0),
    ("A", D(2024, 1, 1), -10.0),  # credit note the same day: the purchase is worth 140
    ("A", D(2024, 1, 10), 80.0),
    ("A", D(2024, 1, 10), -30.0),  # net 50
    ("A", D(2024, 1, 20), -40.0),  # a credit note alone: not a purchase
    ("A", D(2024, 1, 30), 20.0),
    ("A", D(2024, 1, 30), -20.0),  # net 0: not a purchase
    ("A", D(2024, 2, 9), 60.0),
    ("A", D(2024, 2, 12), -15.0),  # credit note in the holdout
    ("B", D(2024, 1, 15), 200.0),
    ("C", D(2024, 1, 5), -100.0),  # only credit notes: never a client in the summary
    ("D", D(2024, 1, 5), -50.0),
    ("D", D(2024, 1, 25), 70.0),
    ("D", D(2024, 2, 25), 90.0),  # after the observation end: ignored
    ("E", D(2024, 1, 7), None),  # a missing value counts as 0
    ("E", D(2024, 1, 7), 30.0),
    ("E", D(2024, 2, 19), 40.0),  # on the end day itself: observed
]


def invoice_lines(rows: list[tuple[str, dt.date, float | None]]) -> pa.Table:
    """Rows as a canonical invoice_lines table (contract schema; one invoice per row)."""
    n = len(rows)
    columns = {
        "invoice_id": [f"INV{i}" for i in range(n)],
        "line_no": [1] * n,
        "client_id": [r[0] for r in rows],
        "date": [r[1] for r in rows],
        "product_id": ["P1"] * n,
        "quantity": [1.0] * n,
        "revenue": [r[2] for r in rows],
        "cost": [None] * n,
        "rep_id": ["R1"] * n,
    }
    return pa.table(columns, schema=INVOICE_LINES.arrow_schema)


def hand_frame() -> pd.DataFrame:
    return invoice_lines(HAND_LINES).to_pandas()


def test_hand_example_without_calibration():
    summary = rfm_summary(hand_frame(), observation_end=END)
    expected = pd.DataFrame(
        {
            "client_id": ["A", "B", "D", "E"],
            # A: purchase days Jan 1 (140), Jan 10 (50), Feb 9 (60); Jan 20 and Jan 30 are not purchases.
            "frequency": [2, 0, 0, 1],
            "recency": [39.0, 0.0, 0.0, 43.0],
            "T": [49.0, 35.0, 25.0, 43.0],
            # Mean of the repeat purchase days, the first left out: A (50 + 60) / 2; E 40.
            "monetary_value": [55.0, 0.0, 0.0, 40.0],
        }
    )
    pd.testing.assert_frame_equal(summary, expected, check_dtype=False)
    assert summary["frequency"].dtype == np.int64


def test_hand_example_with_calibration_and_holdout():
    summary = rfm_summary(hand_frame(), observation_end=END, calibration_end=CAL)
    expected = pd.DataFrame(
        {
            "client_id": ["A", "B", "D", "E"],
            "frequency": [1, 0, 0, 0],
            "recency": [9.0, 0.0, 0.0, 0.0],
            "T": [30.0, 16.0, 6.0, 24.0],
            "monetary_value": [50.0, 0.0, 0.0, 0.0],
            "frequency_holdout": [1, 0, 0, 1],
            "monetary_value_holdout": [60.0, 0.0, 0.0, 40.0],
            "net_revenue_holdout": [45.0, 0.0, 0.0, 40.0],  # A: 60 less the credit note of 15
            "duration_holdout": [19.0] * 4,
        }
    )
    pd.testing.assert_frame_equal(summary, expected, check_dtype=False)


def test_time_unit_weeks_divides_the_day_counts():
    days = rfm_summary(hand_frame(), observation_end=END)
    weeks = rfm_summary(hand_frame(), observation_end=END, time_unit_days=7.0)
    np.testing.assert_allclose(weeks["T"], days["T"] / 7)
    np.testing.assert_allclose(weeks["recency"], days["recency"] / 7)


def test_timestamps_are_cut_to_the_day():
    frame = hand_frame()
    frame["date"] = pd.to_datetime(frame["date"]) + pd.to_timedelta(np.arange(len(frame)) % 5 * 3, unit="h")
    pd.testing.assert_frame_equal(
        rfm_summary(frame, observation_end=END), rfm_summary(hand_frame(), observation_end=END)
    )


def test_clients_born_in_the_holdout_are_not_in_the_summary():
    rows = [*HAND_LINES, ("F", D(2024, 2, 5), 10.0)]
    frame = invoice_lines(rows).to_pandas()
    assert "F" not in set(rfm_summary(frame, observation_end=END, calibration_end=CAL)["client_id"])
    assert "F" in set(rfm_summary(frame, observation_end=END)["client_id"])


def test_input_errors_name_the_problem():
    frame = hand_frame()
    with pytest.raises(ValueError, match="Required column revenue missing"):
        rfm_summary(frame.drop(columns="revenue"), observation_end=END)
    with pytest.raises(ValueError, match="Required column amount missing"):
        rfm_summary(frame, value_col="amount", observation_end=END)
    with pytest.raises(ValueError, match=r"calibration_end \(2024-03-01\) must not be after observation_end"):
        rfm_summary(frame, observation_end=END, calibration_end=D(2024, 3, 1))
    with pytest.raises(ValueError, match="time_unit_days must be a positive number"):
        rfm_summary(frame, observation_end=END, time_unit_days=0)
    with pytest.raises(ValueError, match="observation_end must be an ISO date"):
        rfm_summary(frame, observation_end="19/02/2024")


def test_iso_strings_and_datetimes_are_accepted_as_dates():
    a = rfm_summary(hand_frame(), observation_end="2024-02-19", calibration_end=dt.datetime(2024, 1, 31, 18, 0))
    b = rfm_summary(hand_frame(), observation_end=END, calibration_end=CAL)
    pd.testing.assert_frame_equal(a, b)


# --- the Ibis expression gives the same summary in every engine -----------------------------------------------


@pytest.fixture(params=["duckdb", "sqlite"])
def con(request: pytest.FixtureRequest) -> Iterator[ibis.BaseBackend]:
    backend = ibis.duckdb.connect() if request.param == "duckdb" else ibis.sqlite.connect()
    yield backend
    backend.disconnect()


def random_lines(seed: int, n_clients: int = 300, n_lines: int = 6000) -> list[tuple[str, dt.date, float | None]]:
    rng = np.random.default_rng(seed)
    clients = rng.integers(0, n_clients, n_lines)
    days = rng.integers(0, 730, n_lines)
    values = np.round(rng.gamma(2.0, 100.0, n_lines) * np.where(rng.random(n_lines) < 0.1, -1, 1), 2)
    start = D(2022, 1, 1)
    return [
        (f"K{c:04d}", start + dt.timedelta(days=int(d)), None if rng.random() < 0.01 else float(v))
        for c, d, v in zip(clients, days, values, strict=True)
    ]


def assert_same_summary(engine: pd.DataFrame, local: pd.DataFrame) -> None:
    engine = engine.reset_index(drop=True)
    assert list(engine.columns) == list(local.columns)
    assert engine["frequency"].dtype == np.int64
    pd.testing.assert_frame_equal(engine, local, check_dtype=False, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("calibration_end", [None, CAL])
def test_expression_matches_pandas_on_the_hand_example(con, calibration_end):
    table = con.create_table("invoice_lines", invoice_lines(HAND_LINES))
    engine = rfm_summary_expr(table, observation_end=END, calibration_end=calibration_end).to_pandas()
    assert_same_summary(engine, rfm_summary(hand_frame(), observation_end=END, calibration_end=calibration_end))


@pytest.mark.parametrize("time_unit_days", [1.0, 7.0])
def test_expression_matches_pandas_on_random_lines(con, time_unit_days):
    rows = random_lines(11)
    table = con.create_table("invoice_lines", invoice_lines(rows))
    options = {"observation_end": D(2023, 9, 30), "calibration_end": D(2023, 3, 31), "time_unit_days": time_unit_days}
    engine = rfm_summary_expr(table, **options).to_pandas()
    local = rfm_summary(invoice_lines(rows).to_pandas(), **options)
    assert len(local) > 250
    assert_same_summary(engine, local)


def test_expression_cuts_timestamps_to_the_day():
    con = ibis.duckdb.connect()
    frame = hand_frame()
    frame["date"] = pd.to_datetime(frame["date"]) + pd.Timedelta(hours=15)
    table = con.create_table("lines", pa.Table.from_pandas(frame[["client_id", "date", "revenue"]]))
    assert table["date"].type().is_timestamp()
    engine = rfm_summary_expr(table, observation_end=END).to_pandas()
    assert_same_summary(engine, rfm_summary(hand_frame(), observation_end=END))


def test_expression_refuses_missing_columns():
    table = ibis.table({"client_id": "string", "date": "date"}, name="lines")
    with pytest.raises(ValueError, match="Required column revenue missing"):
        rfm_summary_expr(table, observation_end=END)


@pytest.mark.postgres
def test_expression_matches_pandas_on_postgres(pg_database: str):
    con = ibis.postgres.connect(host="127.0.0.1", port=5432, user="root", database=pg_database.rsplit("/", 1)[1])
    try:
        rows = random_lines(12, n_clients=100, n_lines=2000)
        table = con.create_table("invoice_lines", invoice_lines(rows))
        options = {"observation_end": D(2023, 9, 30), "calibration_end": D(2023, 3, 31)}
        engine = rfm_summary_expr(table, **options).to_pandas()
        assert_same_summary(engine, rfm_summary(invoice_lines(rows).to_pandas(), **options))
    finally:
        con.disconnect()


# --- CDNOW: the summary of the paper from the raw purchases ----------------------------------------------------


@pytest.fixture(scope="module")
def cdnow_purchases() -> pd.DataFrame:
    frame = pd.read_csv(
        shared_data("cdnow", "CDNOW_sample.txt"),
        sep=r"\s+",
        header=None,
        names=["customer_id", "client_id", "date", "number_of_cds", "revenue"],
        dtype={"customer_id": str, "client_id": str, "date": str},
    )
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame


def test_cdnow_sample_reproduces_the_published_summary(cdnow_purchases: pd.DataFrame):
    # Calibration: 1997-01-01 to 1997-09-30 (39 weeks), in weeks; T is measured to 1997-09-30.
    published = pd.read_csv(shared_data("cdnow", "cdnow_customers_summary_with_transactions.csv"))
    published = published.rename(columns={"T": "T_published"})
    ours = rfm_summary(
        cdnow_purchases, observation_end=D(1998, 6, 30), calibration_end=D(1997, 9, 30), time_unit_days=7
    )
    ours["ID"] = ours["client_id"].astype(int)
    merged = published.merge(ours, on="ID", how="left", validate="one_to_one")

    # The one convention difference: a day worth $0 is not a purchase here. Eight customers whose only purchases
    # in the calibration period were $0 are therefore not in our summary (the published one has them with x = 0).
    missing = merged[merged["frequency"].isna()]
    zero_value = cdnow_purchases[cdnow_purchases["date"] <= "1997-09-30"].groupby("client_id")["revenue"].max()
    assert len(missing) == 8
    assert (missing["x"] == 0).all()
    assert (zero_value[zero_value <= 0].index.astype(int).sort_values() == missing["ID"].sort_values()).all()

    present = merged.dropna(subset=["frequency"])
    assert len(present) == 2349
    # Same-day purchases are one purchase: frequency, recency and T agree for every other customer.
    assert (present["frequency"] == present["x"]).all()
    np.testing.assert_allclose(present["recency"], present["t_x"], atol=0.005 + 1e-9)  # file rounded to 0.01
    np.testing.assert_allclose(present["T"], present["T_published"], atol=0.005 + 1e-9)
    # zbar is the mean of the repeat purchases, rounded half up in the file.
    np.testing.assert_allclose(present["monetary_value"], present["zbar"], atol=0.005 + 1e-9)


@pytest.mark.parametrize("module", [summary, beta_geo, gamma_gamma, base, backtest], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
