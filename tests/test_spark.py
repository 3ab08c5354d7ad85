"""The warehouse on Spark (``pyspark://local[2]``): the same client features as DuckDB, and the load semantics.

One Spark session serves the whole module (start-up costs seconds). The sample is generated here with NumPy: 310
clients (300 in the clients table, 10 only on invoice lines, a tenth without owner_id), 20,000 invoice lines over
2021-07 .. 2025-01 (lines after ``AS_OF`` must be ignored), 2 % returns, cost missing on 15 % of lines, products
without category and lines without product, assessments, opportunities, cost to serve and activities.

The load semantics cover what Spark needs differently: tables in the workspace folder with a persistent catalog
(not the current directory), Arrow loaded directly so nulls stay null, and a merge by rewrite (Spark has no
DELETE on plain tables).

The last test stops the module's session (a JVM has one SparkContext and the workspace catalog is a static
setting), so it stays last in the file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from salesfolio.analytics.features import FeatureWindows, client_features
from salesfolio.contract import TABLES
from salesfolio.warehouse import Warehouse, conform

try:
    import pyspark  # noqa: F401  (availability check)
except ImportError:
    if os.environ.get("CI"):
        raise  # CI installs the spark extra: a missing pyspark is a failure there, not a skip
    pytest.skip("pyspark is not installed (pip install 'salesfolio[spark]')", allow_module_level=True)

pytestmark = pytest.mark.spark

URL = "pyspark://local[2]"
AS_OF = dt.date(2024, 12, 31)


# -- the sample -------------------------------------------------------------------------------------------------
def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pa.array([f"{prefix}{n:04d}" for n in numbers.tolist()], pa.string())


def _dates(days: np.ndarray, first: dt.date) -> pa.Array:
    return pa.array((np.datetime64(first, "D") + days).astype("datetime64[D]"), pa.date32())


def _masked(values: pa.Array, missing: np.ndarray) -> pa.Array:
    return pa.array(values.to_pylist(), values.type, mask=missing)


def sample_tables(seed: int = 7, n_clients: int = 300, n_invoices: int = 5_000) -> dict[str, pa.Table]:
    """Every canonical table of a small synthetic company, conformed to the data contract (4 lines per invoice)."""
    rng = np.random.default_rng(seed)
    first = dt.date(2021, 7, 1)
    days = (dt.date(2025, 1, 31) - first).days + 1
    n_all = n_clients + 10  # the last 10 appear only on invoice lines
    n_reps, n_products = 20, 200

    size = rng.lognormal(0.0, 1.0, n_all)
    client_of_invoice = rng.choice(n_all, size=n_invoices, p=size / size.sum())
    day_of_invoice = rng.integers(0, days, n_invoices)
    owner = rng.integers(0, n_reps, n_all)
    other_rep = rng.integers(0, n_reps, n_invoices)
    rep_of_invoice = np.where(rng.random(n_invoices) < 0.8, owner[client_of_invoice], other_rep)
    invoice_of_line = np.repeat(np.arange(n_invoices), 4)
    n_lines = len(invoice_of_line)
    product = rng.integers(0, n_products, n_lines)
    quantity = rng.integers(1, 10, n_lines).astype(np.float64)
    quantity[rng.random(n_lines) < 0.02] *= -1
    revenue = np.round(quantity * np.round(rng.lognormal(3.0, 0.7, n_products), 2)[product], 2)
    cost = np.round(revenue * rng.uniform(0.5, 0.9, n_lines), 2)
    client_ids, rep_ids = _ids("C", np.arange(n_all)), _ids("R", np.arange(n_reps))
    product_ids = _ids("P", np.arange(n_products))
    lines = pa.table(
        {
            "invoice_id": _ids("F", invoice_of_line),
            "line_no": pa.array(np.tile(np.arange(1, 5), n_invoices), pa.int64()),
            "client_id": client_ids.take(pa.array(client_of_invoice[invoice_of_line])),
            "date": _dates(day_of_invoice[invoice_of_line], first),
            "product_id": _masked(product_ids.take(pa.array(product)), rng.random(n_lines) < 0.03),
            "quantity": quantity,
            "revenue": revenue,
            "cost": pa.array(cost, mask=rng.random(n_lines) < 0.15),
            "rep_id": rep_ids.take(pa.array(rep_of_invoice[invoice_of_line])),
        }
    )
    clients = pa.table(
        {
            "client_id": client_ids[:n_clients],
            "name": _ids("Client ", np.arange(n_clients)),
            "industry": pa.array(rng.choice(["metal", "food", "retail"], n_clients)),
            "region": pa.array(rng.choice(["north", "south"], n_clients)),
            "owner_id": _masked(rep_ids.take(pa.array(owner[:n_clients])), rng.random(n_clients) < 0.1),
            "since": _dates(rng.integers(-2000, 0, n_clients), first),
        }
    )
    categories = pa.array([f"cat{i % 8}" for i in range(n_products)], mask=rng.random(n_products) < 0.05)
    products = pa.table({"product_id": product_ids, "category": categories})
    assessed = np.repeat(rng.choice(n_clients, n_clients * 6 // 10, replace=False), 3)
    periods = [dt.date(2023, 1, 1), dt.date(2024, 1, 1), dt.date(2025, 1, 1)] * (len(assessed) // 3)
    assessments = pa.table(
        {
            "client_id": client_ids.take(pa.array(assessed)),
            "period": pa.array(periods, pa.date32()),
            "potential": np.round(rng.lognormal(9.0, 1.0, len(assessed)), 0),
            "relationship": rng.integers(1, 6, len(assessed)),
            "strategic_fit": rng.integers(1, 6, len(assessed)),
        }
    )
    n_opps = 400
    created = rng.integers(0, days, n_opps)
    closes = rng.random(n_opps) < 0.6
    opportunities = pa.table(
        {
            "opportunity_id": _ids("O", np.arange(n_opps)),
            "client_id": client_ids.take(pa.array(rng.integers(0, n_all, n_opps))),
            "stage": pa.array(np.where(closes, "closed", "open")),
            "value": np.round(rng.lognormal(8.0, 1.0, n_opps), 0),
            "probability": np.round(rng.uniform(0.05, 0.95, n_opps), 2),
            "created": _dates(created, first),
            "closed": _masked(_dates(created + rng.integers(5, 200, n_opps), first), ~closes),
            "won": pa.array(rng.random(n_opps) < 0.4, mask=~closes),
        }
    )
    served = np.repeat(rng.choice(n_clients, n_clients * 3 // 10, replace=False), 12)
    cost_to_serve = pa.table(
        {
            "client_id": client_ids.take(pa.array(served)),
            "period": pa.array([dt.date(2024, m, 1) for m in range(1, 13)] * (len(served) // 12), pa.date32()),
            "kind": pa.array(["logistics"] * len(served)),
            "amount": np.round(rng.uniform(10, 500, len(served)), 2),
        }
    )
    activities = pa.table(
        {
            "client_id": client_ids.take(pa.array(rng.integers(0, n_all, 600))),
            "rep_id": rep_ids.take(pa.array(rng.integers(0, n_reps, 600))),
            "date": _dates(rng.integers(0, days, 600), first),
            "kind": pa.array(["visit"] * 600),
            "hours": np.round(rng.uniform(0.5, 8, 600), 1),
        }
    )
    teams = pa.array(["north", "south"] * (n_reps // 2))
    reps = pa.table({"rep_id": rep_ids, "name": _ids("Rep ", np.arange(n_reps)), "team": teams})
    tables = {
        "reps": reps, "clients": clients, "products": products, "invoice_lines": lines, "cost_to_serve": cost_to_serve,
        "opportunities": opportunities, "assessments": assessments, "activities": activities,
    }  # fmt: skip
    return {name: conform(table, TABLES[name]) for name, table in tables.items()}


# -- fixtures ---------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def inside(folder: Path) -> Iterator[Path]:
    """Run the block with ``folder`` as the working directory.

    Until W1 Spark resolves its table folder against the working directory when a session starts; starting it
    from a scratch folder keeps the test run from writing ``spark-warehouse/`` into the repository.
    """
    folder.mkdir(parents=True, exist_ok=True)
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working directory the module's Spark session is started from (must stay empty)."""
    return tmp_path_factory.mktemp("spark_cwd")


