"""Client features (salesfolio.analytics.features) on DuckDB: a hand-worked example, missing inputs, properties.

The example: as_of = 30 June 2024, so TTM is 1 Jul 2023 .. 30 Jun 2024, prior TTM 1 Jul 2022 .. 30 Jun 2023, the
last 24 months span 731 days (29 Feb 2024 lies inside) and the trend covers the complete months Jul 2022 (x = 0)
.. Jun 2024 (x = 23). Every expected number below is worked out by hand in the comments.

Clients: A (clients table, owner r1, full data), B (clients table, no owner_id, no cost on its lines),
C (only on invoice lines), D (clients table, no lines at all).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesfolio.analytics.features import (
    FEATURE_COLUMNS,
    FeatureWindows,
    category_revenue_expr,
    client_features,
    client_features_expr,
    feature_frame,
    features_from_warehouse,
    invoice_aggregates,
)
from salesfolio.analytics.timeseries import MonthWindow, add_months, monthly_revenue_expr
from salesfolio.contract import TABLES
from salesfolio.warehouse import Warehouse, conform

AS_OF = dt.date(2024, 6, 30)
D = dt.date


def _lines(rows: list[tuple[Any, ...]]) -> pa.Table:
    """Rows of (invoice_id, client_id, date, product_id, revenue, cost, rep_id)."""
    cols = ["invoice_id", "client_id", "date", "product_id", "revenue", "cost", "rep_id"]
    data: dict[str, list[Any]] = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    data["line_no"] = list(range(1, len(rows) + 1))
    return pa.table(data, schema=pa.schema([
        ("invoice_id", pa.string()), ("client_id", pa.string()), ("date", pa.date32()), ("product_id", pa.string()),
        ("revenue", pa.float64()), ("cost", pa.float64()), ("rep_id", pa.string()), ("line_no", pa.int64()),
    ]))  # fmt: skip


EXAMPLE_LINES = [
    # A: one purchase before the 24 months (first purchase), prior TTM A1-A3, TTM A4-A7, one line after as_of.
    ("A0", "A", D(2021, 5, 3), "p1", 200.0, 120.0, "r3"),
    ("A1", "A", D(2022, 8, 15), "p1", 1000.0, 600.0, "r3"),
    ("A1", "A", D(2022, 8, 15), "p2", 500.0, 300.0, "r3"),
    ("A2", "A", D(2022, 11, 10), "p3", 400.0, None, "r3"),
    ("A3", "A", D(2023, 2, 20), "p1", 600.0, 360.0, "r3"),
    ("A4", "A", D(2023, 9, 5), "p1", 800.0, 560.0, "r3"),
    ("A4", "A", D(2023, 9, 5), "p2", 200.0, None, "r3"),
    ("A5", "A", D(2023, 12, 1), "p1", 300.0, 210.0, "r3"),
    ("A5", "A", D(2023, 12, 1), "p1", -100.0, -70.0, "r3"),  # a return on an order
    ("A6", "A", D(2024, 1, 15), "p2", -200.0, -120.0, "r3"),  # a credit note: not an order
    ("A7", "A", D(2024, 4, 10), "p1", 500.0, 350.0, "r3"),
    ("A8", "A", D(2024, 7, 2), "p1", 999.0, 1.0, "r3"),  # after as_of: invisible
    # B: no cost anywhere; reps r2 (300 + 50) and r3 (300 + 100) in TTM -> derived owner r3.
    ("B1", "B", D(2024, 2, 10), "p1", 300.0, None, "r2"),
    ("B1", "B", D(2024, 2, 10), "p2", 300.0, None, "r3"),
    ("B2", "B", D(2024, 5, 5), "p1", 100.0, None, "r3"),
    ("B3", "B", D(2024, 6, 1), "p4", 50.0, None, "r2"),  # p4 has no category
    # C: not in clients; TTM revenue r1 200 = r2 200 -> tie goes to the smaller rep_id, r1.
    ("C0", "C", D(2023, 3, 1), "p3", 100.0, 50.0, "r1"),
    ("C1", "C", D(2023, 12, 15), "p3", 200.0, 100.0, "r2"),
    ("C2", "C", D(2024, 1, 10), "p3", 200.0, 150.0, "r1"),
]


def example_arrow_tables() -> dict[str, pa.Table]:
    """The worked example as Arrow tables conformed to the data contract (shared with the backend tests)."""
    raw = {
        "clients": pa.table({
            "client_id": ["A", "B", "D"], "name": ["Alfa", "Beta", "Delta"], "industry": ["metal", None, "food"],
            "owner_id": ["r1", None, "r2"], "region": ["north", "south", None],
        }),
        "reps": pa.table({"rep_id": ["r1", "r2", "r3"]}),
        "products": pa.table({
            "product_id": ["p1", "p2", "p3", "p4"], "category": ["tools", "paint", "wood", None],
        }),
        "invoice_lines": _lines(EXAMPLE_LINES),
        "cost_to_serve": pa.table({
            "client_id": ["A", "A", "A", "A"],
            "period": [D(2023, 6, 1), D(2023, 7, 1), D(2024, 6, 1), D(2024, 7, 1)],
            "kind": ["logistics"] * 4,
            "amount": [50.0, 100.0, 40.0, 999.0],
        }),
        "assessments": pa.table({
            "client_id": ["A", "A", "A", "D"],
            "period": [D(2023, 1, 1), D(2024, 1, 1), D(2024, 7, 1), D(2024, 4, 1)],
            "potential": [5000.0, 6000.0, 9999.0, 1000.0],
            "relationship": [3, 4, 1, 2],
            "strategic_fit": [4, 5, 1, 3],
        }),
        "opportunities": pa.table({
            "opportunity_id": ["o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8", "o9", "o10"],
            "client_id": ["A", "A", "A", "A", "A", "A", "A", "D", None, "E"],
            "stage": ["s"] * 10,
            "value": [1000.0, 2000.0, 300.0, 100.0, 100.0, 400.0, 5000.0, 700.0, 50.0, 60.0],
            "probability": [0.5, 0.25, 1.0, 0.0, 0.0, 0.8, 0.9, 0.0, 0.5, 0.5],
            "created": [D(2024, 5, 1), D(2024, 2, 1), D(2023, 6, 1), D(2023, 11, 1), D(2021, 10, 1),
                        D(2024, 6, 1), D(2024, 7, 10), D(2023, 12, 1), D(2024, 1, 1), D(2024, 1, 1)],
            "closed": [None, None, D(2023, 10, 1), D(2024, 2, 1), D(2022, 1, 15), D(2024, 8, 1), None,
                       D(2024, 3, 1), None, None],
            "won": [None, None, True, False, False, True, None, False, None, None],
        }),
        "activities": pa.table({
            "client_id": ["A", "A", "A"],
            "rep_id": ["r1", "r1", "r1"],
            "date": [D(2023, 8, 1), D(2024, 5, 5), D(2023, 6, 15)],
            "kind": ["visit", "call", "visit"],
            "hours": [2.0, 3.5, 10.0],
        }),
    }  # fmt: skip
    return {name: conform(table, TABLES[name]) for name, table in raw.items()}


def duckdb_tables(arrow: dict[str, pa.Table]) -> dict[str, ibis.Table]:
    con = ibis.duckdb.connect()
    return {name: con.create_table(name, table) for name, table in arrow.items()}


@pytest.fixture(scope="module")
def example() -> pd.DataFrame:
    result = client_features(duckdb_tables(example_arrow_tables()), AS_OF)
    return result.frame.set_index("client_id")


def _trend_by_ols(monthly: dict[int, float]) -> float:
    """Independent check: OLS on the full 24-month grid (empty months = 0) with numpy, over the mean."""
    y = np.array([monthly.get(x, 0.0) for x in range(24)])
    slope = np.polyfit(np.arange(24), y, 1)[0]
    return float(slope / y.mean())


NaN = float("nan")
EXPECTED: dict[str, dict[str, Any]] = {
    "A": {
        "name": "Alfa", "industry": "metal", "region": "north", "owner_id": "r1", "owner_source": "clients",
        "in_clients": True,
        # TTM: 800 + 200 + 300 - 100 - 200 + 500; prior: 1000 + 500 + 400 + 600
        "revenue_ttm": 1500.0, "revenue_prior_ttm": 2500.0, "growth": 1500 / 2500 - 1,
        # margin TTM over lines with cost: 240 + 90 - 30 - 80 + 150 on revenue 800 + 300 - 100 - 200 + 500
        "margin_ttm": 370.0, "margin_pct_ttm": 370 / 1300,
        # prior: 400 + 200 + 240 on 1000 + 500 + 600 (A2 has no cost)
        "margin_prior_ttm": 840.0, "margin_pct_prior_ttm": 840 / 2100, "margin_erosion": 0.4 - 370 / 1300,
        # |revenue| with cost 800 + 300 + 100 + 200 + 500 of all |revenue| 2100 (A4's 200 has no cost)
        "cost_coverage": 1900 / 2100,
        # orders: A4, A5 (net 200), A7 in TTM (A6 is a credit note); A1-A3 prior; + A0
        "orders_ttm": 3, "orders_prior_ttm": 3, "orders_total": 7,
        "first_purchase": pd.Timestamp("2021-05-03"), "last_purchase": pd.Timestamp("2024-04-10"),
        "recency_days": 81.0,  # 20 (rest of April) + 31 + 30
        "tenure_days": 1154.0,  # 3 May 2021 -> 3 May 2024 = 1096 days (one 29 Feb), + 28 + 30
        "frequency": 6 * 365 / 731,  # 6 orders over the 731 days of the last 24 months
        "avg_order_value": 500.0,
        # order dates in 24 months: 15 Aug, 10 Nov 2022, 20 Feb, 5 Sep, 1 Dec 2023, 10 Apr 2024
        # gaps 87, 102, 197, 87, 131 -> sorted 87 87 102 131 197 -> 102
        "median_gap_days": 102.0, "order_gap_ratio": 81 / 102,
        # tools TTM 800 + 300 - 100 + 500 > 0; paint TTM 200 - 200 = 0 (not bought); wood prior only
        "categories_ttm": 1.0, "categories_prior_ttm": 3.0, "lost_categories": 2.0,
        "returns_share": 300 / 1800,  # -(-100 - 200) / (800 + 200 + 300 + 500)
        # invoice revenue by month index: A1 x=1 1500, A2 x=4 400, A3 x=7 600, A4 x=14 1000, A5 x=17 200,
        # A6 x=18 -200, A7 x=21 500: Sy = 4000, Sxy = 31600; 24 (24 Sxy - 276 Sy) / (27600 Sy)
        "trend_slope": 24 * (24 * 31600 - 276 * 4000) / (27600 * 4000),
        # periods 1 Jul 2023 (inside: the TTM starts after 30 Jun 2023) and 1 Jun 2024
        "cost_to_serve_ttm": 140.0, "net_contribution": 370.0 - 140.0,
        "potential": 6000.0, "relationship": 4.0, "strategic_fit": 5.0,  # 1 Jan 2024; 1 Jul 2024 is too late
        "share_of_wallet": 0.25, "headroom": 4500.0,
        # open at as_of: o1 500, o2 500, o6 (closes after as_of) 320; o7 is created after as_of
        "pipeline_weighted": 1320.0, "pipeline_open": 3.0,
        "win_rate": 0.5,  # o3 won, o4 lost; o5 closed before the 24 months
        "days_since_last_opportunity": 29.0,  # o6 created 1 Jun 2024
        "hours_ttm": 5.5,
    },
    "B": {
        "name": "Beta", "industry": None, "region": "south", "owner_id": "r3", "owner_source": "invoice_lines",
        "in_clients": True,
        "revenue_ttm": 750.0, "revenue_prior_ttm": 0.0, "growth": NaN,
        "margin_ttm": NaN, "margin_prior_ttm": NaN, "margin_pct_ttm": NaN, "margin_pct_prior_ttm": NaN,
        "margin_erosion": NaN, "cost_coverage": 0.0,
        "orders_ttm": 3, "orders_prior_ttm": 0, "orders_total": 3,
        "first_purchase": pd.Timestamp("2024-02-10"), "last_purchase": pd.Timestamp("2024-06-01"),
        "recency_days": 29.0, "tenure_days": 141.0,  # 19 + 31 + 30 + 31 + 30
        "frequency": 3 * 365 / 141,
        "avg_order_value": 250.0,
        "median_gap_days": 56.0,  # gaps 85 (10 Feb -> 5 May) and 27 (5 May -> 1 Jun): mean of the two
        "order_gap_ratio": 29 / 56,
        "categories_ttm": 2.0, "categories_prior_ttm": 0.0, "lost_categories": 0.0,  # p4 has no category
        "returns_share": 0.0,
        "trend_slope": 24 * (24 * 14750 - 276 * 750) / (27600 * 750),  # x=19 600, x=22 100, x=23 50
        "cost_to_serve_ttm": 0.0, "net_contribution": NaN,
        "potential": NaN, "relationship": NaN, "strategic_fit": NaN, "share_of_wallet": NaN, "headroom": NaN,
        "pipeline_weighted": 0.0, "pipeline_open": 0.0, "win_rate": NaN, "days_since_last_opportunity": NaN,
        "hours_ttm": 0.0,
    },
    "C": {
        "name": "C", "industry": None, "region": None, "owner_id": "r1", "owner_source": "invoice_lines",
        "in_clients": False,
        "revenue_ttm": 400.0, "revenue_prior_ttm": 100.0, "growth": 3.0,
        "margin_ttm": 150.0, "margin_prior_ttm": 50.0, "margin_pct_ttm": 0.375, "margin_pct_prior_ttm": 0.5,
        "margin_erosion": 0.125, "cost_coverage": 1.0,
        "orders_ttm": 2, "orders_prior_ttm": 1, "orders_total": 3,
        "first_purchase": pd.Timestamp("2023-03-01"), "last_purchase": pd.Timestamp("2024-01-10"),
        "recency_days": 172.0,  # 21 + 29 + 31 + 30 + 31 + 30
        "tenure_days": 487.0,  # 1 Mar 2023 -> 1 Mar 2024 = 366, + 31 + 30 + 31 + 29
        "frequency": 3 * 365 / 487,
        "avg_order_value": 200.0,
        "median_gap_days": 157.5,  # gaps 289 and 26
        "order_gap_ratio": 172 / 157.5,
        "categories_ttm": 1.0, "categories_prior_ttm": 1.0, "lost_categories": 0.0,
        "returns_share": 0.0,
        "trend_slope": 24 * (24 * 7800 - 276 * 500) / (27600 * 500),  # x=8 100, x=17 200, x=18 200
        "cost_to_serve_ttm": 0.0, "net_contribution": 150.0,
        "potential": NaN, "relationship": NaN, "strategic_fit": NaN, "share_of_wallet": NaN, "headroom": NaN,
        "pipeline_weighted": 0.0, "pipeline_open": 0.0, "win_rate": NaN, "days_since_last_opportunity": NaN,
        "hours_ttm": 0.0,
    },
    "D": {
        "name": "Delta", "industry": "food", "region": None, "owner_id": "r2", "owner_source": "clients",
        "in_clients": True,
        "revenue_ttm": 0.0, "revenue_prior_ttm": 0.0, "growth": NaN,
        "margin_ttm": NaN, "margin_prior_ttm": NaN, "margin_pct_ttm": NaN, "margin_pct_prior_ttm": NaN,
        "margin_erosion": NaN, "cost_coverage": NaN,
        "orders_ttm": 0, "orders_prior_ttm": 0, "orders_total": 0,
        "first_purchase": pd.NaT, "last_purchase": pd.NaT,
        "recency_days": NaN, "tenure_days": NaN, "frequency": NaN, "avg_order_value": NaN,
        "median_gap_days": NaN, "order_gap_ratio": NaN,
        "categories_ttm": 0.0, "categories_prior_ttm": 0.0, "lost_categories": 0.0,
        "returns_share": NaN, "trend_slope": NaN,
        "cost_to_serve_ttm": 0.0, "net_contribution": NaN,
        "potential": 1000.0, "relationship": 2.0, "strategic_fit": 3.0, "share_of_wallet": 0.0, "headroom": 1000.0,
        "pipeline_weighted": 0.0, "pipeline_open": 0.0,
        "win_rate": 0.0,  # o8 lost on 1 Mar 2024
        "days_since_last_opportunity": 212.0,  # 1 Dec 2023 -> 30 Jun 2024: 31 + 31 + 29 + 31 + 30 + 31 + 29
        "hours_ttm": 0.0,
    },
}  # fmt: skip


def _same(actual: Any, expected: Any) -> bool:
    if expected is None:
        return actual is None or (isinstance(actual, float) and math.isnan(actual))
    if expected is pd.NaT:
        return actual is pd.NaT
    if isinstance(expected, float):
        if math.isnan(expected):
            return isinstance(actual, float) and math.isnan(actual)
        return bool(actual == pytest.approx(expected, rel=1e-12, abs=1e-12))
    return bool(actual == expected)


@pytest.mark.parametrize("client", ["A", "B", "C", "D"])
def test_worked_example(example: pd.DataFrame, client: str):
    row = example.loc[client]
    wrong = {col: (row[col], want) for col, want in EXPECTED[client].items() if not _same(row[col], want)}
    assert wrong == {}


def test_example_has_one_row_per_client_in_spec_order(example: pd.DataFrame):
    # E has only an opportunity, o9 no client at all: neither is a client of the frame
    assert list(example.index) == ["A", "B", "C", "D"]
    assert ["client_id", *example.columns] == list(FEATURE_COLUMNS)


def test_trend_slope_counts_empty_months_as_zero(example: pd.DataFrame):
    monthly_a = {1: 1500.0, 4: 400.0, 7: 600.0, 14: 1000.0, 17: 200.0, 18: -200.0, 21: 500.0}
    assert example.loc["A", "trend_slope"] == pytest.approx(_trend_by_ols(monthly_a), rel=1e-12)
    assert example.loc["A", "trend_slope"] == pytest.approx(-0.0751304347826087, rel=1e-12)
    # B bought only in the last five months of 24: rising. A regression over the three months with purchases
    # alone (x = 19, 22, 23) would call it falling.
    monthly_b = {19: 600.0, 22: 100.0, 23: 50.0}
    assert example.loc["B", "trend_slope"] == pytest.approx(_trend_by_ols(monthly_b), rel=1e-12)
    assert example.loc["B", "trend_slope"] == pytest.approx(0.17043478260869566, rel=1e-12)
    assert np.polyfit(list(monthly_b), list(monthly_b.values()), 1)[0] < 0


def test_dtypes(example: pd.DataFrame):
    frame = example.reset_index()
    assert frame["orders_ttm"].dtype == np.int64
    assert frame["revenue_ttm"].dtype == np.float64
    assert frame["categories_ttm"].dtype == np.float64
    assert frame["in_clients"].dtype == bool
    assert frame["first_purchase"].dtype == "datetime64[s]"
    assert pd.api.types.is_string_dtype(frame["name"])


def test_example_warnings():
    result = client_features(duckdb_tables(example_arrow_tables()), AS_OF)
    assert result.warnings == [
        "1 client appears on invoice lines but not in clients: its name is the client ID",
        "cost missing on part of the invoice lines of 2 clients: margins use the lines with cost (see cost_coverage)",
        "owner derived from invoice lines for 2 clients without owner_id (the rep with most TTM revenue)",
    ]


def test_only_invoice_lines_without_cost():
    arrow = example_arrow_tables()
    lines = arrow["invoice_lines"].set_column(7, "cost", pa.nulls(len(EXAMPLE_LINES), pa.float64()))
    result = client_features(duckdb_tables({"invoice_lines": lines}), AS_OF)
    frame = result.frame.set_index("client_id")
    assert list(frame.index) == ["A", "B", "C"]
    assert result.warnings == [
        "no clients table: names are client IDs and client attributes are empty",
        "no cost on invoice lines: margin features are empty",
        "no product categories: category features are empty",
        "no assessments: potential, share of wallet and headroom are empty",
        "no opportunities: pipeline features are empty",
        "no cost_to_serve: net contribution equals margin",
        "no activities: hours are empty",
        "owner derived from invoice lines for 3 clients without owner_id (the rep with most TTM revenue)",
    ]
    assert frame.loc["A", "owner_id"] == "r3" and frame.loc["C", "owner_id"] == "r1"
    assert frame.loc["A", "revenue_ttm"] == 1500.0 and frame.loc["A", "name"] == "A"
    empty = ["margin_ttm", "margin_pct_ttm", "net_contribution", "categories_ttm", "lost_categories",
             "potential", "share_of_wallet", "headroom", "pipeline_weighted", "pipeline_open", "win_rate",
             "cost_to_serve_ttm", "hours_ttm"]  # fmt: skip
    assert frame[empty].isna().all().all()
    assert (frame["cost_coverage"] == 0.0).all()


def test_assessments_without_potential_and_a_client_without_owner():
    arrow = example_arrow_tables()
    arrow["assessments"] = arrow["assessments"].set_column(
        2, "potential", pa.nulls(arrow["assessments"].num_rows, pa.float64())
    )
    arrow["invoice_lines"] = arrow["invoice_lines"].set_column(8, "rep_id", pa.nulls(len(EXAMPLE_LINES), pa.string()))
    warnings = client_features(duckdb_tables(arrow), AS_OF).warnings
    assert "no potential in assessments: share of wallet and headroom are empty" in warnings
    assert "2 clients have no owner" in warnings  # B and C: no owner_id and no rep on their lines


def test_empty_inputs_give_an_empty_frame():
    result = client_features({}, AS_OF)
    assert result.frame.empty
    assert list(result.frame.columns) == list(FEATURE_COLUMNS)
    assert result.warnings == ["no clients and no invoice lines up to as_of: the feature frame is empty"]


def test_warehouse_with_only_clients_and_lines(tmp_path):
    arrow = example_arrow_tables()
    with Warehouse.connect("duckdb://") as wh:
        wh.replace("clients", arrow["clients"])
        wh.replace("invoice_lines", arrow["invoice_lines"])
        result = features_from_warehouse(wh, AS_OF)
    frame = result.frame.set_index("client_id")
    assert list(frame.index) == ["A", "B", "C", "D"]
    assert frame.loc["A", "margin_ttm"] == 370.0
    assert math.isnan(frame.loc["A", "pipeline_weighted"]) and math.isnan(frame.loc["D", "hours_ttm"])
    assert "no opportunities: pipeline features are empty" in result.warnings


def test_lines_after_as_of_and_a_new_client_are_invisible():
    arrow = example_arrow_tables()
    later = _lines([("Z1", "Z", D(2024, 7, 1), "p1", 10.0, 5.0, "r1")])
    arrow["invoice_lines"] = pa.concat_tables([arrow["invoice_lines"], conform(later, TABLES["invoice_lines"])])
    frame = client_features(duckdb_tables(arrow), AS_OF).frame
    assert "Z" not in set(frame.client_id)


def test_input_errors():
    arrow = example_arrow_tables()
    con = ibis.duckdb.connect()
    lines = con.create_table("invoice_lines", arrow["invoice_lines"].drop_columns(["cost", "rep_id"]))
    with pytest.raises(ValueError, match=r"^table 'invoice_lines' lacks contract column\(s\): cost, rep_id$"):
        client_features_expr({"invoice_lines": lines}, AS_OF)
    with pytest.raises(TypeError, match=r"^as_of must be a date, got str$"):
        client_features_expr({}, "2024-06-30")  # type: ignore[arg-type]


def test_datetime_as_of_is_cut_to_its_date(example: pd.DataFrame):
    frame = client_features(duckdb_tables(example_arrow_tables()), dt.datetime(2024, 6, 30, 23, 59)).frame
    assert frame.set_index("client_id").loc["A", "revenue_ttm"] == example.loc["A", "revenue_ttm"]


# -- windows ------------------------------------------------------------------------------------------------------
def test_windows_in_calendar_months():
    w = FeatureWindows.at(AS_OF)
    assert (w.ttm_start, w.prior_start, w.span_days) == (D(2023, 6, 30), D(2022, 6, 30), 731)
    assert add_months(D(2024, 3, 31), -1) == D(2024, 2, 29)
    assert add_months(D(2023, 1, 31), 13) == D(2024, 2, 29)
    mid = MonthWindow.ending_at(D(2024, 6, 15), 24)  # June is not complete: the window ends in May
    assert (mid.first_day, mid.last_day, mid.start_number) == (D(2022, 6, 1), D(2024, 5, 31), 2022 * 12 + 5)
    end = MonthWindow.ending_at(D(2024, 2, 29), 3)
    assert (end.first_day, end.last_day) == (D(2023, 12, 1), D(2024, 2, 29))
    with pytest.raises(ValueError, match=r"^a month window needs at least 2 months, got 1$"):
        MonthWindow.ending_at(AS_OF, 1)


def test_monthly_revenue_expr():
    tables = duckdb_tables(example_arrow_tables())
    frame = monthly_revenue_expr(tables["invoice_lines"], AS_OF).execute()
    a = frame[frame.client_id == "A"]
    assert list(a.month.dt.strftime("%Y-%m")) == ["2022-08", "2022-11", "2023-02", "2023-09", "2023-12", "2024-01",
                                                   "2024-04"]  # fmt: skip
    assert list(a.revenue) == [1500.0, 400.0, 600.0, 1000.0, 200.0, -200.0, 500.0]
    # margin over lines with cost: A2 has none -> null; A4 only its costed line 800 - 560
    assert list(a.margin.fillna(-1.0)) == [600.0, -1.0, 240.0, 240.0, 60.0, -80.0, 150.0]
    short = monthly_revenue_expr(tables["invoice_lines"], AS_OF, months=3).execute()
    # the last 3 complete months: April (A7) .. June 2024
    assert list(short.client_id) == ["A", "B", "B"] and list(short.revenue) == [500.0, 100.0, 50.0]


def test_category_revenue_expr():
    tables = duckdb_tables(example_arrow_tables())
    expr = category_revenue_expr(tables["invoice_lines"], tables["products"], D(2023, 9, 5), D(2024, 2, 10))
    frame = expr.execute().sort_values(["client_id", "category"])
    # both ends inclusive: A4 (5 Sep) .. B1 (10 Feb); p4 (no category) and A2 (before) left out
    assert frame.values.tolist() == [
        ["A", "paint", 0.0],  # 200 - 200
        ["A", "tools", 1000.0],  # 800 + 300 - 100
        ["B", "paint", 300.0],
        ["B", "tools", 300.0],
        ["C", "wood", 400.0],
    ]


def _sqlite_tables(arrow: dict[str, pa.Table]) -> dict[str, ibis.Table]:
    con = ibis.sqlite.connect()
    return {name: con.create_table(name, table) for name, table in arrow.items()}


def _spark_compiler() -> bool:
    """Load Ibis's Spark backend (it registers the options its compiler reads) when pyspark is installed."""
    if importlib.util.find_spec("pyspark") is None:
        return False
    ibis.pyspark  # noqa: B018 - the attribute access loads the backend
    return True


