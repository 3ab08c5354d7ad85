"""Configuration: the workspace file (``salesfolio.toml``) and process settings from the environment.

Two layers, both typed:

* :class:`WorkspaceConfig` is what a workspace *is*: currency, fiscal year, reference date, where its warehouse and
  app store live, and the analysis configuration (criteria, weights, thresholds). It is read from
  ``salesfolio.toml`` and validated strictly, so a typo names its key.
* :class:`Settings` is how this *process* runs: which workspace, the secret key, the web server's address, upload
  limits, and optional overrides of the two database URLs (``SALESFOLIO_WAREHOUSE_URL``,
  ``SALESFOLIO_STORE_URL``) and of the warehouse engine's resources (``SALESFOLIO_WAREHOUSE_MEMORY_LIMIT``,
  ``SALESFOLIO_WAREHOUSE_THREADS``), all from ``SALESFOLIO_*`` environment variables or a ``.env`` file.

Nothing is read at import time: call :func:`load_workspace_config` and ``Settings()`` where they are needed.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from salesfolio.analytics.config import AnalysisConfig, render_toml_section

CONFIG_FILE = "salesfolio.toml"
LANGUAGES = ("en", "pl")


class ConfigError(ValueError):
    """``salesfolio.toml`` is missing, unreadable or invalid; the message names the file and the key."""


class WorkspaceSection(BaseModel):
    """The ``[workspace]`` table."""

    model_config = ConfigDict(extra="forbid")

    name: str = "salesfolio workspace"
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "PLN"
    fiscal_year_start: Annotated[int, Field(ge=1, le=12)] = 1
    reference_date: str = "today"
    language: Literal["en", "pl"] = "en"

    @field_validator("reference_date")
    @classmethod
    def _reference_date(cls, value: str) -> str:
        if value != "today":
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise ValueError(f'must be "today" or a date YYYY-MM-DD, not {value!r}') from None
        return value


class DatabaseSection(BaseModel):
    """``[warehouse]`` and ``[store]``: a database URL."""

    model_config = ConfigDict(extra="forbid")

    url: str


WarehouseMemoryLimit = Annotated[str, Field(pattern=r"^(?i:none|\d+(\.\d+)?\s*[KMGT]i?B)$")]
"""A DuckDB memory size (``"400MB"``, ``"2GB"``, ``"1.5GiB"``) or ``"none"`` for DuckDB's own default."""


class WarehouseSection(DatabaseSection):
    """``[warehouse]``: the database URL and the embedded engine's resources (DuckDB only; other engines ignore them).

    ``memory_limit`` unset means salesfolio's default (``salesfolio.warehouse.DEFAULT_MEMORY_LIMIT``, 400MB;
    DuckDB spills to disk beyond it, measured there); ``"none"`` lets DuckDB take its own default, 80 % of the
    machine's memory. ``threads`` unset means one per core.
    """

    memory_limit: WarehouseMemoryLimit | None = None
    threads: Annotated[int, Field(ge=1)] | None = None


class WorkspaceConfig(BaseModel):
    """The whole ``salesfolio.toml``."""

    model_config = ConfigDict(extra="forbid")

    workspace: WorkspaceSection = Field(default_factory=WorkspaceSection)
    warehouse: WarehouseSection = Field(default_factory=lambda: WarehouseSection(url="duckdb:///warehouse.duckdb"))
    store: DatabaseSection = Field(default_factory=lambda: DatabaseSection(url="sqlite:///salesfolio.sqlite"))
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)

    def as_of(self, today: dt.date) -> dt.date:
        """The analysis reference date: the configured date, or ``today`` when set to "today"."""
        ref = self.workspace.reference_date
        return today if ref == "today" else dt.date.fromisoformat(ref)


class Settings(BaseSettings):
    """Process settings from ``SALESFOLIO_*`` environment variables (or ``.env``).

    ``secret_key`` signs session cookies and CSRF tokens. When unset, the workspace's own random key
    (``.secret_key``, created by ``salesfolio init``) is used; ``env="production"`` refuses to start without an
    explicit key of at least 32 characters.
    """

    model_config = SettingsConfigDict(env_prefix="SALESFOLIO_", env_file=".env", extra="ignore")

    workspace: Path = Path("demo-workspace")
    env: Literal["development", "production", "test"] = "development"
    secret_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_mb: int = 200
    warehouse_url: str | None = None
    warehouse_memory_limit: WarehouseMemoryLimit | None = None
    warehouse_threads: Annotated[int, Field(ge=1)] | None = None
    store_url: str | None = None
    reference_date: str | None = None

    def check_production(self) -> None:
        """Refuse weak secrets outside development."""
        if self.env == "production" and (self.secret_key is None or len(self.secret_key) < 32):
            raise ConfigError(
                "SALESFOLIO_SECRET_KEY must be set to a random string of at least 32 characters in production"
            )


def _format_validation_error(path: Path, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        parts.append(f"{key}: {err['msg']}")
    return f"{path}: invalid configuration: " + "; ".join(parts)


def parse_workspace_config(data: dict[str, Any], source: Path) -> WorkspaceConfig:
    """Validate a parsed TOML document; errors name the file and the dotted key."""
    try:
        return WorkspaceConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(source, exc)) from None


def load_workspace_config(folder: Path) -> WorkspaceConfig:
    """Read and validate ``folder/salesfolio.toml``."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: not a salesfolio workspace (no {CONFIG_FILE}); create one with: salesfolio init")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_workspace_config(data, path)


def render_workspace_toml(
    *,
    name: str = "salesfolio workspace",
    currency: str = "PLN",
    language: str = "en",
    reference_date: str = "today",
    analysis: AnalysisConfig | None = None,
) -> str:
    """The text of a new ``salesfolio.toml``, every option documented inline."""
    head = f'''# salesfolio workspace configuration. Every key is optional; the values shown are the defaults.
# Environment variables override the databases and the reference date:
#   SALESFOLIO_WAREHOUSE_URL, SALESFOLIO_STORE_URL, SALESFOLIO_REFERENCE_DATE,
#   and the warehouse engine's resources: SALESFOLIO_WAREHOUSE_MEMORY_LIMIT, SALESFOLIO_WAREHOUSE_THREADS.

[workspace]
name = "{name}"
# One currency per workspace (ISO 4217 code); all money in imported files is taken to be in it.
currency = "{currency}"
# Month the fiscal year starts (1 = January); quarters and years in reviews follow it.
fiscal_year_start = 1
# The date analyses are computed for: "today", or a fixed date such as "2025-12-31" to reproduce a review.
reference_date = "{reference_date}"
# Default language of the app for new users: "en" or "pl".
language = "{language}"

[warehouse]
# Where invoice lines, accounts and the pipeline are stored (Ibis backend URL). Relative paths resolve against
# this folder. Examples: "duckdb:///warehouse.duckdb", "postgres://user@host:5432/db", "pyspark://local[*]".
url = "duckdb:///warehouse.duckdb"
# DuckDB only: memory its buffer pool may hold before it spills to disk (default "400MB"; "none": 80 % of RAM),
# and threads (default: one per core).
# memory_limit = "400MB"
# threads = 2

[store]
# The app store: users, snapshots, assessments, audit log (SQLAlchemy URL).
# Production: "postgresql+psycopg://user:password@host:5432/salesfolio".
url = "sqlite:///salesfolio.sqlite"

'''
    return head + render_toml_section(analysis or AnalysisConfig())