@pytest.fixture(scope="module")
def spark_wh(scratch: Path) -> Iterator[Warehouse]:
    with inside(scratch):
        wh = Warehouse.connect(URL)
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def sample() -> dict[str, pa.Table]:
    return sample_tables()


# -- the features ----------------------------------------------------------------------------------------------
def test_client_features_on_spark_equal_duckdb(spark_wh: Warehouse, sample: dict[str, pa.Table], tmp_path: Path):
    assert spark_wh.backend == "pyspark"
    duck = ibis.duckdb.connect()
    expected = client_features({n: duck.create_table(n, t) for n, t in sample.items()}, AS_OF)
    # Spark reads the tables from Parquet, as a Spark warehouse holds them; as views named apart from the
    # canonical tables, which the warehouse tests below create (a temporary view would shadow them).
    for name, table in sample.items():
        pq.write_table(table, tmp_path / f"{name}.parquet")
    spark_tables = {n: spark_wh.con.read_parquet(tmp_path / f"{n}.parquet", table_name=f"sample_{n}") for n in sample}
    result = client_features(spark_tables, AS_OF)

    frame = result.frame
    pd.testing.assert_frame_equal(frame, expected.frame, check_exact=False, rtol=1e-9, atol=1e-9)
    assert result.warnings == expected.warnings
    # Independent of both engines: the sums over the generated arrays.
    lines = sample["invoice_lines"].to_pandas()
    lines["date"] = pd.to_datetime(lines["date"])
    w = FeatureWindows.at(AS_OF)
    ttm = lines[(lines.date > pd.Timestamp(w.ttm_start)) & (lines.date <= pd.Timestamp(AS_OF))]
    assert frame.revenue_ttm.sum() == pytest.approx(ttm.revenue.sum(), rel=1e-12)
    seen = lines[lines.date <= pd.Timestamp(AS_OF)].client_id
    only_on_lines = seen[seen >= "C0300"].nunique()  # C0300 .. C0309 are not in the clients table
    assert only_on_lines > 0 and len(frame) == 300 + only_on_lines
    assert int((~frame.in_clients).sum()) == only_on_lines
    assert (frame.owner_source == "invoice_lines").sum() > 0  # owners derived on Spark too
    coverage = frame.cost_coverage.dropna()
    assert coverage.between(0, 1).all() and (coverage < 1).any()


