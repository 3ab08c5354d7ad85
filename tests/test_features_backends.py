"""The client features give the same frame on every backend we claim: DuckDB, SQLite and PostgreSQL.

The worked example of test_features.py (checked there number by number on DuckDB) is loaded into each backend;
the frames must be equal, floats within 1e-9. SQLite has no median aggregate: there the median gap is computed
with window functions (``portable_median``), elsewhere by the engine's median; both are checked here against the
median of the gaps computed in Python.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
import uuid
from collections.abc import Iterator
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from salesfolio.analytics.features import (
    category_revenue_expr,
    client_features,
    client_features_expr,
    feature_frame,
    features_from_warehouse,
)
from salesfolio.analytics.timeseries import engine_has_median, median_gap_expr, monthly_revenue_expr
from salesfolio.warehouse import Warehouse
from test_features import AS_OF, example_arrow_tables

BACKENDS = ["duckdb", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def con(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "duckdb":
        backend = ibis.duckdb.connect()
    elif request.param == "sqlite":
        backend = ibis.sqlite.connect()
    else:
        request.getfixturevalue("pg_server")  # skips when the server is down, fails in CI
        schema = f"features_{uuid.uuid4().hex[:10]}"
        admin = ibis.postgres.connect(host="127.0.0.1", port=5432, database="test", user="root")
        admin.raw_sql(f'CREATE SCHEMA "{schema}"')
        backend = ibis.postgres.connect(host="127.0.0.1", port=5432, database="test", user="root", schema=schema)
        request.addfinalizer(lambda: _drop_schema(admin, schema))
    yield backend
    backend.disconnect()


def _drop_schema(admin: Any, schema: str) -> None:
    admin.raw_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    admin.disconnect()


def _load(con: Any, arrow: dict[str, pa.Table]) -> dict[str, ibis.Table]:
    return {name: con.create_table(name, table) for name, table in arrow.items()}


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    duck = ibis.duckdb.connect()
    return client_features(_load(duck, example_arrow_tables()), AS_OF).frame


def test_same_frame_on_every_backend(con: Any, reference: pd.DataFrame):
    result = client_features(_load(con, example_arrow_tables()), AS_OF)
    pd.testing.assert_frame_equal(result.frame, reference, check_exact=False, rtol=1e-9, atol=1e-9)
    assert result.frame.loc[result.frame.client_id == "A", "median_gap_days"].item() == 102.0
    assert len(result.warnings) == 3


def test_missing_tables_are_empty_memtables(con: Any):
    arrow = example_arrow_tables()
    result = client_features(_load(con, {"invoice_lines": arrow["invoice_lines"]}), AS_OF)
    frame = result.frame.set_index("client_id")
    assert list(frame.index) == ["A", "B", "C"]
    assert frame.loc["A", "revenue_ttm"] == 1500.0 and frame.loc["C", "owner_id"] == "r1"
    assert frame["pipeline_weighted"].isna().all() and frame["categories_ttm"].isna().all()
    assert "no opportunities: pipeline features are empty" in result.warnings


def test_monthly_and_category_revenue(con: Any):
    tables = _load(con, example_arrow_tables())
    monthly = monthly_revenue_expr(tables["invoice_lines"], AS_OF).execute()
    a = monthly[monthly.client_id == "A"]
    assert list(pd.to_datetime(a.month).dt.strftime("%Y-%m")) == [
        "2022-08", "2022-11", "2023-02", "2023-09", "2023-12", "2024-01", "2024-04",
    ]  # fmt: skip
    assert list(a.revenue) == [1500.0, 400.0, 600.0, 1000.0, 200.0, -200.0, 500.0]
    expr = category_revenue_expr(tables["invoice_lines"], tables["products"], dt.date(2023, 9, 5), AS_OF)
    cats = expr.execute().sort_values(["client_id", "category"])
    assert cats.values.tolist() == [
        ["A", "paint", 0.0], ["A", "tools", 1500.0], ["B", "paint", 300.0], ["B", "tools", 400.0],
        ["C", "wood", 400.0],
    ]  # fmt: skip


def test_warehouse_on_sqlite_file(tmp_path, reference: pd.DataFrame):
    arrow = example_arrow_tables()
    with Warehouse.connect("sqlite:///features.db", base_dir=tmp_path) as wh:
        for name, table in arrow.items():
            wh.replace(name, table)
        result = features_from_warehouse(wh, AS_OF)
    pd.testing.assert_frame_equal(result.frame, reference, check_exact=False, rtol=1e-9, atol=1e-9)


def _random_orders(seed: int = 7) -> pa.Table:
    """Order rows (client_id, date) of 120 clients: 0 to 12 orders each, same-day repeats, odd and even counts."""
    rng = np.random.default_rng(seed)
    clients, days = [], []
    for k in range(120):
        n = int(rng.integers(0, 13))
        clients += [f"c{k:03d}"] * n
        days += [dt.date(2023, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 700, n)]
    return pa.table({"client_id": pa.array(clients, pa.string()), "date": pa.array(days, pa.date32())})


def _median_gaps_in_python(orders: pa.Table, min_orders: int) -> dict[str, float]:
    by_client: dict[str, set[dt.date]] = {}
    for client, day in zip(orders["client_id"].to_pylist(), orders["date"].to_pylist(), strict=True):
        by_client.setdefault(client, set()).add(day)
    out = {}
    for client, dates in by_client.items():
        ordered = sorted(dates)
        if len(ordered) >= min_orders:
            out[client] = float(statistics.median((b - a).days for a, b in itertools.pairwise(ordered)))
    return out


@pytest.mark.parametrize("min_orders", [2, 3])
def test_median_gap_by_aggregate_and_by_windows_equal_python(con: Any, min_orders: int):
    orders = con.create_table("orders", _random_orders())
    expected = _median_gaps_in_python(_random_orders(), min_orders)
    assert 50 < len(expected) < 120  # some clients have too few order dates
    methods = ["window", "aggregate", "auto"] if con.name != "sqlite" else ["window", "auto"]
    assert engine_has_median(orders) == (con.name != "sqlite")
    for method in methods:
        frame = median_gap_expr(orders, min_orders, method=method).execute()
        got = dict(zip(frame.client_id, frame.median_gap_days.astype(float), strict=True))
        assert got == pytest.approx(expected, rel=1e-12), method


def test_median_gap_method_is_checked():
    orders = ibis.memtable(_random_orders())
    assert not engine_has_median(orders)  # bound to no engine: the portable form
    with pytest.raises(ValueError, match="method must be 'auto', 'aggregate' or 'window'"):
        median_gap_expr(orders, method="exact")  # type: ignore[arg-type]


def test_arrow_result_equals_ibis_execute(con: Any):
    """client_features converts the engine's Arrow result itself; Ibis's execute (via Python objects) agrees."""
    tables = _load(con, example_arrow_tables())
    expr = client_features_expr(tables, AS_OF)
    through_execute = feature_frame(expr.execute())
    pd.testing.assert_frame_equal(client_features(tables, AS_OF).frame, through_execute, check_exact=True)