def test_expression_compiles_for_every_backend():
    """Each engine gets the expression built on its own tables: the median gap by aggregate where it has one.

    DuckDB, PostgreSQL and Spark compute the exact median as an aggregate; SQLite has none and gets the portable
    window form. An expression over in-memory tables only (bound to no engine yet) is the portable one and
    compiles everywhere.
    """
    arrow = example_arrow_tables()
    on_duckdb = client_features_expr(duckdb_tables(arrow), AS_OF)
    on_sqlite = client_features_expr(_sqlite_tables(arrow), AS_OF)
    unbound = client_features_expr({name: ibis.memtable(table) for name, table in arrow.items()}, AS_OF)
    for expr, dialect, median in (
        (on_duckdb, "duckdb", "QUANTILE_CONT("),
        (on_duckdb, "postgres", "PERCENTILE_CONT(0.5) WITHIN GROUP"),
        *([(on_duckdb, "pyspark", "PERCENTILE(")] if _spark_compiler() else []),
        (on_sqlite, "sqlite", "ROW_NUMBER()"),
        (unbound, "duckdb", "ROW_NUMBER()"),
        (unbound, "sqlite", "ROW_NUMBER()"),
        (unbound, "postgres", "ROW_NUMBER()"),
    ):
        sql = ibis.to_sql(expr, dialect=dialect).upper()
        assert "COUNT(DISTINCT" not in sql
        assert median in sql, (dialect, median)
    with pytest.raises(ibis.common.exceptions.OperationNotDefinedError, match="Median"):
        ibis.to_sql(on_duckdb, dialect="sqlite")  # why SQLite needs its own expression


