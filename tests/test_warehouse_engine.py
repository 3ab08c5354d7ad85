"""The embedded engine's resources: DuckDB's memory limit and threads, from salesfolio.toml or the environment.

The limit is a buffer-pool limit: beyond it DuckDB spills hash tables to a temporary folder. The feature frame must
not change when it does, so one test computes the features of 300,000 invoice lines with DuckDB's out-of-core
operators (``debug_force_external``, what a tight limit makes it use) and compares them with the in-memory frame.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from salesfolio.analytics.features import client_features
from salesfolio.config import Settings, WorkspaceConfig, parse_workspace_config
from salesfolio.warehouse import DEFAULT_MEMORY_LIMIT, EngineOptions, Warehouse


def _setting(wh: Warehouse, name: str) -> object:
    return wh.con.raw_sql(f"SELECT current_setting('{name}')").fetchone()[0]


def test_default_limit_on_file_and_in_memory_warehouses(tmp_path: Path):
    unlimited = Warehouse.connect("duckdb://", engine=EngineOptions(memory_limit=None))
    with Warehouse.connect("duckdb:///wh.duckdb", base_dir=tmp_path) as wh, unlimited:
        assert DEFAULT_MEMORY_LIMIT == "400MB"
        assert _setting(wh, "memory_limit") == "381.4 MiB"  # 400 * 1000^2 bytes, shown in MiB
        assert _setting(unlimited, "memory_limit") != "381.4 MiB"  # DuckDB's own: 80 % of the machine's memory
        assert _setting(wh, "allocator_background_threads") is True
        assert _setting(wh, "temp_directory") == str(tmp_path / "wh.duckdb.tmp")  # spills beside the file
    with Warehouse.connect("duckdb://") as wh:
        spill = Path(str(_setting(wh, "temp_directory")))
        assert spill.name.startswith("salesfolio-duckdb-") and spill.parent != Path.cwd()
    with Warehouse.connect("duckdb:///wh.duckdb", base_dir=tmp_path, read_only=True) as wh:
        assert _setting(wh, "memory_limit") == "381.4 MiB"


def test_configured_limit_and_threads(tmp_path: Path):
    engine = EngineOptions.configured("1GB", 1)
    with Warehouse.connect("duckdb:///wh.duckdb", base_dir=tmp_path, engine=engine) as wh:
        assert _setting(wh, "memory_limit") == "953.6 MiB"
        assert _setting(wh, "threads") == 1
    assert EngineOptions.configured("NONE") == EngineOptions(memory_limit=None)
    # other engines ignore the options
    with Warehouse.connect("sqlite:///wh.db", base_dir=tmp_path, engine=engine) as wh:
        assert wh.backend == "sqlite"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"memory_limit": "50%"}, "memory_limit must be a size such as '400MB' or '2GB', not '50%'"),
        ({"memory_limit": "400"}, "memory_limit must be a size such as '400MB' or '2GB', not '400'"),
        ({"threads": 0}, "threads must be at least 1, not 0"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, object], message: str):
    with pytest.raises(ValueError, match=message):
        EngineOptions(**kwargs)  # type: ignore[arg-type]


def test_workspace_file_and_environment_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = WorkspaceConfig.model_validate({"warehouse": {"url": "duckdb:///w.duckdb", "memory_limit": "1.5GiB"}})
    assert (config.warehouse.memory_limit, config.warehouse.threads) == ("1.5GiB", None)
    assert WorkspaceConfig().warehouse.memory_limit is None  # unset: salesfolio's default
    with pytest.raises(ValueError, match=r"warehouse\.memory_limit: String should match pattern"):
        parse_workspace_config({"warehouse": {"url": "duckdb://", "memory_limit": "half"}}, tmp_path / "x.toml")
    with pytest.raises(ValueError, match=r"warehouse\.threads: Input should be greater than or equal to 1"):
        parse_workspace_config({"warehouse": {"url": "duckdb://", "threads": 0}}, tmp_path / "x.toml")
    monkeypatch.setenv("SALESFOLIO_WAREHOUSE_MEMORY_LIMIT", "none")
    monkeypatch.setenv("SALESFOLIO_WAREHOUSE_THREADS", "1")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.warehouse_memory_limit, settings.warehouse_threads) == ("none", 1)
    assert EngineOptions.configured(settings.warehouse_memory_limit, settings.warehouse_threads) == EngineOptions(
        memory_limit=None, threads=1
    )


def _many_lines(n_lines: int = 300_000, n_clients: int = 3_000, seed: int = 3) -> dict[str, pa.Table]:
    rng = np.random.default_rng(seed)
    invoice = np.sort(rng.integers(0, n_lines // 4, n_lines))
    client = rng.integers(0, n_clients, n_lines // 4 + 1)[invoice]
    day = rng.integers(0, 900, n_lines // 4 + 1)[invoice]
    revenue = np.round(rng.normal(200, 150, n_lines), 2)
    lines = pa.table(
        {
            "invoice_id": pa.array([f"i{i}" for i in invoice.tolist()]),
            "line_no": pa.array(np.arange(n_lines)),
            "client_id": pa.array([f"c{c:05d}" for c in client.tolist()]),
            "date": pa.array(np.datetime64(dt.date(2022, 7, 1), "D") + day, pa.date32()),
            "product_id": pa.array([f"p{p}" for p in rng.integers(0, 40, n_lines).tolist()]),
            "revenue": revenue,
            "cost": pa.array(np.round(revenue * 0.7, 2), mask=rng.random(n_lines) < 0.1),
            "rep_id": pa.array([f"r{r}" for r in rng.integers(0, 30, n_lines).tolist()]),
        }
    )
    products = pa.table({"product_id": [f"p{p}" for p in range(40)], "category": [f"k{p % 7}" for p in range(40)]})
    return {"invoice_lines": lines, "products": products}


def test_features_are_the_same_with_out_of_core_operators(tmp_path: Path):
    """DuckDB's out-of-core operators (forced, as a tight limit makes it choose them) give the in-memory frame."""
    data = _many_lines()
    frames = []
    for external in (False, True):
        engine = EngineOptions(memory_limit="64MB" if external else None)
        with Warehouse.connect("duckdb:///wh.duckdb", base_dir=tmp_path / str(external), engine=engine) as wh:
            for name, table in data.items():
                wh.replace(name, table)
            wh.con.con.execute(f"SET debug_force_external = {external}")
            frames.append(client_features({name: wh.table(name) for name in data}, dt.date(2024, 12, 31)).frame)
    assert len(frames[0]) == 3_000
    pd.testing.assert_frame_equal(frames[1], frames[0], check_exact=False, rtol=1e-12, atol=1e-9)


def test_workspace_warehouse_takes_the_toml_keys_and_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from salesfolio.workspace import Workspace

    ws = Workspace.init(tmp_path / "w")
    ws.close()
    toml = tmp_path / "w" / "salesfolio.toml"
    text = toml.read_text(encoding="utf-8")
    assert "memory_limit" in text  # the generated file documents the keys
    toml.write_text(text.replace("[warehouse]\n", '[warehouse]\nmemory_limit = "1GB"\nthreads = 1\n', 1))
    ws = Workspace.open(tmp_path / "w")
    with ws.warehouse() as wh:
        assert (_setting(wh, "memory_limit"), _setting(wh, "threads")) == ("953.6 MiB", 1)
    ws.close()
    monkeypatch.setenv("SALESFOLIO_WAREHOUSE_MEMORY_LIMIT", "2GB")
    ws = Workspace.open(tmp_path / "w")
    with ws.warehouse() as wh:
        assert _setting(wh, "memory_limit") == "1.8 GiB"
    ws.close()
