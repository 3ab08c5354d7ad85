"""App-store engine, sessions and migrations.

The schema is owned by Alembic (``store/migrations``): :func:`migrate` brings any database (SQLite file,
PostgreSQL) to the newest revision; nothing creates tables behind Alembic's back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str, base_dir: Path | None = None) -> str:
    """Resolve a relative SQLite path against the workspace folder and pick the psycopg 3 driver."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and base_dir is not None:
        rel = url.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            return f"sqlite:///{(base_dir / rel).resolve()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, base_dir: Path | None = None) -> Engine:
    """An engine for the app store at ``url`` (SQLite gets foreign keys and a busy timeout)."""
    url = normalise_url(url, base_dir)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    """Alembic configuration pointing at the packaged migrations and at ``engine``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the app store to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config(create_engine("sqlite://"))).get_current_head()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (the web app renders after the transaction)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in one transaction: committed when the block ends, rolled back when it raises.

    Services own transactions; repositories never commit.
    """
    with factory() as session, session.begin():
        yield session