# -- properties ---------------------------------------------------------------------------------------------------
_day = st.dates(min_value=D(2021, 6, 1), max_value=D(2024, 9, 30))
_line = st.tuples(
    st.integers(0, 7),  # invoice number
    st.sampled_from(["k1", "k2", "k3"]),
    _day,
    st.sampled_from(["p1", "p2", "p3", None]),
    st.floats(-500, 2000, allow_nan=False).map(lambda x: round(x, 2)),
    st.one_of(st.none(), st.floats(0, 1000, allow_nan=False)),
    st.sampled_from(["r1", "r2", None]),
)


def _as_lines(rows: list[tuple[Any, ...]], prefix: str) -> pa.Table:
    # an invoice belongs to one client and date: key it by all three
    keyed = [(f"{prefix}{r[0]}-{r[1]}-{r[2]:%Y%m%d}", *r[1:]) for r in rows]
    return conform(_lines(keyed), TABLES["invoice_lines"])


class CompiledFeatures:
    """The feature query compiled once against fixed DuckDB tables; each run swaps the invoice lines in.

    Hypothesis runs dozens of examples: recompiling the Ibis expression for each would take most of the time,
    the query itself takes milliseconds. This runs exactly the SQL :func:`client_features` runs.
    """

    def __init__(self) -> None:
        self.con = ibis.duckdb.connect()
        for name, spec in TABLES.items():
            self.con.create_table(name, spec.arrow_schema.empty_table())
        self.con.create_table("products", example_arrow_tables()["products"], overwrite=True)
        self.sql = ibis.to_sql(client_features_expr({name: self.con.table(name) for name in TABLES}, AS_OF))

    def run(self, lines: pa.Table) -> pd.DataFrame:
        self.con.create_table("invoice_lines", lines, overwrite=True)
        return feature_frame(self.con.raw_sql(self.sql).df()).set_index("client_id")


