"""PostgreSQL as the warehouse and as the app store: loads, client features, and a whole workspace.

Each test gets fresh databases on the server of ``tests/conftest.py`` (``pg_database`` is a SQLAlchemy URL; the
Ibis warehouse takes the same database as ``postgres://root@127.0.0.1:5432/<name>``). The app store and the
warehouse each need their own database: both have a table called ``assessments``.

Also covered: a statement failing inside ``Warehouse.transaction()`` reports the engine's own error (not
psycopg's "Explicit rollback() forbidden"), and snapshots whose ABC class is "unknown" are stored.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import ibis
import pandas as pd
import psycopg
import pyarrow as pa
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from salesfolio import demo
from salesfolio.analytics.features import features_from_warehouse
from salesfolio.cli import app
from salesfolio.config import Settings
from salesfolio.contract import LOAD_ORDER, TABLES
from salesfolio.services.analysis import run_analysis
from salesfolio.store.db import head_revision
from salesfolio.warehouse import Warehouse
from salesfolio.workspace import Workspace

pytestmark = pytest.mark.postgres

AS_OF = dt.date(2025, 12, 31)


def ibis_url(sqlalchemy_url: str) -> str:
    """``postgresql+psycopg://root@host:5432/db`` -> ``postgres://root@host:5432/db`` (the Ibis spelling)."""
    return "postgres://" + sqlalchemy_url.split("://", 1)[1]


@pytest.fixture
def second_database(pg_server: str) -> Iterator[str]:
    """Another fresh database (SQLAlchemy URL), for a workspace whose warehouse and app store are apart."""
    name = f"salesfolio_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://root@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_wh(pg_database: str) -> Iterator[Warehouse]:
    with Warehouse.connect(ibis_url(pg_database)) as wh:
        yield wh


def clients(*rows: tuple[str, str | None]) -> pa.Table:
    return pa.table({"client_id": [r[0] for r in rows], "name": [r[1] for r in rows]})


def lines(*rows: tuple[str, int, str, float]) -> pa.Table:
    """Invoice lines (invoice_id, line_no, client_id, revenue), all on 5 January 2025."""
    return pa.table({"invoice_id": [r[0] for r in rows], "line_no": [r[1] for r in rows],
                     "client_id": [r[2] for r in rows], "date": [dt.date(2025, 1, 5)] * len(rows),
                     "revenue": [r[3] for r in rows]})  # fmt: skip


def names(wh: Warehouse) -> dict[str, str]:
    df = wh.table("clients").order_by("client_id").execute()
    return dict(zip(df.client_id, df["name"], strict=True))


def test_connect_creates_tables_with_the_contract_types(pg_wh: Warehouse):
    assert pg_wh.backend == "postgres"
    assert pg_wh.loaded_tables() == []
    for name in LOAD_ORDER:
        pg_wh.ensure(name)
    assert pg_wh.loaded_tables() == list(TABLES)
    for name, spec in TABLES.items():
        assert pg_wh.con.table(name).schema() == ibis.Schema.from_pyarrow(spec.arrow_schema), name
        assert pg_wh.row_count(name) == 0


def test_upserts_of_several_tables(pg_wh: Warehouse):
    assert pg_wh.upsert("reps", pa.table({"rep_id": ["r1", "r2"], "team": ["north", "south"]})) == 2
    assert pg_wh.upsert("clients", pa.table({"client_id": ["a", "b"], "name": ["A", "B"], "owner_id": ["r1", "r2"],
                                             "since": [dt.date(2020, 2, 29), None]})) == 2  # fmt: skip
    assert pg_wh.upsert("clients", clients(("b", "B2"), ("c", "C"))) == 2
    assert pg_wh.upsert("reps", pa.table({"rep_id": ["r2"], "team": ["export"]})) == 1
    assert pg_wh.upsert("invoice_lines", lines(("F1", 1, "a", 10.0), ("F1", 2, "a", 5.0), ("F2", 1, "b", 7.0))) == 3
    # A corrected re-export of F1 with one line: the old second line must not survive.
    assert pg_wh.upsert("invoice_lines", lines(("F1", 1, "a", 12.0))) == 1
    assessments = pa.table({"client_id": ["a", "a"], "period": [dt.date(2024, 1, 1), dt.date(2025, 1, 1)],
                            "potential": [100.0, 200.0]})  # fmt: skip
    pg_wh.upsert("assessments", assessments)
    pg_wh.upsert("assessments", assessments.slice(1, 1).set_column(2, "potential", pa.array([250.0])))

    assert names(pg_wh) == {"a": "A", "b": "B2", "c": "C"}
    df = pg_wh.table("clients").order_by("client_id").execute()
    assert list(df.owner_id.isna()) == [False, True, True]  # b was replaced whole: its owner went with it
    assert pd.Timestamp(df.since.iloc[0]) == pd.Timestamp(2020, 2, 29)
    reps = pg_wh.table("reps").order_by("rep_id").execute()
    assert reps[["rep_id", "team"]].values.tolist() == [["r1", "north"], ["r2", "export"]]
    t = pg_wh.table("invoice_lines")
    per_invoice = t.group_by("invoice_id").aggregate(revenue=t.revenue.sum(), n=t.count()).order_by("invoice_id")
    assert per_invoice.execute().values.tolist() == [["F1", 12.0, 1], ["F2", 7.0, 1]]
    a = pg_wh.table("assessments").order_by("period").execute()
    assert a.potential.tolist() == [100.0, 250.0]
    assert [t for t in pg_wh.con.list_tables() if t.startswith("_stage_")] == []


