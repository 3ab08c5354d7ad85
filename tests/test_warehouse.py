"""The warehouse's load semantics on every backend we claim: DuckDB, SQLite, PostgreSQL."""

import datetime as dt
import uuid
from collections.abc import Iterator

import ibis
import pyarrow as pa
import pytest

from salesfolio.warehouse import Warehouse, WarehouseError, conform

BACKENDS = ["duckdb", "sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def wh(request: pytest.FixtureRequest, tmp_path) -> Iterator[Warehouse]:
    if request.param == "duckdb":
        w = Warehouse.connect("duckdb:///wh.duckdb", base_dir=tmp_path)
    elif request.param == "sqlite":
        w = Warehouse.connect("sqlite:///wh.db", base_dir=tmp_path)
    else:
        request.getfixturevalue("pg_server")
        import psycopg

        name = f"salesfolio_wh_{uuid.uuid4().hex[:10]}"
        with psycopg.connect("host=127.0.0.1 user=root dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        w = Warehouse(ibis.postgres.connect(host="127.0.0.1", port=5432, user="root", database=name), "postgres")
        request.addfinalizer(lambda: _drop_pg(name))
    yield w
    w.close()


def _drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=root dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def lines(*rows: tuple[str, int, str, float]) -> pa.Table:
    return pa.table(
        {
            "invoice_id": [r[0] for r in rows],
            "line_no": [r[1] for r in rows],
            "client_id": [r[2] for r in rows],
            "date": [dt.date(2024, 1, 5)] * len(rows),
            "revenue": [r[3] for r in rows],
        }
    )


def revenue_by_invoice(w: Warehouse) -> dict[str, float]:
    t = w.table("invoice_lines")
    df = t.group_by("invoice_id").aggregate(r=t.revenue.sum()).execute()
    return dict(zip(df["invoice_id"], df["r"], strict=True))


def test_not_loaded_table_is_empty_with_contract_schema(wh: Warehouse):
    assert not wh.has("clients")
    assert wh.row_count("clients") == 0
    assert wh.table("clients").count().execute() == 0
    assert "owner_id" in wh.table("clients").columns


def test_upsert_inserts_then_replaces_by_key(wh: Warehouse):
    wh.upsert("clients", pa.table({"client_id": ["a", "b"], "name": ["A", "B"]}))
    wh.upsert("clients", pa.table({"client_id": ["b", "c"], "name": ["B2", "C"]}))
    df = wh.table("clients").order_by("client_id").execute()
    assert list(df["client_id"]) == ["a", "b", "c"]
    assert list(df["name"]) == ["A", "B2", "C"]


def test_invoice_is_replaced_whole(wh: Warehouse):
    wh.upsert("invoice_lines", lines(("F1", 1, "a", 10.0), ("F1", 2, "a", 5.0), ("F2", 1, "b", 7.0)))
    # A corrected re-export of F1 with one line: the old second line must not survive.
    wh.upsert("invoice_lines", lines(("F1", 1, "a", 12.0)))
    assert revenue_by_invoice(wh) == {"F1": 12.0, "F2": 7.0}
    assert wh.row_count("invoice_lines") == 2


def test_reimport_is_idempotent(wh: Warehouse):
    data = lines(("F1", 1, "a", 10.0), ("F2", 1, "b", 7.0))
    wh.upsert("invoice_lines", data)
    wh.upsert("invoice_lines", data)
    assert wh.row_count("invoice_lines") == 2


def test_failed_merge_leaves_table_unchanged_and_no_staging(wh: Warehouse):
    wh.upsert("clients", pa.table({"client_id": ["a"], "name": ["A"]}))
    with pytest.raises(RuntimeError, match="check failed"), wh.staging("clients") as stage:
        stage.append(pa.table({"client_id": ["a", "z"], "name": ["changed", "Z"]}))
        assert stage.table().count().execute() == 2
        raise RuntimeError("check failed")
    df = wh.table("clients").execute()
    assert list(df["name"]) == ["A"]
    assert not [t for t in wh.con.list_tables() if t.startswith("_stage_")]


def test_staging_appends_batches(wh: Warehouse):
    with wh.staging("clients") as stage:
        stage.append(pa.table({"client_id": ["a"], "name": ["A"]}))
        stage.append(pa.table({"client_id": ["b"], "name": ["B"]}))
        assert stage.merge() == 2
    assert wh.row_count("clients") == 2


def test_conform_orders_casts_and_drops_extra_columns():
    out = conform(pa.table({"name": ["A"], "client_id": ["1"], "junk": [1]}), __import__("salesfolio").contract.CLIENTS)
    assert out.column_names[:2] == ["client_id", "name"]
    assert "junk" not in out.column_names
    assert out.column("since").type == pa.date32()


def test_bad_url_names_the_url():
    with pytest.raises(WarehouseError, match="cannot open the warehouse at nosuch://x"):
        Warehouse.connect("nosuch://x")