@pytest.fixture(scope="module")
def compiled() -> CompiledFeatures:
    return CompiledFeatures()


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(_line, min_size=1, max_size=40))
def test_revenue_ttm_is_the_sum_of_lines_in_the_window(compiled: CompiledFeatures, rows: list[tuple[Any, ...]]):
    frame = compiled.run(_as_lines(rows, "i"))
    start = D(2023, 6, 30)
    for client in frame.index:
        in_window = [r for r in rows if r[1] == client and start < r[2] <= AS_OF]
        assert frame.loc[client, "revenue_ttm"] == pytest.approx(sum(r[4] for r in in_window), abs=1e-6)
        # returns share straight from the lines' signs (the query derives it from net and absolute sums)
        sales, returns = sum(r[4] for r in in_window if r[4] > 0), sum(r[4] for r in in_window if r[4] < 0)
        share = frame.loc[client, "returns_share"]
        assert math.isnan(share) if sales <= 0 else share == pytest.approx(-returns / sales, rel=1e-9, abs=1e-12)
        invoices: dict[str, float] = {}
        for r in in_window:
            key = f"{r[0]}-{r[2]}"
            invoices[key] = invoices.get(key, 0.0) + r[4]
        assert frame.loc[client, "orders_ttm"] == sum(1 for net in invoices.values() if net > 0)
    assert set(frame.index) == {r[1] for r in rows if r[2] <= AS_OF}