# -- the warehouse ---------------------------------------------------------------------------------------------
def test_spark_keeps_its_tables_out_of_the_working_directory(spark_wh: Warehouse, scratch: Path):
    spark_wh.replace("products", pa.table({"product_id": ["p1"], "category": ["tools"]}))
    assert spark_wh.row_count("products") == 1
    assert sorted(p.name for p in scratch.iterdir()) == []


def test_failed_staged_load_leaves_the_table_unchanged(spark_wh: Warehouse):
    spark_wh.replace("reps", pa.table({"rep_id": ["r1", "r2"], "name": ["Anna", "Piotr"]}))
    with pytest.raises(RuntimeError, match=r"^check failed$"), spark_wh.staging("reps") as stage:
        stage.append(pa.table({"rep_id": ["r2", "r3"], "name": ["Piotr N.", "Ewa"]}))
        assert stage.table().count().execute() == 2
        raise RuntimeError("check failed")
    df = spark_wh.table("reps").order_by("rep_id").execute()
    assert list(df.rep_id) == ["r1", "r2"] and list(df.name) == ["Anna", "Piotr"]
    assert [t for t in spark_wh.con.list_tables() if t.startswith("_stage_")] == []


def test_loaded_nulls_stay_null(spark_wh: Warehouse):
    spark_wh.replace(
        "activities",
        pa.table({"client_id": ["a", "b"], "rep_id": ["r1", None], "date": [dt.date(2024, 2, 29), None],
                  "hours": [1.5, None]}),
    )  # fmt: skip
    t = spark_wh.table("activities")
    counts = t.aggregate(rep=t.rep_id.count(), day=t.date.count(), hours=t.hours.count(), kind=t.kind.count())
    assert counts.execute().iloc[0].tolist() == [1, 1, 1, 0]
    back = spark_wh.to_arrow("activities").sort_by("client_id")
    assert back.column("rep_id").to_pylist() == ["r1", None]
    assert back.column("date").to_pylist() == [dt.date(2024, 2, 29), None]
    assert back.column("hours").to_pylist() == [1.5, None]