def test_a_failed_check_leaves_the_table_unchanged(pg_wh: Warehouse):
    pg_wh.upsert("clients", clients(("a", "A"), ("b", "B")))
    with pytest.raises(ValueError, match=r"^duplicate client_id$"), pg_wh.staging("clients") as stage:
        stage.append(clients(("b", "B2"), ("b", "B3")))
        t = stage.table()
        if t.group_by("client_id").aggregate(n=t.count()).n.max().execute() > 1:
            raise ValueError("duplicate client_id")
        stage.merge()
    assert names(pg_wh) == {"a": "A", "b": "B"}
    assert [t for t in pg_wh.con.list_tables() if t.startswith("_stage_")] == []


def test_a_merge_failing_halfway_is_rolled_back(pg_wh: Warehouse):
    pg_wh.upsert("clients", clients(("a", "A"), ("b", "B")))
    # The merge deletes b, then its INSERT breaks the constraint: the DELETE must be undone with it.
    pg_wh.raw_sql('ALTER TABLE "clients" ADD CONSTRAINT clients_name_present CHECK (name IS NOT NULL)')
    with pytest.raises(psycopg.Error):
        pg_wh.upsert("clients", clients(("b", None), ("c", "C")))
    assert names(pg_wh) == {"a": "A", "b": "B"}
    assert [t for t in pg_wh.con.list_tables() if t.startswith("_stage_")] == []


def test_a_merge_failing_halfway_reports_the_engine_error(pg_wh: Warehouse):
    pg_wh.upsert("clients", clients(("a", "A")))
    pg_wh.raw_sql('ALTER TABLE "clients" ADD CONSTRAINT clients_name_present CHECK (name IS NOT NULL)')
    message = 'new row for relation "clients" violates check constraint "clients_name_present"'
    with pytest.raises(psycopg.errors.CheckViolation, match=message):
        pg_wh.upsert("clients", clients(("a", None)))
    assert names(pg_wh) == {"a": "A"}


@pytest.fixture(scope="module")
def demo_tables() -> dict[str, pa.Table]:
    return demo.generate(clients=200, years=3, seed=1, as_of=AS_OF)


def test_client_features_on_postgres_equal_duckdb(pg_wh: Warehouse, demo_tables: dict[str, pa.Table]):
    assert demo.load(pg_wh, demo_tables) == {name: t.num_rows for name, t in demo_tables.items()}
    with Warehouse.connect("duckdb://") as duck:
        demo.load(duck, demo_tables)
        expected = features_from_warehouse(duck, AS_OF)
    result = features_from_warehouse(pg_wh, AS_OF)
    pd.testing.assert_frame_equal(result.frame, expected.frame, check_exact=False, rtol=1e-9, atol=1e-9)
    assert result.warnings == expected.warnings
    assert len(result.frame) == 200
    # Independent of both engines: TTM revenue summed straight from the generated lines.
    lines = demo_tables["invoice_lines"].to_pandas()
    day = pd.to_datetime(lines["date"])
    ttm = lines[(day > pd.Timestamp(2024, 12, 31)) & (day <= pd.Timestamp(AS_OF))]
    assert result.frame.revenue_ttm.sum() == pytest.approx(ttm.revenue.sum(), rel=1e-12)


def test_a_workspace_on_postgres_stores_its_analysis_there(
    tmp_path: Path, pg_database: str, second_database: str, demo_tables: dict[str, pa.Table]
):
    folder = tmp_path / "acme"
    warehouse_url, store_url = ibis_url(second_database), pg_database
    env = {"SALESFOLIO_WAREHOUSE_URL": warehouse_url, "SALESFOLIO_STORE_URL": store_url}
    settings = Settings(workspace=folder, warehouse_url=warehouse_url, store_url=store_url)
    ws = Workspace.init(folder, name="ACME", reference_date=AS_OF.isoformat(), settings=settings)
    try:
        # The documented upgrade step, through the CLI as a sysadmin runs it (idempotent after init).
        upgraded = CliRunner().invoke(app, ["upgrade-db", "-w", str(folder)], env=env)
        assert upgraded.exit_code == 0, upgraded.output
        assert f"App store at revision {head_revision()}" in upgraded.output
        with ws.warehouse() as wh:
            assert wh.backend == "postgres"
            demo.load(wh, demo_tables)
        run = run_analysis(ws, as_of=AS_OF, username="admin")
    finally:
        ws.close()

    # Neither embedded database was created: both live in PostgreSQL.
    assert sorted(p.name for p in folder.iterdir()) == [".secret_key", "salesfolio.toml"]
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            snapshot = conn.execute(text("SELECT id, as_of, n_clients FROM snapshots")).one()
            rows = conn.execute(
                text("SELECT count(*), count(DISTINCT client_id), sum(revenue_ttm) FROM snapshot_clients "
                     "WHERE snapshot_id = :id"), {"id": snapshot.id},
            ).one()  # fmt: skip
            audit = conn.execute(text("SELECT action, username FROM audit_log")).all()
    finally:
        engine.dispose()
    assert (snapshot.id, snapshot.as_of, snapshot.n_clients) == (run.snapshot_id, AS_OF, 200)
    assert rows[0] == rows[1] == 200
    assert rows[2] == pytest.approx(run.clients.revenue_ttm.sum(), rel=1e-9)
    assert ("analysis.run", "admin") in [tuple(a) for a in audit]
