"""The client features give the same frame on every backend we claim: DuckDB, SQLite and PostgreSQL.

The worked example of test_features.py (checked there number by number on DuckDB) is loaded into each backend;
the frames must be equal, floats within 1e-9. SQLite has no median: the median gap is computed portably with
window functions on every backend, so there is no known gap to mark.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa
import pytest

from salesfolio.analytics.features import category_revenue_expr, client_features, features_from_warehouse
from salesfolio.analytics.timeseries import monthly_revenue_expr
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