_other_line = _line.map(lambda r: (r[0], {"k1": "m1", "k2": "m2", "k3": "m3"}[r[1]], *r[2:]))


@settings(max_examples=25, deadline=None)
@given(a_rows=st.lists(_line, min_size=1, max_size=30), b_rows=st.lists(_other_line, min_size=1, max_size=30))
def test_adding_clients_never_changes_other_clients(
    compiled: CompiledFeatures, a_rows: list[tuple[Any, ...]], b_rows: list[tuple[Any, ...]]
):
    a_lines = _as_lines(a_rows, "a")
    alone = compiled.run(a_lines)
    joint = compiled.run(pa.concat_tables([a_lines, _as_lines(b_rows, "b")]))
    assert set(joint.index) - set(alone.index) == {r[1] for r in b_rows if r[2] <= AS_OF}
    pd.testing.assert_frame_equal(joint.loc[alone.index], alone, check_exact=False, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("as_of", [AS_OF, D(2023, 12, 31)])
def test_materialised_invoices_give_the_frame_of_the_lines(as_of: dt.date):
    """Sums from the lines (the default) and from materialised invoice_aggregates (the churn cut-offs) agree."""
    tables = duckdb_tables(example_arrow_tables())
    invoices = invoice_aggregates(tables["invoice_lines"], AS_OF).cache()
    from_lines = client_features(tables, as_of)
    from_invoices = client_features(tables, as_of, invoices=invoices)
    pd.testing.assert_frame_equal(from_invoices.frame, from_lines.frame, check_exact=False, rtol=1e-12, atol=1e-12)
    assert from_invoices.warnings == from_lines.warnings
    assert set(invoices.columns) == {
        "client_id", "invoice_id", "date", "revenue", "margin", "revenue_costed", "absolute", "absolute_costed",
    }  # fmt: skip