def test_upsert_inserts_then_replaces_by_key(spark_wh: Warehouse):
    spark_wh.replace("clients", pa.table({"client_id": ["a", "b"], "name": ["A", "B"]}))
    assert spark_wh.upsert("clients", pa.table({"client_id": ["b", "c"], "name": ["B2", "C"]})) == 2
    df = spark_wh.table("clients").order_by("client_id").execute()
    assert list(df.client_id) == ["a", "b", "c"] and list(df.name) == ["A", "B2", "C"]
    leftovers = [t for t in spark_wh.con.list_tables() if t.startswith(("_stage_", "_merge_"))]
    assert leftovers == []


def test_an_invoice_is_replaced_whole(spark_wh: Warehouse):
    def lines(*rows: tuple[str, int, float]) -> pa.Table:
        return pa.table({"invoice_id": [r[0] for r in rows], "line_no": [r[1] for r in rows],
                         "client_id": ["a"] * len(rows), "date": [dt.date(2024, 1, 5)] * len(rows),
                         "revenue": [r[2] for r in rows]})  # fmt: skip

    spark_wh.replace("invoice_lines", lines(("F1", 1, 10.0), ("F1", 2, 5.0), ("F2", 1, 7.0)))
    # A corrected re-export of F1 with one line: the old second line must not survive.
    spark_wh.upsert("invoice_lines", lines(("F1", 1, 12.0)))
    t = spark_wh.table("invoice_lines")
    df = t.group_by("invoice_id").aggregate(revenue=t.revenue.sum(), n=t.count()).order_by("invoice_id").execute()
    assert df.values.tolist() == [["F1", 12.0, 1], ["F2", 7.0, 1]]


# Without W1 the new session has forgotten the table (AssertionError), or, after the other tests, finds the folder
# of a table it has forgotten (SparkRuntimeException LOCATION_ALREADY_EXISTS): the same gap either way.
def test_workspace_tables_survive_a_new_session(spark_wh: Warehouse, tmp_path: Path):
    # One SparkContext per JVM, and the catalog is fixed when it starts: stop the module's session first.
    spark_wh.close()
    workspace = tmp_path / "ws"
    with inside(tmp_path / "cwd") as cwd:
        with Warehouse.connect(URL, base_dir=workspace) as wh:
            wh.replace("reps", pa.table({"rep_id": ["r1", "r2"], "team": ["north", None]}))
        with Warehouse.connect(URL, base_dir=workspace) as wh:
            assert wh.loaded_tables() == ["reps"]
            assert wh.to_arrow("reps").sort_by("rep_id").column("team").to_pylist() == ["north", None]
    assert sorted(p.name for p in workspace.iterdir()) == ["spark-metastore", "spark-warehouse"]
    assert sorted(p.name for p in cwd.iterdir()) == []
