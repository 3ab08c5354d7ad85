"""A workspace: one folder holding ``salesfolio.toml``, the warehouse and the app store.

:class:`Workspace` is the object that owns a workspace's state for a process (CLI command, web app, test): its
configuration, and factories for the warehouse connection and the app-store engine. Everything is opened on
demand; nothing happens at import time.

>>> import tempfile, pathlib
>>> ws = Workspace.init(pathlib.Path(tempfile.mkdtemp()) / "acme", name="ACME")
>>> ws.config.workspace.currency
'PLN'
>>> with ws.warehouse() as wh:
...     wh.row_count("clients")
0
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from salesfolio.config import (
    CONFIG_FILE,
    ConfigError,
    Settings,
    WorkspaceConfig,
    load_workspace_config,
    render_workspace_toml,
)
from salesfolio.contract import LOAD_ORDER
from salesfolio.store.db import make_engine, migrate, session_factory
from salesfolio.warehouse import EngineOptions, Warehouse

SECRET_FILE = ".secret_key"  # noqa: S105 - a file name, not a secret


class Workspace:
    """An opened workspace.

    Parameters
    ----------
    path
        The workspace folder.
    config
        Its validated ``salesfolio.toml``.
    settings
        Process settings; their database URLs and reference date override the file's.
    """

    def __init__(self, path: Path, config: WorkspaceConfig, settings: Settings | None = None) -> None:
        self.path = path
        self.config = config
        self.settings = settings or Settings(workspace=path)

    # -- opening -----------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, settings: Settings | None = None) -> Workspace:
        """Open an existing workspace folder; :class:`~salesfolio.config.ConfigError` if it is not one."""
        path = path.resolve()
        return cls(path, load_workspace_config(path), settings)

    @classmethod
    def init(
        cls,
        path: Path,
        *,
        name: str = "salesfolio workspace",
        currency: str = "PLN",
        language: str = "en",
        reference_date: str = "today",
        settings: Settings | None = None,
    ) -> Workspace:
        """Create a workspace: ``salesfolio.toml``, an empty warehouse and a migrated app store.

        Refuses a folder that already holds a ``salesfolio.toml`` (nothing is overwritten).
        """
        path = path.resolve()
        if (path / CONFIG_FILE).exists():
            raise ConfigError(f"{path / CONFIG_FILE} exists already; refusing to overwrite a workspace")
        path.mkdir(parents=True, exist_ok=True)
        text = render_workspace_toml(name=name, currency=currency, language=language, reference_date=reference_date)
        (path / CONFIG_FILE).write_text(text, encoding="utf-8")
        secret = path / SECRET_FILE
        if not secret.exists():
            secret.write_text(secrets.token_urlsafe(48), encoding="utf-8")
            os.chmod(secret, 0o600)
        ws = cls.open(path, settings)
        with ws.warehouse() as wh:
            for name_ in LOAD_ORDER:
                wh.ensure(name_)
        migrate(ws.store_engine)
        return ws

    # -- parts -------------------------------------------------------------------------------------------------
    @property
    def warehouse_url(self) -> str:
        """The warehouse URL in force (environment override first)."""
        return self.settings.warehouse_url or self.config.warehouse.url

    @property
    def store_url(self) -> str:
        """The app-store URL in force (environment override first)."""
        return self.settings.store_url or self.config.store.url

    def warehouse(self, *, read_only: bool = False) -> Warehouse:
        """Open the warehouse (close it after use, or use it as a context manager).

        The embedded engine's memory limit and threads come from ``[warehouse]`` (environment overrides first).
        """
        engine = EngineOptions.configured(
            self.settings.warehouse_memory_limit or self.config.warehouse.memory_limit,
            self.settings.warehouse_threads or self.config.warehouse.threads,
        )
        return Warehouse.connect(self.warehouse_url, base_dir=self.path, read_only=read_only, engine=engine)

    @cached_property
    def store_engine(self) -> Engine:
        """The app-store engine (one per workspace object)."""
        return make_engine(self.store_url, base_dir=self.path)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """Session factory for the app store."""
        return session_factory(self.store_engine)

    def as_of(self, today: dt.date | None = None) -> dt.date:
        """The reference date of analyses (settings override, else the config; "today" means the clock)."""
        ref = self.settings.reference_date
        if ref and ref != "today":
            return dt.date.fromisoformat(ref)
        return self.config.as_of(today or dt.date.today())

    @property
    def secret_key(self) -> str:
        """The key that signs sessions and CSRF tokens: ``SALESFOLIO_SECRET_KEY`` or the workspace's own.

        In production an explicit key of at least 32 characters is required (:meth:`Settings.check_production`).
        """
        self.settings.check_production()
        if self.settings.secret_key:
            return self.settings.secret_key
        secret = self.path / SECRET_FILE
        if not secret.exists():
            secret.write_text(secrets.token_urlsafe(48), encoding="utf-8")
            os.chmod(secret, 0o600)
        return secret.read_text(encoding="utf-8").strip()

    def close(self) -> None:
        """Dispose of the app-store engine."""
        if "store_engine" in self.__dict__:
            self.store_engine.dispose()
