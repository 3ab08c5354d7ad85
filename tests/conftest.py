"""Shared fixtures: fresh, cheap instances of each real component (DuckDB, SQLite, PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Timing is not behaviour: on a shared 2-core machine the first example of a test may be slow (imports, JIT of
# NumPy paths), so Hypothesis' per-example deadline would make tests flaky. Speed is measured in bench/.
settings.register_profile("salesfolio", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("salesfolio")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PG_ADMIN_DSN = os.environ.get("SALESFOLIO_TEST_PG", "host=127.0.0.1 port=5432 user=root dbname=postgres")


def shared_data(*parts: str) -> Path:
    """A file of ../shared/data; skips the test when it is absent, except in CI where that is a failure."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"shared data missing in CI: {path}")
        pytest.skip(f"shared data not found: {path}")
    return path


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin DSN of the PostgreSQL server; skipped locally when down, a failure in CI."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is not reachable in CI")
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not reachable")
    return PG_ADMIN_DSN


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; yields its SQLAlchemy URL and drops it afterwards."""
    import psycopg

    name = f"salesfolio_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://root@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
