"""Workspace creation, configuration parsing and environment overrides."""

import datetime as dt
import tomllib

import pytest

from salesfolio.config import ConfigError, Settings, load_workspace_config
from salesfolio.contract import LOAD_ORDER
from salesfolio.store.db import current_revision, head_revision
from salesfolio.workspace import Workspace


def test_init_creates_config_warehouse_and_migrated_store(tmp_path):
    ws = Workspace.init(tmp_path / "acme", name="ACME", currency="EUR", language="pl")
    assert (ws.path / "salesfolio.toml").is_file()
    assert (ws.path / "warehouse.duckdb").is_file()
    assert (ws.path / "salesfolio.sqlite").is_file()
    assert ws.config.workspace.currency == "EUR"
    assert ws.config.workspace.language == "pl"
    assert current_revision(ws.store_engine) == head_revision()
    with ws.warehouse() as wh:
        assert set(wh.loaded_tables()) == set(LOAD_ORDER)
    # the secret key is random, private, and stable for the workspace
    secret = (ws.path / ".secret_key").read_text()
    assert len(secret) >= 32
    assert (ws.path / ".secret_key").stat().st_mode & 0o077 == 0
    assert Workspace.open(ws.path).secret_key == secret
    ws.close()


def test_init_refuses_to_overwrite(tmp_path):
    Workspace.init(tmp_path / "w").close()
    with pytest.raises(ConfigError, match="exists already; refusing to overwrite a workspace"):
        Workspace.init(tmp_path / "w")


def test_rendered_config_parses_back_to_defaults(tmp_path):
    ws = Workspace.init(tmp_path / "w")
    data = tomllib.loads((ws.path / "salesfolio.toml").read_text())
    assert data["warehouse"]["url"] == "duckdb:///warehouse.duckdb"
    assert ws.config.analysis.abc.a == 0.8
    ws.close()


def test_open_non_workspace_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError, match=r"not a salesfolio workspace \(no salesfolio.toml\); create one with"):
        Workspace.open(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[workspace]\ncurrency = 'zloty'\n", "workspace.currency: String should match pattern"),
        ("[workspace]\nfiscal_year_start = 13\n", "workspace.fiscal_year_start: Input should be less than or equal"),
        ("[workspace]\nreference_date = 'yesterday'\n", 'workspace.reference_date: Value error, must be "today"'),
        ("[workspace]\ncurency = 'PLN'\n", "workspace.curency: Extra inputs are not permitted"),
        ("[workspace\n", "not valid TOML"),
    ],
)
def test_invalid_config_names_file_and_key(tmp_path, text, message):
    (tmp_path / "salesfolio.toml").write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_workspace_config(tmp_path)
    assert str(tmp_path / "salesfolio.toml") in str(info.value)


def test_environment_overrides_databases_and_reference_date(tmp_path, monkeypatch):
    ws = Workspace.init(tmp_path / "w", reference_date="2024-06-30")
    assert ws.as_of(dt.date(2030, 1, 1)) == dt.date(2024, 6, 30)
    monkeypatch.setenv("SALESFOLIO_WAREHOUSE_URL", "duckdb://")
    monkeypatch.setenv("SALESFOLIO_STORE_URL", "sqlite:///other.sqlite")
    monkeypatch.setenv("SALESFOLIO_REFERENCE_DATE", "2023-12-31")
    opened = Workspace.open(ws.path, Settings())
    assert opened.warehouse_url == "duckdb://"
    assert opened.store_url == "sqlite:///other.sqlite"
    assert opened.as_of() == dt.date(2023, 12, 31)
    ws.close()


def test_today_reference_date_uses_the_given_clock(tmp_path):
    ws = Workspace.init(tmp_path / "w")
    assert ws.as_of(dt.date(2025, 3, 4)) == dt.date(2025, 3, 4)
    ws.close()


def test_production_refuses_weak_secret(tmp_path):
    ws = Workspace.init(tmp_path / "w")
    prod = Workspace.open(ws.path, Settings(env="production", secret_key=None))
    with pytest.raises(ConfigError, match="SALESFOLIO_SECRET_KEY must be set"):
        _ = prod.secret_key
    strong = Workspace.open(ws.path, Settings(env="production", secret_key="x" * 40))
    assert strong.secret_key == "x" * 40
    ws.close()
