"""Alembic environment: the engine comes from ``config.attributes["engine"]`` (see salesfolio.store.db)."""

from alembic import context
from sqlalchemy import create_engine

from salesfolio.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # the alembic command line: -x url=...
        url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///salesfolio.sqlite")
        engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
