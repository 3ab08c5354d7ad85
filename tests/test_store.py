"""App store: migrations on SQLite and PostgreSQL, models match migrations, users and authentication."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from salesfolio.services.users import UserError, authenticate, create_user, verify_password
from salesfolio.store.db import current_revision, head_revision, make_engine, migrate, session_factory
from salesfolio.store.models import Base, User


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    else:
        url = request.getfixturevalue("pg_database")
    e = make_engine(url)
    yield e
    e.dispose()


def test_migrate_creates_schema_matching_models(engine):
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert {"users", "snapshots", "snapshot_clients", "assessments", "audit_log"} <= set(
        inspect(engine).get_table_names()
    )
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"
    migrate(engine)  # idempotent


def test_users_hashed_and_authenticated(engine):
    migrate(engine)
    factory = session_factory(engine)
    with factory.begin() as s:
        create_user(s, username="anna", password="correct horse", role="rep", rep_id="R1")
    with factory() as s:
        user = s.scalar(select(User).where(User.username == "anna"))
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert "correct horse" not in user.password_hash
        assert verify_password("correct horse", user.password_hash)
        assert authenticate(s, "anna", "correct horse") is not None
        assert authenticate(s, "anna", "wrong password") is None
        assert authenticate(s, "nobody", "correct horse") is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"username": "x", "password": "short", "role": "board"}, "password must be at least 8 characters"),
        (
            {"username": "x", "password": "long enough", "role": "king"},
            "role must be one of admin, board, manager",
        ),
        ({"username": "x", "password": "long enough", "role": "rep"}, "a rep needs --rep-id"),
        ({"username": "x", "password": "long enough", "role": "manager"}, "a manager needs --team"),
        (
            {"username": " ", "password": "long enough", "role": "board"},
            "username must be 1 to 80 characters",
        ),
    ],
)
def test_create_user_rejects_bad_input(tmp_path, kwargs, message):
    e = make_engine(f"sqlite:///{tmp_path / 's.sqlite'}")
    migrate(e)
    with pytest.raises(UserError, match=message), session_factory(e).begin() as s:
        create_user(s, **kwargs)


def test_duplicate_username_rejected_and_nothing_written(tmp_path):
    e = make_engine(f"sqlite:///{tmp_path / 's.sqlite'}")
    migrate(e)
    f = session_factory(e)
    with f.begin() as s:
        create_user(s, username="b", password="long enough", role="board")
    with pytest.raises(UserError, match="user 'b' exists already"), f.begin() as s:
        create_user(s, username="c", password="long enough", role="board")
        create_user(s, username="b", password="long enough", role="board")
    with f() as s:
        assert [u.username for u in s.scalars(select(User))] == ["b"]
